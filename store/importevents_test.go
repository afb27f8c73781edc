package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestOfflineImportRecordsStatusChanges: `gtc import` with no server writes straight into the store; a
// change of status or assignee it brings is in the audit log as a running server records it
// (status_changed by issues.jsonl, reopened for a closed issue opened again), and an unchanged or
// new record adds nothing.
func TestOfflineImportRecordsStatusChanges(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := func(status, assignee string, at time.Time) beads.ImportedRecord {
		return beads.ImportedRecord{Issue: beads.Issue{ID: "x-1", Title: "one", Status: status, Assignee: assignee,
			Priority: 2, IssueType: "task", CreatedAt: t0, UpdatedAt: at}}
	}
	for _, tc := range []struct {
		name, status, assignee string
		kind, detail           string // "" kind: no event
	}{
		{name: "closed by hand", status: "closed", kind: "status_changed", detail: `status in_progress → closed, assignee "w1" → ""`},
		{name: "given to another", status: "in_progress", assignee: "w2", kind: "status_changed", detail: `assignee "w1" → "w2"`},
		{name: "title edit only", status: "in_progress", assignee: "w1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, Options{})
			ctx := t.Context()
			if err := db.ImportIssues(ctx, []beads.ImportedRecord{rec("in_progress", "w1", t0)}); err != nil {
				t.Fatal(err)
			}
			if err := db.ImportIssues(ctx, []beads.ImportedRecord{rec(tc.status, tc.assignee, t0.Add(time.Minute))}); err != nil {
				t.Fatal(err)
			}
			evs, err := db.Events(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if len(evs) != 0 {
					t.Fatalf("events for an import that changed neither status nor assignee: %+v", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Kind != tc.kind || evs[0].Actor != "issues.jsonl" || evs[0].IssueID != "x-1" ||
				!strings.HasPrefix(evs[0].Detail, tc.detail) {
				t.Fatalf("events %+v, want one %s by issues.jsonl: %s", evs, tc.kind, tc.detail)
			}
		})
	}
	t.Run("reopened", func(t *testing.T) {
		db := openTest(t, Options{})
		ctx := t.Context()
		_ = db.ImportIssues(ctx, []beads.ImportedRecord{rec("closed", "", t0)})
		if err := db.ImportIssues(ctx, []beads.ImportedRecord{rec("open", "", t0.Add(time.Minute))}); err != nil {
			t.Fatal(err)
		}
		evs, _ := db.Events(ctx, 0, 100)
		if len(evs) != 1 || evs[0].Kind != "reopened" {
			t.Fatalf("events %+v, want reopened", evs)
		}
	})
}
