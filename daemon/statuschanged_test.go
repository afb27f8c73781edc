package daemon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestStatusChangesLeaveAnAuditTrail: an operator's issue update or close, and an edit of the file, each
// leave a status_changed event naming who made it and what changed; reviving a dead-lettered issue says
// so (fleet trial: `gtc events --issue` jumped from dead_lettered to the next assignment, and a close of
// a leased issue showed only the lease's cancel).
func TestStatusChangesLeaveAnAuditTrail(t *testing.T) {
	h := start(t, []string{line("s-1", "operator edits", 2), line("s-2", "file edits", 2)}, nil)
	ctx := context.Background()
	eventually(t, 5*time.Second, "the start's import", func() bool { return len(h.d.Engine().Ready(10)) == 2 })
	alice, _ := h.session(rpc.HelloParams{Name: "cli-alice", Role: "client"})
	open := "open"
	blocked := "blocked"
	for _, step := range []func() error{
		func() error {
			_, err := alice.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "s-1", Status: &blocked})
			return err
		},
		func() error {
			_, err := alice.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "s-1", Status: &open})
			return err
		},
		func() error {
			bob := "bob"
			_, err := alice.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "s-1", Assignee: &bob})
			return err
		},
		func() error {
			_, err := alice.IssueClose(ctx, rpc.IssueCloseParams{ID: "s-1", Reason: "done by hand"})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// bd closes s-2 in the file
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	lines := h.fileLines()
	edited := strings.NewReplacer(`"status":"open"`, `"status":"closed"`,
		`"updated_at":"2026-01-02T03:04:05Z"`, `"updated_at":"`+time.Now().Add(time.Second).UTC().Format(time.RFC3339)+`"`).Replace(lines["s-2"])
	if err := os.WriteFile(path+".tmp", []byte(lines["s-1"]+"\n"+edited+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil { // whole at once, as bd writes it
		t.Fatal(err)
	}
	type seen struct{ actor, detail string }
	events := func(id string) []seen {
		r, err := (&backend{d: h.d}).EventsList(ctx, nil, rpc.EventsListParams{IssueID: id, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []seen
		for _, e := range r.Events {
			if e.Kind == "status_changed" {
				out = append(out, seen{e.Actor, e.Detail})
			}
		}
		return out
	}
	want := []seen{
		{"cli-alice", "status open → blocked"},
		{"cli-alice", "status blocked → open"},
		{"cli-alice", `assignee "" → "bob"`},
		{"cli-alice", "status open → closed"},
	}
	if got := events("s-1"); !slices.Equal(got, want) {
		t.Errorf("s-1's status_changed events %v, want %v", got, want)
	}
	eventually(t, 5*time.Second, "the file's close of s-2 in the audit log", func() bool {
		got := events("s-2")
		return len(got) == 1 && got[0] == seen{"issues.jsonl", "status open → closed (changed outside gtc)"}
	})
}

// TestStatusCountsAddUp: coord.status's issue counts add up to the total, the rest (here a deferred
// issue) as other, as the table of gtc status shows it (fleet trial: --json had no other).
func TestStatusCountsAddUp(t *testing.T) {
	deferred := strings.Replace(line("c-3", "later", 2), `,"x_custom"`, `,"defer_until":"2099-01-01T00:00:00Z","x_custom"`, 1)
	h := start(t, []string{line("c-1", "ready", 2), line("c-2", "blocked by c-1", 2, "c-1"), deferred}, nil)
	ctx := context.Background()
	c, _ := h.session(rpc.HelloParams{Name: "cli-carol", Role: "client"})
	var st *rpc.StatusResult
	eventually(t, 5*time.Second, "the three issues imported", func() bool {
		var err error
		st, err = c.CoordStatus(ctx)
		return err == nil && st.Issues.Total == 3
	})
	if i := st.Issues; i.Ready != 1 || i.Blocked != 1 || i.Other != 1 ||
		i.Ready+i.Leased+i.Closed+i.DeadLettered+i.Blocked+i.Other != i.Total {
		t.Errorf("issue counts %+v: want 1 ready, 1 blocked, 1 other, adding up to the total", i)
	}
}
