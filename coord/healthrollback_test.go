package coord

import (
	"errors"
	"testing"
	"time"
)

// TestHealthAcrossRollback: what the health check sees survives a failed commit as it should — an
// outcome whose commit failed is not counted, so its retry counts once; and a worker that keeps
// heartbeating its lease is not reported stalled because the rebuilt core read an old last-seen time.
func TestHealthAcrossRollback(t *testing.T) {
	h, mp, clk := engineWithWorker(t)
	l := h.nextPush().A.Lease
	if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	mp.setFail(errors.New("disk full"))
	if _, err := h.e.Complete(h.ctx, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeFailure}); ErrorCode(err) != EUnavailable {
		t.Fatalf("complete during the failure: %v", err)
	}
	mp.setFail(nil)
	clk.Advance(2 * time.Second)
	if _, err := h.e.Complete(h.ctx, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeFailure}); err != nil {
		t.Fatal(err)
	}
	if r := h.e.HealthReport(); r.Samples != 1 {
		t.Errorf("one durable outcome, the health window holds %d", r.Samples)
	}

	l = h.nextPush().A.Lease // b
	if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	for range 12 * 12 { // 12 minutes of heartbeats every 5 s
		clk.Advance(5 * time.Second)
		if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
			t.Fatal(err)
		}
	}
	mp.setFail(errors.New("disk full"))
	_ = h.e.PutIssues(h.ctx, puts(iss("c", 3)))
	mp.setFail(nil)
	if r := h.e.HealthReport(); len(r.Stalled) != 0 {
		t.Errorf("a heartbeating worker reported stalled after a failed commit: %+v", r)
	}
}
