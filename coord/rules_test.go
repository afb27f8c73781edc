package coord

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

func TestDeferUntilTimer(t *testing.T) {
	at := t0.Add(90 * time.Second)
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("d", 0, func(i *beads.Issue) { i.DeferUntil = &at })), now: t0}
	s.connect("w", 1, Filters{})
	if len(s.pushes()) != 0 {
		t.Fatal("deferred issue pushed early")
	}
	if dl, ok := s.c.nextDeadline(); !ok || dl.After(at) {
		t.Fatalf("no timer for defer_until: %v %v", dl, ok)
	}
	s.advance(89 * time.Second)
	if len(s.pushes()) != 0 {
		t.Fatal("pushed before defer_until")
	}
	s.advance(time.Second)
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "d" {
		t.Fatalf("at defer_until: %+v", p)
	}
}

func TestEpochFromSnapshotAndStatusNames(t *testing.T) {
	cfg := testCfg()
	cfg.StatusHooked, cfg.StatusInProgress, cfg.StatusClosed = "assigned", "working", "done"
	snap := &Snapshot{MaxEpoch: 100, Issues: []IssueMeta{MetaOf(iss("a", 1))}}
	c := newCore(cfg, snap, t0)
	s := &sim{t: t, c: c, now: t0}
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	if l.Epoch != 101 || l.ID != "L-101" {
		t.Fatalf("lease %+v", l)
	}
	if m := s.meta("a"); m.Status != "assigned" {
		t.Fatalf("status %q", m.Status)
	}
	_ = c.ack(s.now, "w", l.ID, l.Epoch)
	if m := s.meta("a"); m.Status != "working" {
		t.Fatalf("status %q", m.Status)
	}
	if res, _ := c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{}); res.Status != "done" || c.status().Issues.Closed != 1 {
		t.Fatalf("closed as %+v", res)
	}
}

func TestBackoffJitterDeterministic(t *testing.T) {
	run := func(seed uint64) []time.Duration {
		cfg := testCfg()
		cfg.Rand = rand.NewPCG(seed, 1)
		c := newCore(cfg, nil, t0)
		var out []time.Duration
		for n := 1; n <= 8; n++ {
			d := c.backoff(n)
			base := 5 * time.Second << (n - 1)
			if base > 5*time.Minute {
				base = 5 * time.Minute
			}
			if d < base/2 || d > base {
				t.Fatalf("backoff(%d) = %v outside [%v, %v]", n, d, base/2, base)
			}
			out = append(out, d)
		}
		return out
	}
	a, b, other := run(3), run(3), run(4)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different jitter: %v vs %v", a, b)
		}
		same = same && a[i] == other[i]
	}
	if same {
		t.Fatal("jitter ignores its source")
	}
}

func TestTombstoneAndHookedNeverPushed(t *testing.T) {
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("x", 0, withStatus("tombstone")), iss("h", 0, withStatus("hooked")),
		iss("ok", 4)), now: t0}
	s.connect("w", 5, Filters{})
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "ok" {
		t.Fatalf("pushes %+v", p)
	}
}

func TestRestartSuspendsDeadlinesUntilGrace(t *testing.T) {
	// A lease whose heartbeat deadline passed while the server was down survives the grace after restart.
	old := t0.Add(-10 * time.Minute)
	l := Lease{ID: "L-5", IssueID: "a", Worker: "w", Epoch: 5, State: LeaseAcked, Attempt: 1, CreatedAt: old,
		AckDeadline: old.Add(10 * time.Second), Deadline: old.Add(time.Minute)}
	m := MetaOf(iss("a", 1, withStatus("in_progress"), func(i *beads.Issue) { i.Assignee = "w" }))
	snap := &Snapshot{MaxEpoch: 5, Issues: []IssueMeta{m}, Leases: []Lease{l},
		Workers: []WorkerRow{{Name: "w", Role: "worker", Capacity: 1, State: WorkerBusy}}}
	for _, back := range []bool{true, false} {
		s := &sim{t: t, c: newCore(testCfg(), snap, t0), now: t0}
		s.advance(29 * time.Second)
		if _, ok := s.c.lease("L-5"); !ok {
			t.Fatal("lease expired inside the grace")
		}
		if back {
			a, _ := s.c.connect(s.now, Hello{Name: "w"}, 9)
			if len(a) != 1 || !a[0].Lease.Deadline.After(s.now) {
				t.Fatalf("resumed %+v", a)
			}
			s.advance(59 * time.Second)
			if _, ok := s.c.lease("L-5"); !ok {
				t.Fatal("reconnect did not renew the heartbeat deadline")
			}
			continue
		}
		s.advance(time.Second)
		if _, ok := s.c.lease("L-5"); ok || s.meta("a").Attempts != 1 {
			t.Fatalf("lease outlived the grace: %+v", s.meta("a"))
		}
	}
}
