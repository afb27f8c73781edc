package coord_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/store"
)

// storeMerge runs a merge-queue engine with cfg on a fresh store (in a temp dir) at mt0.
func storeMerge(t *testing.T, cfg coord.Config) (*mh, *store.DB) {
	t.Helper()
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	return runMerge(t, cfg, db, nil, mt0), db
}

// leaseAcked puts issue gt-1, connects worker w, acks the lease pushed to it and lets a minute pass
// (the agent works a while before it submits).
func (h *mh) leaseAcked() coord.Assignment {
	h.t.Helper()
	h.put(task("gt-1", 2))
	h.hello("w", "worker", 1)
	var a coord.Assignment
	select {
	case a = <-h.out.pushes:
	case <-time.After(5 * time.Second):
		h.t.Fatal("no assignment")
	}
	if err := h.e.Ack(h.ctx, "w", a.Lease.ID, a.Lease.Epoch); err != nil {
		h.t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	return a
}

// leasedForMerge runs a merge queue on a real store with issue gt-1 leased and acked by worker w; status
// reads an issue's stored status and close reason.
func leasedForMerge(t *testing.T, cfg coord.Config) (*mh, coord.Assignment, func(string) string) {
	path := filepath.Join(t.TempDir(), "gtc.db")
	db := openStore(t, path)
	h := runMerge(t, cfg, db, nil, mt0)
	a := h.leaseAcked()
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
		if i > 0 {
			h.advance(time.Minute) // past the retry delay
		}
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
			h, db := storeMerge(t, cfg)
			a := h.leaseAcked()
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

// TestOldOutcomeNotAppliedToReworkLease: a conflict reported after the submitter's lease ended reopens
// the issue, which is pushed again (lease L2; before reworks had a backoff, in the report's batch, at
// its instant). When L2
// ends code_complete with no newer merge request, the old conflict must not reopen the issue again —
// neither live nor after a restart (which reloads the finished request of a leased issue). It did: the
// check took "decided at the lease's creation instant" as "decided during the lease".
func TestOldOutcomeNotAppliedToReworkLease(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "live", true: "restart"}[restart], func(t *testing.T) {
			cfg := mergeCfg()
			cfg.CodeCompleteStatus = "code_complete"
			h, db := storeMerge(t, cfg)
			a := h.leaseAcked()
			h.submit("w", "gt-1")
			if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(time.Minute)
			h.hello("r1", coord.RoleRefinery, 2)
			m := h.nextMerge()
			if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Conflicts: []string{"a.go"}}); err != nil {
				t.Fatal(err)
			}
			h.advance(6 * time.Second) // the rework's backoff (a failed attempt)
			var a2 coord.Assignment
			select {
			case a2 = <-h.out.pushes: // reopened for rework and pushed again
			case <-time.After(5 * time.Second):
				t.Fatal("the reopened issue was not pushed again")
			}
			e, ctx := h.e, h.ctx
			if restart {
				h.stop()
				snap, err := db.Load(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				h2 := runMerge(t, cfg, db, snap, mt0.Add(time.Hour))
				if _, err := h2.e.Connect(h2.ctx, coord.Hello{Name: "w", Capacity: 1}, 3); err != nil {
					t.Fatal(err)
				}
				e, ctx = h2.e, h2.ctx
			}
			if err := e.Ack(ctx, "w", a2.Lease.ID, a2.Lease.Epoch); err != nil {
				t.Fatal(err)
			}
			if !restart {
				h.clk.Advance(time.Minute) // the rework takes a while
			}
			if _, err := e.Complete(ctx, "w", a2.Lease.ID, a2.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
				t.Fatal(err)
			}
			is, _, err := db.GetIssue(context.Background(), "gt-1")
			if err != nil {
				t.Fatal(err)
			}
			if is.Status != "code_complete" {
				t.Errorf("the rework lease %s ended code_complete, yet the issue is %q (labels %v): the old conflict was applied again", a2.Lease.ID, is.Status, is.Labels)
			}
		})
	}
}

