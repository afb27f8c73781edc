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
			if it := c.best(w.rejKey, &w.row.Filters, false); it != nil {
				t.Fatalf("idle pushable worker %s (filters %+v) left with ready issue %s (labels %v) after dispatch; inQ=%v",
					w.row.Name, w.row.Filters, it.id, it.labels(), w.inQ)
			}
		}
	}
	for wt := c.waiters.head; wt != nil; wt = wt.next {
		if it := c.best(wt.worker, &wt.filters, true); it != nil {
			t.Fatalf("parked claim %d of %s could take %s", wt.id, wt.worker, it.id)
		}
	}
}

// checkMarks: the searches that remember their last fruitless one (bestMarked) answer as a full search
// does (TestPropertyScheduler checks it before every dispatch, with issues added since the marks).
func (m *model) checkMarks(t *rapid.T) {
	c := m.c
	check := func(what string, miss uint64, name string, f *Filters, pull bool) {
		want := c.best(name, f, pull)
		if added, ok := c.added.since(miss - 1); miss != 0 && ok { // whether or not bestMarked would use it
			if got := c.bestOf(added, name, f, pull); got != want {
				t.Fatalf("%s (filters %+v): %v among the issues added since a miss, a full search %v", what, *f, got, want)
			}
		}
		if got := c.bestMarked(&miss, name, f, pull); got != want {
			t.Fatalf("%s (filters %+v): %v after a miss, a full search %v", what, *f, got, want)
		}
	}
	for _, w := range c.workers {
		check("push to "+w.row.Name, w.miss, w.rejKey, &w.row.Filters, false)
		check("claim of "+w.row.Name, w.claimMiss, w.row.Name, &w.claimF, true)
	}
	for wt := c.waiters.head; wt != nil; wt = wt.next {
		check("parked claim of "+wt.worker, wt.miss, wt.worker, &wt.filters, true)
	}
}
