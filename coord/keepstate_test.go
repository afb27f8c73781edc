package coord

import "testing"

// TestKeepStateKeepsDeadLetter: an edit made from a read taken before the issue was dead-lettered (a
// comment, with KeepState) keeps it dead-lettered: the scheduler's gtc:failed label is kept with its
// status, instead of the issue staying blocked without it, neither ready nor dead-lettered.
func TestKeepStateKeepsDeadLetter(t *testing.T) {
	cfg := testCfg()
	cfg.MaxAttempts = 1
	s := &sim{t: t, c: newTestCore(t, cfg, iss("a", 1)), now: t0}
	stale := iss("a", 1) // the caller's read, before the failure
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	if res, err := s.c.fail(s.now, "w", l.ID, l.Epoch, "boom"); err != nil || !res.DeadLettered {
		t.Fatalf("fail: %+v %v", res, err)
	}
	s.step()
	stale.Description = "a comment"
	stale.UpdatedAt = s.now
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: stale, KeepState: true}}); err != nil {
		t.Fatal(err)
	}
	s.step()
	m := s.meta("a")
	if st := s.c.status(); st.Issues.DeadLettered != 1 || !hasLabel(m.Labels, s.c.cfg.FailedLabel) || m.Attempts != 1 {
		t.Fatalf("after the edit: status %s, labels %v, attempts %d, counts %+v; want still dead-lettered",
			m.Status, m.Labels, m.Attempts, st.Issues)
	}
}