// TestMergeDecidedSurvivesRollback: a commit fails after the refinery merged the submitter's branch
// during its lease; the core is rebuilt — from the store (a Loader) or from the fold of committed
// changes — and the retried code_complete still closes the issue as merged. The fold dropped finished
// requests, so its rebuild forgot the merge.
func TestMergeDecidedSurvivesRollback(t *testing.T) {
	for _, loader := range []bool{false, true} {
		t.Run(map[bool]string{false: "fold", true: "store"}[loader], func(t *testing.T) {
			cfg := mergeCfg()
			cfg.CodeCompleteStatus = "code_complete"
			var p coord.Persister
			fp := &failPersister{}
			p = fp
			if loader {
				db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
				fp.inner = db
				p = failLoader{fp, db}
			}
			h := runMerge(t, cfg, p, nil, mt0)
			a := h.leaseAcked()
			h.submit("w", "gt-1")
			h.hello("r1", coord.RoleRefinery, 2)
			m := h.nextMerge()
			if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
				t.Fatal(err)
			}
			fp.setFailing(true)
			if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err == nil {
				t.Fatal("the complete committed with a failing disk")
			}
			fp.setFailing(false)
			h.clk.Advance(2 * time.Second) // past the retry pause after a failed commit
			res, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != "closed" {
				t.Errorf("merged during the lease, yet after the rebuild the complete left the issue %q", res.Status)
			}
		})
	}
}

// failLoader is a failing Persister that rebuilds from the store it wraps.
type failLoader struct {
	*failPersister
	db *store.DB
}

func (f failLoader) Load(ctx context.Context) (*coord.Snapshot, error) { return f.db.Load(ctx) }

// TestSubmitForMergedClosedIssueRefused: a merge.submit for an issue that is closed and whose branch
// was merged is refused (EConflict) — a typo or a retried script otherwise queued it, its bad branch
// failed, and the finished issue was reopened for rework. Reopened, the issue takes a submit again.
// After a restart too: the finished request is loaded back with the newest ones (a user trial saw a
// closed, merged issue queued and merged again after a restart).
func TestSubmitForMergedClosedIssueRefused(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
			h := runMerge(t, mergeCfg(), db, nil, mt0)
			a := h.leaseAcked()
			h.submit("w", "gt-1")
			if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
				t.Fatal(err)
			}
			h.hello("r1", coord.RoleRefinery, 2)
			m := h.nextMerge()
			if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
				t.Fatal(err)
			}
			if restart {
				h.stop()
				snap, err := db.Load(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				h = runMerge(t, mergeCfg(), db, snap, h.clk.Now())
				h.hello("w", "worker", 3)
			}
			_, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "no-such-branch"})
			if coord.ErrorCode(err) != coord.EConflict || !strings.Contains(err.Error(), "merged") {
				t.Fatalf("submit for a closed, merged issue: %v; want conflict", err)
			}
			reopen := task("gt-1", 2)
			reopen.KeepState = false
			reopen.Issue.UpdatedAt = h.clk.Now()
			h.put(reopen) // reopened (open again) by an edit
			if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "b/gt-1-more"}); err != nil {
				t.Fatalf("submit for the reopened issue: %v", err)
			}
			h.hello("r1", coord.RoleRefinery, 4)
			if m2 := h.nextMerge(); m2.req.Epoch <= m.req.Epoch {
				t.Errorf("slot epoch %d after epoch %d: merge slot epochs went back", m2.req.Epoch, m.req.Epoch)
			}
		})
	}
}

// TestReworkIsAFailedAttempt: a branch sent back for rework (its gate failed) counts as a failed
// attempt of the issue: the next attempt waits for the backoff and carries the next attempt number,
// and after MaxAttempts the issue is dead-lettered (blocked, gtc:failed) instead of being redone
// forever (a user trial saw one rerun eight times in two minutes, its attempt stuck at 2).
func TestReworkIsAFailedAttempt(t *testing.T) {
	cfg := mergeCfg()
	cfg.MaxAttempts = 3
	h, db := storeMerge(t, cfg)
	a := h.leaseAcked()
	h.hello("r1", coord.RoleRefinery, 2)
	for attempt := 1; ; attempt++ {
		if a.Lease.Attempt != attempt {
			t.Fatalf("rework %d pushed as attempt %d", attempt, a.Lease.Attempt)
		}
		h.submit("w", "gt-1")
		if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
			t.Fatal(err)
		}
		m := h.nextMerge()
		if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Rework: true, Reason: "gate failed"}); err != nil {
			t.Fatal(err)
		}
		is, _, err := db.GetIssue(context.Background(), "gt-1")
		if err != nil {
			t.Fatal(err)
		}
		if attempt == cfg.MaxAttempts {
			if is.Status != "blocked" || !slices.Contains(is.Labels, "gtc:failed") {
				t.Fatalf("after %d reworks the issue is %q %v, want dead-lettered", attempt, is.Status, is.Labels)
			}
			return
		}
		if is.Status != "open" || slices.Contains(h.e.Ready(0), "gt-1") {
			t.Fatalf("rework %d: issue %q, ready %v: want open and waiting for the backoff", attempt, is.Status, h.e.Ready(0))
		}
		h.advance(time.Duration(5<<attempt) * time.Second) // past the doubling backoff
		select {
		case a = <-h.out.pushes:
		case <-time.After(5 * time.Second):
			t.Fatalf("rework %d not pushed after its backoff", attempt)
		}
		if err := h.e.Ack(h.ctx, "w", a.Lease.ID, a.Lease.Epoch); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(time.Minute)
	}
}

