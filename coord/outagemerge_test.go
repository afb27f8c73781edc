package coord_test

import (
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestOutageHoldsMergeSlots: a refinery merging through a storage outage longer than the slot lease (10
// min) has its heartbeats, which renew the slot, refused like a worker's; the slot's deadline stands still
// meanwhile, and its report is accepted once the storage works (before, the merge was taken back and an
// attempt counted).
func TestOutageHoldsMergeSlots(t *testing.T) {
	fp := &failPersister{}
	h := runMerge(t, mergeCfg(), fp, nil, mt0)
	h.put(task("gt-1", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1", "a.go")
	m := h.nextMerge()
	fp.setFailing(true)
	for i := 0; i < 66; i++ { // 11 minutes, a refused heartbeat every 10 s
		h.clk.Advance(10 * time.Second)
		if _, err := h.e.Heartbeat(h.ctx, "r1", "", 0, ""); coord.ErrorCode(err) != coord.EUnavailable {
			t.Fatalf("refinery heartbeat during the outage: %v", err)
		}
	}
	fp.setFailing(false)
	h.clk.Advance(time.Second)
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true, MergeCommit: "abc"}); err != nil {
		t.Fatalf("merge report after the storage recovered: %v", err)
	}
}
