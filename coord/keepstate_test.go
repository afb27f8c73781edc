package coord

import (
	"testing"
	"time"
)

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

// TestPutIfUnchangedSince: an edit of the scheduler-owned fields made from a read the scheduler has
// overtaken since (here a completion) is refused with a conflict instead of undoing the completion;
// made from a current read, it applies.
func TestPutIfUnchangedSince(t *testing.T) {
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("a", 1)), now: t0}
	read := s.c.metaOf(s.c.issues["a"]).UpdatedAt // the caller's read, while the issue is open
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	s.now = s.now.Add(time.Second)
	if _, err := s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	s.step()
	stale := iss("a", 1)
	stale.Assignee, stale.UpdatedAt = "bob", s.now
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: stale, IfUnchangedSince: &read}}); ErrorCode(err) != EConflict {
		t.Fatalf("put from a read before the completion: %v, want a conflict", err)
	}
	if m := s.meta("a"); m.Status != "closed" {
		t.Fatalf("the completion was undone: %s", m.Status)
	}
	cur := s.meta("a").UpdatedAt
	fresh := iss("a", 1)
	fresh.Status, fresh.Assignee, fresh.UpdatedAt = "open", "bob", s.now.Add(time.Second)
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: fresh, IfUnchangedSince: &cur}}); err != nil {
		t.Fatalf("put from a current read: %v", err)
	}
}

// TestReviveByLabelLeavesAnEvent: a dead-lettered issue whose gtc:failed label is removed while its
// status stays blocked is revived (a fresh attempt budget), and the audit log says so with who did it
// (review: only a change of status or assignee left a status_changed).
func TestReviveByLabelLeavesAnEvent(t *testing.T) {
	cfg := testCfg()
	cfg.MaxAttempts = 1
	s := &sim{t: t, c: newTestCore(t, cfg, iss("a", 1)), now: t0}
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	if res, err := s.c.fail(s.now, "w", l.ID, l.Epoch, "boom"); err != nil || !res.DeadLettered {
		t.Fatalf("fail: %+v %v", res, err)
	}
	s.step()
	s.ch = nil
	m := s.meta("a")
	edit := iss("a", 1, withStatus(m.Status))
	edit.Assignee, edit.UpdatedAt = m.Assignee, s.now.Add(time.Second) // labels: none, so gtc:failed is gone
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: edit, Actor: "gtc-cli@alice"}}); err != nil {
		t.Fatal(err)
	}
	s.step()
	said := s.said("status_changed")
	if want := "gtc-cli@alice: out of dead letter (label gtc:failed removed): a fresh attempt budget"; len(said) != 1 || said[0] != want {
		t.Errorf("status_changed events %q, want [%q]", said, want)
	}
	if st := s.c.status(); st.Issues.DeadLettered != 0 || s.meta("a").Attempts != 0 {
		t.Errorf("not revived: %+v, attempts %d", st.Issues, s.meta("a").Attempts)
	}
}
