package beads

import (
	"bytes"
	"context"
	"os"
	"slices"
	"testing"
	"time"
)

// TestImportOverDirtyRecordKeepsGtcFields: a bd edit made on a line that does not show gtc's latest
// change yet (the export runs once a tick) takes over only the fields it changed; gtc's unexported
// state stays. Taking the newer line whole undid a completion (status back to in_progress with no
// lease) or cancelled a running lease on a priority edit.
func TestImportOverDirtyRecordKeepsGtcFields(t *testing.T) {
	ctx := context.Background()
	const base = `{"id":"gt-1","title":"Fix it","status":"in_progress","priority":2,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z","labels":["backend"],"x_custom":7}`
	closedAt := time.Date(2026, 11, 20, 10, 0, 5, 0, time.UTC)
	gtcClose := func(is *Issue) { // what a completion does, not exported yet
		is.Status, is.Assignee, is.ClosedAt, is.CloseReason = "closed", "", &closedAt, "completed"
		is.UpdatedAt = closedAt
		is.Labels = append(is.Labels, "gtc:done")
	}
	for _, tc := range []struct {
		name        string
		gtc         func(*Issue)
		bdLine      string // the line bd writes (updated_at newer than gtc's change)
		wantStatus  string
		wantPrio    int
		wantLabels  []string
		wantTitle   string
		wantDirty   bool
		wantInFile  []string // after the next export
		wantNotFile []string
		keptRaw     bool // an older line: not taken, the stored line stays gtc's
	}{
		{
			name:       "label edit on a stale line keeps the completion",
			gtc:        gtcClose,
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"in_progress","priority":2,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","labels":["backend","needs-review"],"x_custom":7}`,
			wantStatus: "closed", wantPrio: 2, wantLabels: []string{"backend", "gtc:done", "needs-review"}, wantTitle: "Fix it", wantDirty: true,
			wantInFile: []string{`"status":"closed"`, `"needs-review"`, `"gtc:done"`, `"x_custom":7`, `"close_reason":"completed"`},
		},
		{
			name:       "priority edit keeps gtc's status and assignee",
			gtc:        func(is *Issue) { is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", closedAt },
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"in_progress","priority":0,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","labels":["backend"],"x_custom":7}`,
			wantStatus: "hooked", wantPrio: 0, wantLabels: []string{"backend"}, wantTitle: "Fix it", wantDirty: true,
			wantInFile: []string{`"status":"hooked"`, `"assignee":"w1"`, `"priority":0`},
		},
		{
			name:       "a close in the line wins over gtc's state",
			gtc:        func(is *Issue) { is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", closedAt },
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"closed","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","closed_at":"2026-11-20T10:00:09Z","close_reason":"dup","labels":["backend"],"x_custom":7}`,
			wantStatus: "closed", wantPrio: 2, wantLabels: []string{"backend"}, wantTitle: "Fix it", wantDirty: false,
			wantInFile: []string{`"close_reason":"dup"`}, wantNotFile: []string{`"w1"`},
		},
		{
			name: "gtc's title edit survives bd's label removal; bd's removal applies",
			gtc: func(is *Issue) {
				is.Title, is.UpdatedAt = "Fix it properly", closedAt
				is.Labels = []string{"backend", "gtc:rework"}
			},
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"in_progress","priority":2,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","labels":["frontend"],"x_custom":7}`,
			wantStatus: "in_progress", wantPrio: 2, wantLabels: []string{"frontend", "gtc:rework"}, wantTitle: "Fix it properly", wantDirty: true,
			wantInFile: []string{`"title":"Fix it properly"`, `"labels":["frontend","gtc:rework"]`},
		},
		{
			name: "gtc changed the issue again after bd's edit: bd's label still taken",
			gtc: func(is *Issue) {
				later := time.Date(2026, 11, 20, 10, 0, 12, 0, time.UTC) // after the line's 10:00:09
				is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", later
			},
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"in_progress","priority":2,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","labels":["backend","bd-edit"],"x_custom":7}`,
			wantStatus: "hooked", wantPrio: 2, wantLabels: []string{"backend", "bd-edit"}, wantTitle: "Fix it", wantDirty: true,
			wantInFile: []string{`"bd-edit"`, `"status":"hooked"`, `"assignee":"w1"`},
		},
		{
			name: "bd's close in whole seconds, before gtc's later change (to the nanosecond) but after the line gtc wrote, still wins",
			gtc: func(is *Issue) {
				is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", time.Date(2026, 11, 20, 10, 0, 1, 700_000_000, time.UTC)
			},
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"closed","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:01Z","closed_at":"2026-11-20T10:00:01Z","close_reason":"dup","labels":["backend"],"x_custom":7}`,
			wantStatus: "closed", wantPrio: 2, wantLabels: []string{"backend"}, wantTitle: "Fix it", wantDirty: true, // gtc's later updated_at
			wantInFile: []string{`"status":"closed"`, `"close_reason":"dup"`, `"updated_at":"2026-11-20T10:00:01.7Z"`}, wantNotFile: []string{`"w1"`},
		},
		{
			name:       "a line of the very second gtc's line had, in whole seconds, is taken as an older version",
			gtc:        func(is *Issue) { is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", closedAt },
			bdLine:     `{"id":"gt-1","title":"Fix it","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z","labels":["backend"],"x_custom":8}`,
			wantStatus: "hooked", wantPrio: 2, wantLabels: []string{"backend"}, wantTitle: "Fix it", wantDirty: true,
			wantInFile: []string{`"status":"hooked"`}, keptRaw: true,
		},
		{
			name:       "an older version of the line (git checkout) is not an edit: gtc's record stays",
			gtc:        func(is *Issue) { is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", closedAt },
			bdLine:     `{"id":"gt-1","title":"Old title","status":"open","priority":3,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-19T09:00:00Z","x_custom":7}`,
			wantStatus: "hooked", wantPrio: 2, wantLabels: []string{"backend"}, wantTitle: "Fix it", wantDirty: true,
			wantInFile: []string{`"title":"Fix it"`, `"status":"hooked"`},
			keptRaw:    true,
		},
		{
			name:       "the line's own title change wins",
			gtc:        func(is *Issue) { is.Title, is.UpdatedAt = "gtc title", closedAt },
			bdLine:     `{"id":"gt-1","title":"bd title","status":"in_progress","priority":2,"issue_type":"task","assignee":"w2","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:09Z","labels":["backend"],"x_custom":7}`,
			wantStatus: "in_progress", wantPrio: 2, wantLabels: []string{"backend"}, wantTitle: "bd title", wantDirty: false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := beadsFile(t, base+"\n")
			b := newMemBackend()
			s := NewSyncer(path, b, nil)
			if _, err := s.Import(ctx); err != nil {
				t.Fatal(err)
			}
			b.change("gt-1", tc.gtc)
			if err := os.WriteFile(path, []byte(tc.bdLine+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Import(ctx); err != nil {
				t.Fatal(err)
			}
			got := b.get("gt-1")
			if got.Issue.Status != tc.wantStatus || got.Issue.Priority != tc.wantPrio || got.Issue.Title != tc.wantTitle ||
				!slices.Equal(got.Issue.Labels, tc.wantLabels) || got.Dirty != tc.wantDirty {
				t.Fatalf("after the import: status %q priority %d title %q labels %v dirty %v; want %q %d %q %v %v",
					got.Issue.Status, got.Issue.Priority, got.Issue.Title, got.Issue.Labels, got.Dirty,
					tc.wantStatus, tc.wantPrio, tc.wantTitle, tc.wantLabels, tc.wantDirty)
			}
			if !tc.keptRaw && !bytes.Equal(got.Raw, []byte(tc.bdLine)) {
				t.Fatalf("stored line %s, want bd's line (the file's now)", got.Raw)
			}
			if _, err := s.Export(ctx); err != nil {
				t.Fatal(err)
			}
			out := fileBytes(t, path)
			for _, w := range tc.wantInFile {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("file after export lacks %s:\n%s", w, out)
				}
			}
			for _, w := range tc.wantNotFile {
				if bytes.Contains(out, []byte(w)) {
					t.Errorf("file after export holds %s:\n%s", w, out)
				}
			}
			if !tc.wantDirty && !bytes.Equal(out, []byte(tc.bdLine+"\n")) {
				t.Errorf("export rewrote bd's line though nothing of gtc's was kept:\n%s", out)
			}
		})
	}
}
