package coord_test

import (
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestOldMergeDoesNotCloseALaterLease: only a request submitted during a lease settles it. The issue
// completes with its request MR-1 still pending and a person reopens it; MR-1 lands while the next
// lease L2 runs, and the worker rejects L2: the issue goes back to the queue (it was reopened for more
// work), not closed as merged by the earlier attempt's request.
func TestOldMergeDoesNotCloseALaterLease(t *testing.T) {
	h, a, status := leasedForMerge(t, mergeCfg())
	h.submit("w", "gt-1")
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	reopen := task("gt-1", 2)
	reopen.KeepState = false
	reopen.Issue.UpdatedAt = h.clk.Now()
	h.put(reopen) // a human reopens it: more work is needed
	var l2 coord.Assignment
	select {
	case l2 = <-h.out.pushes:
	case <-time.After(5 * time.Second):
		t.Fatal("reopened issue not pushed")
	}
	h.clk.Advance(time.Second)
	h.hello("r1", coord.RoleRefinery, 2)
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Reject(h.ctx, "w", l2.Lease.ID, l2.Lease.Epoch, "busy"); err != nil {
		t.Fatal(err)
	}
	h.e.Status()
	if got := status("gt-1"); got == "closed merged" {
		t.Errorf("reopened issue %q after a reject of a lease that submitted nothing; want it back in the queue", got)
	}
}

// TestMergeLandedWithASecondRequestLive: MR-1 merged during the lease, then the agent submitted again
// (a retried submit or a follow-up) and the lease failed: the issue closes as merged (its work landed)
// and MR-2 is withdrawn, instead of the issue being redone and merged twice.
func TestMergeLandedWithASecondRequestLive(t *testing.T) {
	h, a, status := leasedForMerge(t, mergeCfg())
	h.submit("w", "gt-1")
	h.hello("r1", coord.RoleRefinery, 2)
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Second)
	if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "b/gt-1", LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch}); err != nil {
		t.Fatal(err) // a retried submit (lost reply) or a follow-up
	}
	if _, err := h.e.Fail(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "agent crashed"); err != nil {
		t.Fatal(err)
	}
	h.e.Status()
	if got := status("gt-1"); got != "closed merged" {
		t.Errorf("issue %q after a failed lease whose branch merged (MR-1); want closed merged", got)
	}
	if ms, _ := h.e.MergeList(""); len(ms) != 0 {
		t.Errorf("live requests after the lease ended: %+v, want MR-2 withdrawn", ms)
	}
}

// TestOutsideReopenWithdrawsLeaseMerge: an outside change that ends a lease by sending the issue back
// (bd or gtc issue update: open, no assignee) withdraws the request submitted during that lease, as a
// cancel, release or fail does: it would otherwise land, and block the next attempt's submit.
func TestOutsideReopenWithdrawsLeaseMerge(t *testing.T) {
	h, _, _ := leasedForMerge(t, mergeCfg())
	sub := h.submit("w", "gt-1")
	h.clk.Advance(time.Second)
	reopen := task("gt-1", 2)
	reopen.KeepState = false
	reopen.FromImport = true
	reopen.Issue.UpdatedAt = h.clk.Now()
	h.put(reopen) // bd update gt-1 --status open --assignee ""
	h.e.Status()
	if r, _ := h.e.MergeGet(sub.Request.ID); r.State != "cancelled" {
		t.Errorf("request of the lease ended by the outside change: %s; a cancel/release/fail withdraws it", r.State)
	}
}

