package coord

import (
	"testing"

	"github.com/gastown/gtc/beads"
)

// TestReservedSurvivesAnUpdateOfTheLeasedIssue: a change of an assigned issue while its assignee holds
// it (a label, the priority: anything but its status or assignee) leaves the lease reserved, so the
// issue stays that worker's when the lease ends. The update cleared the scheduler's flag with the
// issue's other flags, and a release left alice's issue to anyone.
func TestReservedSurvivesAnUpdateOfTheLeasedIssue(t *testing.T) {
	withAssignee := func(a string) func(*beads.Issue) { return func(i *beads.Issue) { i.Assignee = a } }
	c := newTestCore(t, testCfg(), iss("t-1", 1, withAssignee("alice")))
	s := &sim{t: t, c: c, now: t0}
	s.connect("alice", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.ack(s.now, "alice", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	is := issueOf(s.meta("t-1"))
	is.Assignee = "alice"
	is.Labels = []string{"urgent"}
	is.UpdatedAt = is.UpdatedAt.Add(1)
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: is, KeepState: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.c.drain(s.now, "alice", false, 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.release(s.now, "alice", l.ID, l.Epoch, "later"); err != nil {
		t.Fatal(err)
	}
	if m := s.meta("t-1"); m.Status != "open" || m.Assignee != "alice" {
		t.Fatalf("released: status %q assignee %q, want open and still alice's", m.Status, m.Assignee)
	}
}
