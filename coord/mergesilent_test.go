package coord_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestMergeSilentRefineryLosesItsSlot: a refinery that heartbeats at the pace the server asks (here
// every 20 s) and then goes silent while it holds a slot (stopped, frozen, its host asleep: the
// connection stays open) loses the slot one heartbeat timeout after its last heartbeat, not at the
// slot's 10-minute deadline or after the idle timeout: it is told to stop that merge, it is stalled
// (no new slot) until it shows life, and the next refinery merges the request.
func TestMergeSilentRefineryLosesItsSlot(t *testing.T) {
	cfg := mergeCfg()
	cfg.HeartbeatTimeout = time.Minute
	h := runMerge(t, cfg, &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2), task("gt-2", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	beat := func(name string) {
		t.Helper()
		if _, err := h.e.Heartbeat(h.ctx, name, "", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	beat("r1")
	h.advance(20 * time.Second)
	beat("r1")
	h.submit("w", "gt-1")
	m := h.nextMerge()
	if m.worker != "r1" {
		t.Fatalf("first push %+v", m)
	}
	h.hello("r2", coord.RoleRefinery, 3) // idle beside it: one slot per target
	h.advance(20 * time.Second)
	beat("r1")
	// r1 stops here. 59 s after its last heartbeat it still holds the slot.
	h.advance(59 * time.Second)
	if r, _ := h.e.MergeGet(m.req.ID); r.State != "merging" || r.Refinery != "r1" {
		t.Fatalf("within the heartbeat timeout: %+v", r)
	}
	select {
	case c := <-h.out.cancels:
		t.Fatalf("cancel within the heartbeat timeout: %+v", c)
	default:
	}
	h.advance(2 * time.Second)
	r, _ := h.e.MergeGet(m.req.ID)
	if r.State != "pending" || r.Attempts != 1 || !strings.Contains(r.Error, "r1 sent no heartbeat for 1m0s") {
		t.Fatalf("after the heartbeat timeout: %+v", r)
	}
	select {
	case c := <-h.out.cancels:
		if c.worker != "r1" || c.req.ID != m.req.ID || c.req.Epoch != m.req.Epoch || !strings.Contains(c.req.Error, "no heartbeat") {
			t.Errorf("cancel note %+v", c)
		}
	default:
		t.Error("the silent refinery was not told to stop the merge")
	}
	state := h.workerState
	if st := state("r1"); st != coord.WorkerStalled {
		t.Errorf("silent refinery is %s, want stalled", st)
	}
	h.advance(10 * time.Second) // the retry delay
	if m2 := h.nextMerge(); m2.req.ID != m.req.ID || m2.worker != "r2" || m2.req.Epoch <= m.req.Epoch {
		t.Fatalf("after the retry delay: %+v", m2)
	}
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err == nil {
		t.Error("the silent refinery's late report was accepted")
	}
	// r1 comes back to life: no longer stalled, and it takes the next request.
	beat("r1")
	if st := state("r1"); st != coord.WorkerIdle {
		t.Errorf("refinery that heartbeats again is %s, want idle", st)
	}
	h.submit("w", "gt-2")
	h.noMerge() // one slot per target: r2 still merges MR-1
}

// TestMergeSlowHeartbeatsKeepTheDeadline: a refinery whose heartbeats come further apart than the
// heartbeat timeout (the protocol only asks for one before the slot's deadline) is not taken for hung.
func TestMergeSlowHeartbeatsKeepTheDeadline(t *testing.T) {
	cfg := mergeCfg()
	cfg.HeartbeatTimeout = time.Minute
	h := runMerge(t, cfg, &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	m := h.nextMerge()
	for i := 0; i < 3; i++ {
		h.advance(5 * time.Minute)
		if _, err := h.e.Heartbeat(h.ctx, "r1", "", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.advance(5 * time.Minute)
	if r, _ := h.e.MergeGet(m.req.ID); r.State != "merging" || r.Epoch != m.req.Epoch {
		t.Fatalf("a refinery heartbeating every 5 minutes lost its slot: %+v", r)
	}
}