// TestRepeatedSubmitIsTheSameRequest: a submit repeated with the same branch and commit by the same
// worker (its reply was lost and the idempotency key forgotten, as across a restart) gets the request
// already queued, or, within the lease it was submitted under, the one already merged — not a conflict
// that fails the attempt, nor a second request that merges the branch again. Another branch still
// conflicts with the live request.
func TestRepeatedSubmitIsTheSameRequest(t *testing.T) {
	h, a, _ := leasedForMerge(t, mergeCfg())
	sub := coord.MergeSubmit{IssueID: "gt-1", Branch: "b/gt-1", LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch}
	first, err := h.e.MergeSubmit(h.ctx, "w", sub)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.e.MergeSubmit(h.ctx, "w", sub)
	if err != nil || again.Request.ID != first.Request.ID {
		t.Fatalf("repeated submit: %+v %v, want %s again", again.Request, err, first.Request.ID)
	}
	other := sub
	other.Branch = "b/gt-1-other"
	if _, err := h.e.MergeSubmit(h.ctx, "w", other); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("another branch while %s is live: %v, want conflict", first.Request.ID, err)
	}
	h.hello("r1", coord.RoleRefinery, 2)
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	after, err := h.e.MergeSubmit(h.ctx, "w", sub)
	if err != nil || after.Request.ID != first.Request.ID || after.Request.State != "merged" {
		t.Fatalf("repeated submit after the merge: %+v %v, want %s merged", after.Request, err, first.Request.ID)
	}
	h.noMerge()
}

// TestMergeInfraFailuresCountNoAttempt: a request that runs out of tries for the merge's own reasons
// (failures the refinery does not blame on the change: a target that kept moving, a refinery that kept
// dying) reopens the issue for rework without counting an attempt: with MaxAttempts 1 a counted one
// would have dead-lettered a correct change.
func TestMergeInfraFailuresCountNoAttempt(t *testing.T) {
	cfg := mergeCfg()
	cfg.MaxAttempts = 1
	h, a, status := leasedForMerge(t, cfg)
	h.submit("w", "gt-1")
	if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	h.hello("r1", coord.RoleRefinery, 2)
	for try := 1; try <= 3; try++ { // mergeq's MaxAttempts (3)
		m := h.nextMerge()
		if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Reason: "target moved during the gate"}); err != nil {
			t.Fatal(err)
		}
		h.advance(10 * time.Minute) // past the retry delay
	}
	if got := status("gt-1"); got != "open " && got != "hooked " {
		t.Fatalf("issue %q after the request ran out of tries, want reopened (not dead-lettered)", got)
	}
	h.advance(time.Minute) // past the backoff
	select {
	case a2 := <-h.out.pushes:
		if a2.Lease.Attempt != 1 {
			t.Errorf("redone as attempt %d, want 1 (no attempt counted)", a2.Lease.Attempt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reopened issue was not pushed again")
	}
}

// TestReopenOfCodeCompleteWithdrawsItsMerge: an issue waiting in code_complete for its merge and sent
// back by a person (gtc issue update --status open) loses that request: the next attempt submits its
// own, and the old one does not merge whatever its branch holds by then. A close keeps it.
func TestReopenOfCodeCompleteWithdrawsItsMerge(t *testing.T) {
	for _, to := range []string{"open", "closed"} {
		t.Run(to, func(t *testing.T) {
			cfg := mergeCfg()
			cfg.CodeCompleteStatus = "code_complete"
			h, a, _ := leasedForMerge(t, cfg)
			sub := h.submit("w", "gt-1")
			if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: coord.OutcomeCodeComplete}); err != nil {
				t.Fatal(err)
			}
			h.clk.Advance(time.Second)
			p := task("gt-1", 2)
			p.KeepState, p.FromImport = false, true
			p.Issue.Status, p.Issue.UpdatedAt = to, h.clk.Now()
			if to == "closed" {
				now := h.clk.Now()
				p.Issue.ClosedAt = &now
			}
			h.put(p)
			h.e.Status()
			r, _ := h.e.MergeGet(sub.Request.ID)
			if want := map[string]string{"open": "cancelled", "closed": "pending"}[to]; r.State != want {
				t.Errorf("request after the issue went %s: %s, want %s", to, r.State, want)
			}
		})
	}
}
