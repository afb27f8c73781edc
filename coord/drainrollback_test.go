package coord

import (
	"errors"
	"testing"
	"time"
)

// TestDrainOfStalledWorkerSurvivesRollback: a drain given while the worker is stalled is durable like
// any other: after a failed commit (the core rebuilt from the store) the worker is still draining and
// is not pushed work again on the same connection.
func TestDrainOfStalledWorkerSurvivesRollback(t *testing.T) {
	h, mp, clk := engineWithWorker(t)
	ctx := h.ctx
	h.nextPush()
	clk.Advance(10 * time.Second) // ack timeout: w stalled
	if st := h.e.Status(); st.Workers.Stalled != 1 {
		t.Fatalf("status %+v", st)
	}
	if err := h.e.Drain(ctx, "w", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Heartbeat(ctx, "w", "", 0, ""); err != nil { // shows life: no longer stalled, still draining
		t.Fatal(err)
	}
	h.noPush()
	if st := h.e.Status(); st.Workers.Draining != 1 {
		t.Fatalf("status %+v", st)
	}
	mp.setFail(errors.New("disk full"))
	_ = h.e.PutIssues(ctx, puts(iss("c", 3)))
	mp.setFail(nil)
	st := h.e.Status()
	select {
	case p := <-h.out.pushed:
		t.Fatalf("drained worker pushed %s after a failed commit (status %+v)", p.A.Lease.IssueID, st)
	case <-time.After(200 * time.Millisecond):
	}
	if st.Workers.Draining != 1 {
		t.Fatalf("drain forgotten after a failed commit: %+v", st)
	}
}
