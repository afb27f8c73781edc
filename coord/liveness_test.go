package coord

import (
	"testing"

	"pgregory.net/rapid"
)

// checkLive: after a step (which ends with a dispatch), no pushable worker could take a ready issue and
// no parked claim could be served.
func (m *model) checkLive(t *rapid.T) {
	c := m.c
	if c.paused {
		return
	}
	for _, w := range c.workers {
		if c.pushable(w) {
			if it := c.best(w.row.Name, &w.row.Filters, false); it != nil {
				t.Fatalf("idle pushable worker %s (filters %+v) left with ready issue %s (labels %v) after dispatch; inQ=%v",
					w.row.Name, w.row.Filters, it.id, it.labels(), w.inQ)
			}
		}
	}
	for _, wt := range c.waiters {
		if it := c.best(wt.worker, &wt.filters, true); it != nil {
			t.Fatalf("parked claim %d of %s could take %s", wt.id, wt.worker, it.id)
		}
	}
}

// TestPropertyLiveness runs the model's random steps and checks after each that dispatch left no
// matching ready issue beside an idle worker or a parked claim (filters changing under them included).
func TestPropertyLiveness(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testCfg()
		cfg.MaxAttempts = rapid.IntRange(1, 3).Draw(t, "maxAttempts")
		m := &model{t: t, cfg: cfg, now: t0, f: newFold(nil)}
		m.c = newCore(cfg, nil, t0)
		var init []IssuePut
		for _, id := range propIDs[:rapid.IntRange(1, len(propIDs)).Draw(t, "n")] {
			init = append(init, IssuePut{Issue: genIssue(t, id, t0)})
		}
		if err := m.c.putIssues(t0, init); err != nil {
			t.Fatal(err)
		}
		m.commit()
		for i, n := 0, rapid.IntRange(1, 60).Draw(t, "steps"); i < n; i++ {
			m.step(t)
			m.checkLive(t)
		}
	})
}
