package coord

import (
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestAssignedIssueGoesToItsAssignee: an open issue bd (or a person, or Gas Town's sling) assigned to
// a worker is that worker's. bd's claim takes an issue only while its assignee is empty; gtc gave it
// to any free worker and overwrote the assignee, and a release then left it assigned to nobody.
//   - it is pushed (or claimed) only to the worker of that name, which takes it before other work of
//     the same rank;
//   - a lease of it that ends without closing it (release, fail, expiry) leaves it assigned to that
//     worker, and dead-lettering keeps the assignee too;
//   - an issue with no assignee is still anyone's, and its assignee is cleared again when the lease ends.
func TestAssignedIssueGoesToItsAssignee(t *testing.T) {
	withAssignee := func(a string) func(*beads.Issue) { return func(i *beads.Issue) { i.Assignee = a } }
	cfg := testCfg()
	cfg.MaxAttempts = 2
	c := newCore(cfg, nil, t0)
	if err := c.putIssues(t0, puts(iss("t-alice", 0, withAssignee("alice")), iss("t-free", 2))); err != nil {
		t.Fatal(err)
	}
	c.take()
	s := &sim{t: t, c: c, now: t0}

	s.connect("bob", 2, Filters{})
	p := s.pushes()
	if len(p) != 1 || p[0].A.Lease.IssueID != "t-free" {
		t.Fatalf("bob got %+v, want t-free alone (t-alice is alice's)", p)
	}
	if a, _, err := s.c.claim(s.now, "bob", nil, 0); err != nil || a != nil {
		t.Fatalf("bob's claim took %+v (%v): t-alice is alice's", a, err)
	}
	// an unassigned issue's lease clears the assignee gtc set when it ends
	lf := p[0].A.Lease
	if _, err := s.c.release(s.now, "bob", lf.ID, lf.Epoch, "later"); err != nil {
		t.Fatal(err)
	}
	if m := s.meta("t-free"); m.Status != "open" || m.Assignee != "" {
		t.Fatalf("released t-free: status %q assignee %q, want open and nobody's", m.Status, m.Assignee)
	}
	if err := s.c.drain(s.now, "bob", false, 0); err != nil { // bob takes nothing more: what follows is alice's
		t.Fatal(err)
	}
	s.connect("alice", 1, Filters{Prefixes: []string{"t-alice"}}) // her own work only
	l := s.one().A.Lease
	if l.IssueID != "t-alice" || !l.Reserved {
		t.Fatalf("alice got %+v, want her reserved t-alice", l)
	}
	if err := s.c.ack(s.now, "alice", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	// alice fails once: the issue waits out its backoff still assigned to her, then goes to her again
	if _, err := s.c.fail(s.now, "alice", l.ID, l.Epoch, "boom"); err != nil {
		t.Fatal(err)
	}
	s.step()
	if m := s.meta("t-alice"); m.Status != "open" || m.Assignee != "alice" {
		t.Fatalf("after alice's failure: status %q assignee %q, want open and still alice's", m.Status, m.Assignee)
	}
	s.advance(time.Hour)
	l2 := s.one().A.Lease
	if l2.IssueID != "t-alice" || l2.Worker != "alice" {
		t.Fatalf("retry went to %+v", l2)
	}
	// her second failure dead-letters it: blocked, still hers
	if _, err := s.c.fail(s.now, "alice", l2.ID, l2.Epoch, "boom again"); err != nil {
		t.Fatal(err)
	}
	s.step()
	if m := s.meta("t-alice"); m.Status != "blocked" || m.Assignee != "alice" {
		t.Fatalf("dead-lettered: status %q assignee %q, want blocked and alice's", m.Status, m.Assignee)
	}
}