// TestMergeSubmitUnderLease: a submit naming the issue's live lease is filed under that lease's
// worker whoever carries it (a CLI run by the agent's script), and refused once the lease has ended or
// with another epoch — an agent left running after its lease was taken cannot queue late work.
func TestMergeSubmitUnderLease(t *testing.T) {
	h := runMerge(t, mergeCfg(), &failPersister{}, nil, mt0)
	a := h.leaseAcked()
	h.put(task("gt-2", 3))
	h.hello("cli", "client", 9)
	sub := func(issue, lease string, epoch int64) (coord.MergeSubmitted, error) {
		return h.e.MergeSubmit(h.ctx, "cli", coord.MergeSubmit{IssueID: issue, Branch: "b/" + issue, LeaseID: lease, Epoch: epoch})
	}
	if _, err := sub("gt-1", a.Lease.ID, a.Lease.Epoch+1); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("another epoch: %v", err)
	}
	if _, err := sub("gt-2", a.Lease.ID, a.Lease.Epoch); coord.ErrorCode(err) != coord.EInvalid {
		t.Fatalf("the lease of another issue: %v", err)
	}
	r, err := sub("gt-1", a.Lease.ID, a.Lease.Epoch)
	if err != nil || r.Request.Worker != "w" {
		t.Fatalf("under the live lease: %+v %v, want filed under w", r.Request, err)
	}
	if _, err := h.e.MergeCancel(h.ctx, coord.MergeCancel{ID: r.Request.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Fail(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "taken away"); err != nil {
		t.Fatal(err)
	}
	if _, err := sub("gt-1", a.Lease.ID, a.Lease.Epoch); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("after the lease ended: %v, want stale_epoch", err)
	}
}

// TestLeftoverLabelsDropped: an issue sent back for rework loses gtc:rework when it closes (the rework
// is done), and a dead-lettered issue an operator sets open again loses gtc:failed with the fresh
// attempt budget. Both labels stayed behind (a user trial saw closed issues marked for rework).
func TestLeftoverLabelsDropped(t *testing.T) {
	cfg := mergeCfg()
	cfg.MaxAttempts = 2
	h, db := storeMerge(t, cfg)
	labels := func() []string {
		is, _, err := db.GetIssue(context.Background(), "gt-1")
		if err != nil {
			t.Fatal(err)
		}
		return is.Labels
	}
	a := h.leaseAcked()
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Rework: true, Reason: "gate failed"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(labels(), "gtc:rework") {
		t.Fatalf("reopened for rework without the label: %v", labels())
	}
	h.advance(10 * time.Second)
	a = <-h.out.pushes
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	if ls := labels(); slices.Contains(ls, "gtc:rework") {
		t.Fatalf("closed after its rework, still labelled %v", ls)
	}
	// dead-lettered (its second failed attempt), then revived by an edit that only sets the status
	reopen := task("gt-1", 2)
	reopen.KeepState = false
	h.put(reopen)
	a = <-h.out.pushes
	if _, err := h.e.Fail(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "broken"); err != nil {
		t.Fatal(err)
	}
	if ls := labels(); !slices.Contains(ls, "gtc:failed") {
		t.Fatalf("not dead-lettered: %v", ls)
	}
	revive := task("gt-1", 2, "gtc:failed") // status open, the label left as it was
	revive.KeepState = false
	h.put(revive)
	if ls := labels(); slices.Contains(ls, "gtc:failed") {
		t.Fatalf("revived, still labelled %v", ls)
	}
}

