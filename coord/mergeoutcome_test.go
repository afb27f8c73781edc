package coord_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// leasedForMerge runs a merge queue on a real store with issue gt-1 leased and acked by worker w; status
// reads an issue's stored status and close reason.
func leasedForMerge(t *testing.T, cfg coord.Config) (*mh, coord.Assignment, func(string) string) {
	path := filepath.Join(t.TempDir(), "gtc.db")
	db := openStore(t, path)
	h := runMerge(t, cfg, db, nil, mt0)
	h.put(task("gt-1", 2))
	h.hello("w", "worker", 1)
	var a coord.Assignment
	select {
	case a = <-h.out.pushes:
	case <-time.After(5 * time.Second):
		t.Fatal("no assignment")
	}
	if err := h.e.Ack(h.ctx, "w", a.Lease.ID, a.Lease.Epoch); err != nil {
		t.Fatal(err)
	}
	status := func(id string) string {
		is, _, err := db.GetIssue(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return is.Status + " " + is.CloseReason
	}
	return h, a, status
}

// TestMergedBeforeCompleteClosesIssue: the agent submits its branch during its session and the
// refinery merges it before the agent reports code_complete: the issue closes as merged instead of
// waiting in code_complete for a merge that already happened.
func TestMergedBeforeCompleteClosesIssue(t *testing.T) {
	cfg := mergeCfg()
	cfg.CodeCompleteStatus = "code_complete"
	h, a, status := leasedForMerge(t, cfg)
	h.submit("w", "gt-1") // worker submits, then reports code_complete
	h.hello("r1", coord.RoleRefinery, 2)
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	h.advance(24 * time.Hour)
	if st := status("gt-1"); st != "closed merged" {
		t.Errorf("merged issue left %q", st)
	}
}

// TestConflictBeforeCompleteReopens: the refinery reports conflicts before the submitter reports
// code_complete: the issue is reopened for rework instead of closing as code complete.
func TestConflictBeforeCompleteReopens(t *testing.T) {
	h, a, status := leasedForMerge(t, mergeCfg()) // default config: code_complete closes
	h.submit("w", "gt-1")
	h.hello("r1", coord.RoleRefinery, 2)
	m := h.nextMerge()
	r, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Conflicts: []string{"a.go"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	if st := status("gt-1"); r.State != "failed" || (st != "open " && st != "hooked ") { // reopened, maybe pushed again at once
		t.Errorf("merge %s %s, issue %q: want the merge failed and the issue open for rework", r.ID, r.State, st)
	}
}

// TestMergeAttemptsExhaustedReopens: a merge that fails for good after its attempts (transient errors)
// reopens the issue for rework instead of leaving it in code_complete with nothing left to merge it.
func TestMergeAttemptsExhaustedReopens(t *testing.T) {
	cfg := mergeCfg()
	cfg.CodeCompleteStatus = "code_complete"
	h, a, status := leasedForMerge(t, cfg)
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	h.submit("w", "gt-1")
	h.hello("r1", coord.RoleRefinery, 2)
	var last coord.MergeRequest
	for i := 0; i < 3; i++ {
		m := h.nextMerge()
		var err error
		last, err = h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Reason: "fetch origin: network unreachable"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := status("gt-1"); last.State != "failed" || (st != "open " && st != "hooked ") { // reopened, maybe pushed again at once
		t.Errorf("merge %s %s (%s), issue %q: want the merge failed and the issue open for rework", last.ID, last.State, last.Error, st)
	}
}

// TestMergeDecidedBeforeRestartAppliesAtComplete: the refinery finishes the submitter's merge, the
// server restarts, then the submitter (its lease resumed) reports code_complete: the outcome decided
// before the restart still applies — a merge closes the issue, a conflict reopens it. Finished
// requests were not reloaded, so the merged issue waited in code_complete and the conflicted one
// closed as if nothing had failed.
func TestMergeDecidedBeforeRestartAppliesAtComplete(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result coord.MergeResult
		want   []string // the issue's stored status and close reason after the complete (any of)
	}{
		{"merged", coord.MergeResult{Merged: true}, []string{"closed merged"}},
		{"conflict", coord.MergeResult{Conflicts: []string{"a.go"}}, []string{"open ", "hooked "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mergeCfg()
			cfg.CodeCompleteStatus = "code_complete"
			path := filepath.Join(t.TempDir(), "gtc.db")
			db := openStore(t, path)
			h := runMerge(t, cfg, db, nil, mt0)
			h.put(task("gt-1", 2), task("gt-2", 3))
			h.hello("w", "worker", 1)
			a := <-h.out.pushes
			if err := h.e.Ack(h.ctx, "w", a.Lease.ID, a.Lease.Epoch); err != nil {
				t.Fatal(err)
			}
			h.submit("w", a.Lease.IssueID)
			h.hello("r1", coord.RoleRefinery, 2)
			m := h.nextMerge()
			if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, tc.result); err != nil {
				t.Fatal(err)
			}
			h.stop()
			snap, err := db.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h2 := runMerge(t, cfg, db, snap, mt0.Add(time.Minute))
			if _, err := h2.e.Connect(h2.ctx, coord.Hello{Name: "w", Capacity: 1}, 3); err != nil {
				t.Fatal(err)
			}
			if _, err := h2.e.Complete(h2.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
				t.Fatal(err)
			}
			is, _, err := db.GetIssue(context.Background(), a.Lease.IssueID)
			if err != nil {
				t.Fatal(err)
			}
			if got := is.Status + " " + is.CloseReason; !slices.Contains(tc.want, got) {
				t.Errorf("after the restart the complete left %s %q, want one of %q", a.Lease.IssueID, got, tc.want)
			}
		})
	}
}
