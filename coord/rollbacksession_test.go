package coord_test

import (
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestRollbackKeepsTheSessionsState: a failed commit rebuilds the core from the durable state, but the
// sessions still open keep what their connect and their own drain decided: a lease hello resumed and
// then released comes back to the worker at once (the rebuilt core had forgotten it was resumed and
// held the issue from the worker for RejectHold), and a worker that drained itself gets no push (the
// rebuilt core took its drain for an operator's, or forgot it).
func TestRollbackKeepsTheSessionsState(t *testing.T) {
	cfg := mergeCfg()
	cfg.RejectHold = 30 * time.Second
	failCommit := func(h *mh, fp *failPersister) {
		t.Helper()
		fp.setFailing(true)
		if err := h.e.PutIssues(h.ctx, []coord.IssuePut{task("gt-lost", 3)}); coord.ErrorCode(err) != coord.EUnavailable {
			t.Fatalf("put while the commit fails: %v", err)
		}
		fp.setFailing(false)
		h.clk.Advance(2 * time.Second)
	}
	t.Run("resumed lease released", func(t *testing.T) {
		fp := &failPersister{}
		h := runMerge(t, cfg, fp, nil, mt0)
		h.hello("w", "worker", 1)
		h.put(task("gt-1", 2))
		a := <-h.out.pushes
		if err := h.e.Disconnect(h.ctx, "w", 1); err != nil {
			t.Fatal(err)
		}
		h.hello("w", "worker", 2) // resumes a's lease
		failCommit(h, fp)
		if _, err := h.e.Release(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, "restarted: not running it"); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-h.out.pushes:
			if b.Lease.IssueID != "gt-1" {
				t.Fatalf("pushed %s", b.Lease.IssueID)
			}
		case <-time.After(5 * time.Second):
			r, _ := h.e.Readiness("gt-1")
			t.Fatalf("the released resumed lease was held from the worker after a rollback: %s", r)
		}
	})
	t.Run("own drain", func(t *testing.T) {
		fp := &failPersister{}
		h := runMerge(t, cfg, fp, nil, mt0)
		h.hello("w", "worker", 1)
		if err := h.e.DrainSession(h.ctx, "w", 1); err != nil {
			t.Fatal(err)
		}
		failCommit(h, fp)
		h.put(task("gt-1", 2))
		h.e.Status()
		select {
		case a := <-h.out.pushes:
			t.Fatalf("pushed %s to a worker draining itself, after a rollback", a.Lease.IssueID)
		default:
		}
		if err := h.e.Disconnect(h.ctx, "w", 1); err != nil {
			t.Fatal(err)
		}
		h.hello("w", "worker", 2) // its own drain ended with its session
		select {
		case <-h.out.pushes:
		case <-time.After(5 * time.Second):
			t.Fatalf("the restarted worker got no work: its own drain outlived its session after a rollback (%+v)", h.e.Workers())
		}
	})
	t.Run("own drain under a lost operator's drain", func(t *testing.T) {
		fp := &failPersister{}
		h := runMerge(t, cfg, fp, nil, mt0)
		h.hello("w", "worker", 1)
		if err := h.e.DrainSession(h.ctx, "w", 1); err != nil {
			t.Fatal(err)
		}
		fp.setFailing(true) // the operator's drain is lost: the worker's own, decided before, is not
		if err := h.e.Drain(h.ctx, "w", "alice"); coord.ErrorCode(err) != coord.EUnavailable {
			t.Fatalf("drain while the commit fails: %v", err)
		}
		fp.setFailing(false)
		h.clk.Advance(2 * time.Second)
		h.put(task("gt-1", 2))
		h.e.Status()
		select {
		case a := <-h.out.pushes:
			t.Fatalf("pushed %s to a worker draining itself, after an operator's drain was rolled back", a.Lease.IssueID)
		default:
		}
	})
}