// TestFailedAttemptWithdrawsItsMergeRequest: an agent submits its branch, then its attempt fails (here
// its last: dead-lettered). The request it queued during that lease is withdrawn, so the failed work
// never lands (before, it merged after the issue had been dead-lettered); the issue stays as it is.
func TestFailedAttemptWithdrawsItsMergeRequest(t *testing.T) {
	cfg := mergeCfg()
	cfg.MaxAttempts = 1
	h, db := storeMerge(t, cfg)
	a := h.leaseAcked()
	sub := h.submit("w", "gt-1")
	if r, err := h.e.Fail(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "broke"); err != nil || !r.DeadLettered {
		t.Fatalf("fail: %+v %v, want dead-lettered", r, err)
	}
	if r, ok := h.e.MergeGet(sub.Request.ID); !ok || r.State != "cancelled" || !strings.Contains(r.Error, a.Lease.ID) {
		t.Fatalf("request after the failed attempt: %+v (found %v), want cancelled naming the lease", r, ok)
	}
	h.hello("r1", coord.RoleRefinery, 2)
	h.noMerge()
	is, _, err := db.GetIssue(context.Background(), "gt-1")
	if err != nil {
		t.Fatal(err)
	}
	if is.Status != "blocked" || !slices.Contains(is.Labels, "gtc:failed") {
		t.Fatalf("issue %q %v: want it left dead-lettered", is.Status, is.Labels)
	}
}

// TestLeaseEndWithdrawsOrClosesMerge: what becomes of an attempt's merge request when its lease ends
// without success. Pending or merging: withdrawn (a merging one's refinery told to stop), the issue
// requeued for the next attempt. Already merged: the work is on the target, so the issue closes
// ("merged") instead of being requeued and done and merged a second time (a worker stopped with
// SIGSTOP after its agent submitted: the lease expired after the merge landed).
func TestLeaseEndWithdrawsOrClosesMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stage string // "pending", "merging", "merged": how far the request got before the lease ended
		end   string // "expire", "fail", "release"
		want  string // the issue's status and close reason after
	}{
		{"pending, lease expires", "pending", "expire", "open "},
		{"merging, worker fails", "merging", "fail", "open "},
		{"pending, worker releases", "pending", "release", "open "}, // no backoff; not pushed back to w's session for RejectHold
		{"merged, lease expires", "merged", "expire", "closed merged"},
		{"merged, worker fails", "merged", "fail", "closed merged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mergeCfg()
			cfg.HeartbeatTimeout = 10 * time.Minute
			h, a, status := leasedForMerge(t, cfg)
			sub := h.submit("w", "gt-1")
			if tc.stage != "pending" {
				h.hello("r1", coord.RoleRefinery, 2)
				m := h.nextMerge()
				if tc.stage == "merged" {
					if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true, MergeCommit: "abc"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			var err error
			switch tc.end {
			case "expire":
				h.advance(11 * time.Minute)
			case "fail":
				_, err = h.e.Fail(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "gate failed")
			case "release":
				_, err = h.e.Release(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "later")
			}
			if err != nil {
				t.Fatal(err)
			}
			h.e.Status()
			if got := status("gt-1"); got != tc.want {
				t.Errorf("issue after the lease ended: %q, want %q", got, tc.want)
			}
			if tc.name == "merged, lease expires" {
				// its work landed: not a failed session for the health rate
				if r := h.e.HealthReport(); r.Samples != 1 || r.SuccessRate != 1 {
					t.Errorf("health after an expiry whose branch merged: %+v, want one successful sample", r)
				}
			}
			r, _ := h.e.MergeGet(sub.Request.ID)
			switch {
			case tc.stage == "merged" && r.State != "merged":
				t.Errorf("request %s, want merged", r.State)
			case tc.stage != "merged" && r.State != "cancelled":
				t.Errorf("request %s, want cancelled", r.State)
			}
			if tc.stage == "merging" {
				select {
				case c := <-h.out.cancels:
					if c.worker != "r1" || c.req.ID != sub.Request.ID {
						t.Errorf("merge cancel %+v, want r1 told to stop %s", c, sub.Request.ID)
					}
				case <-time.After(5 * time.Second):
					t.Error("the refinery was not told to stop the withdrawn merge")
				}
			}
		})
	}
}
