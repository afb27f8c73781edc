package coord_test

import (
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestHeartbeatsDoNotHoldMergeSlotForever: a refinery that keeps heartbeating (which renews its slots)
// but never reports — its report gave up, its gate or git hangs — loses the slot after MaxHold (1 h by
// default), and the target's next request is dispatched.
func TestHeartbeatsDoNotHoldMergeSlotForever(t *testing.T) {
	h := runMerge(t, mergeCfg(), &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2), task("gt-2", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	h.submit("w", "gt-2")
	m := h.nextMerge()
	// refinery loop: heartbeat every 20s (its ticker), never reports MR-1.
	for i := 0; i < 6*60*3; i++ { // 6 hours
		h.clk.Advance(20 * time.Second)
		if _, err := h.e.Heartbeat(h.ctx, "r1", "", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	r, _ := h.e.MergeGet(m.req.ID)
	r2, _ := h.e.MergeGet("MR-2")
	if r.State == "merging" && r.Epoch == m.req.Epoch && r2.State == "pending" {
		t.Errorf("after 6 h of heartbeats and no report, %s still holds its first slot and MR-2 waits", r.ID)
	}
}
