package coord

import (
	"strings"
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
	if err := s.c.drain(s.now, "bob", false, 0, ""); err != nil { // bob takes nothing more: what follows is alice's
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

// TestSlungIssueGoesToItsWorker: Gas Town's sling puts a bead on a worker's hook (status hooked, the
// worker as assignee) and the worker is to run it when it starts. gtc treated every hooked issue as
// taken, so a slung bead sat on the hook of a worker connected to gtc and never reached it.
//   - a hooked issue with an assignee and no lease of gtc's is pushed to the worker of that name only,
//     when its blockers allow, and issue show says so;
//   - a hooked issue with no assignee is on nobody's hook and is not handed out;
//   - the lease ends as any lease of an assigned issue: open, still that worker's.
func TestSlungIssueGoesToItsWorker(t *testing.T) {
	const nux = "gastown/polecats/nux"
	withAssignee := func(a string) func(*beads.Issue) { return func(i *beads.Issue) { i.Assignee = a } }
	c := newTestCore(t, testCfg(),
		iss("t-slung", 2, withStatus("hooked"), withAssignee(nux)),
		iss("t-nobody", 1, withStatus("hooked")),
		iss("t-gate", 1, withAssignee("carol")),
		iss("t-later", 0, withStatus("hooked"), withAssignee(nux), withDep("t-gate", "blocks")),
	)
	for id, want := range map[string]string{
		"t-slung":  "ready, for " + nux + " only: it is on that worker's hook",
		"t-nobody": "not ready: status hooked with no assignee",
		"t-later":  "not ready: blocked by t-gate (open)",
	} {
		if got := c.readiness(c.issues[id]); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want it to start with %q", id, got, want)
		}
	}
	s := &sim{t: t, c: c, now: t0}
	s.connect("bob", 2, Filters{})
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("bob got %+v: the hooked issues are nux's or nobody's, t-gate is carol's", p)
	}
	s.connect(nux, 2, Filters{})
	l := s.one().A.Lease
	if l.IssueID != "t-slung" || !l.Reserved {
		t.Fatalf("nux got %+v, want its slung t-slung, reserved", l)
	}
	if err := s.c.ack(s.now, nux, l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	if m := s.meta("t-slung"); m.Status != "in_progress" || m.Assignee != nux {
		t.Fatalf("acked: status %q assignee %q", m.Status, m.Assignee)
	}
	if err := s.c.drain(s.now, nux, false, 0, ""); err != nil { // nothing more for nux: the release is seen as it is
		t.Fatal(err)
	}
	if _, err := s.c.release(s.now, nux, l.ID, l.Epoch, "later"); err != nil {
		t.Fatal(err)
	}
	s.step()
	if m := s.meta("t-slung"); m.Status != "open" || m.Assignee != nux {
		t.Fatalf("released: status %q assignee %q, want open and still nux's", m.Status, m.Assignee)
	}
	if m := s.meta("t-nobody"); m.Status != "hooked" || m.Assignee != "" {
		t.Fatalf("t-nobody: status %q assignee %q, want untouched", m.Status, m.Assignee)
	}
}
