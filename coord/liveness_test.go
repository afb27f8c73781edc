package coord

import "pgregory.net/rapid"

// checkLive: after a step (which ends with a dispatch), no pushable worker could take a ready issue and
// no parked claim could be served (TestPropertyScheduler checks it after every step: filters changing
// under idle workers and parked claims included).
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
