package coord

import (
	"errors"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestLabelAddedToReadyIssueIsDispatched: a put that gives a ready (already heaped) issue the label an
// idle filtered worker waits for hands it to that worker.
func TestLabelAddedToReadyIssueIsDispatched(t *testing.T) {
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("a", 1)), now: t0}
	s.connect("w", 1, Filters{Labels: []string{"x"}})
	if len(s.pushes()) != 0 {
		t.Fatal("pushed without the label")
	}
	is := iss("a", 1, withLabels("x"))
	is.UpdatedAt = t0
	if err := s.c.putIssues(s.now, puts(is)); err != nil {
		t.Fatal(err)
	}
	s.step()
	if p := s.pushes(); len(p) != 1 {
		t.Fatalf("labelled ready issue not pushed to the idle worker filtering on it: %d pushes, ready=%v, needDispatch=%v",
			len(p), s.c.readyIDs(0), s.c.needDispatch)
	}
}

// TestTypeChangeServesParkedClaim: the same for a parked claim (claim with wait) and a type change.
func TestTypeChangeServesParkedClaim(t *testing.T) {
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("a", 1, withType("bug"))), now: t0}
	if _, err := s.c.connect(s.now, Hello{Name: "c", Role: "client"}, 1); err != nil {
		t.Fatal(err)
	}
	s.step()
	_, id, err := s.c.claim(s.now, "c", &Filters{Types: []string{"task"}}, time.Minute)
	if err != nil || id == 0 {
		t.Fatalf("claim %v %v", id, err)
	}
	s.step()
	is := iss("a", 1, withType("task"))
	is.UpdatedAt = t0
	_ = s.c.putIssues(s.now, puts(is))
	s.step()
	got := 0
	for _, e := range s.ef {
		if ce, ok := e.(claimEffect); ok && ce.a != nil {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("parked claim not served after the issue started matching (ready=%v)", s.c.readyIDs(0))
	}
}

// TestRollbackKeepsGrace: a failed commit (the core rebuilt from the store) does not restart the
// reconnect grace of a disconnected worker: its leases still end 30 s after it left.
func TestRollbackKeepsGrace(t *testing.T) {
	h, mp, clk := engineWithWorker(t)
	ctx := h.ctx
	l := h.nextPush().A.Lease
	if err := h.e.Ack(ctx, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Disconnect(ctx, "w", 1); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Second)
	mp.setFail(errors.New("disk full"))
	if err := h.e.PutIssues(ctx, puts(iss("c", 0))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put during failure: %v", err)
	}
	mp.setFail(nil)
	clk.Advance(10 * time.Second) // 35s after the disconnect: grace (30s) is over
	h.e.Status()
	if got, ok := h.e.Lease(l.ID); ok {
		t.Fatalf("lease of a worker gone 35s (grace 30s) still live after a failed commit at 25s: %+v", got)
	}
}

// TestRollbackDispatchesWithoutRequest: after a failed commit the rebuilt core hands its ready work to
// an idle worker by itself (at the retry time), without waiting for some request to arrive.
func TestRollbackDispatchesWithoutRequest(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	h := startEngine(t, testCfg(), mp, clk)
	ctx := h.ctx
	at := t0.Add(5 * time.Second)
	_ = h.e.PutIssues(ctx, puts(iss("d", 1, func(i *beads.Issue) { i.DeferUntil = &at })))
	if _, err := h.e.Connect(ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	h.noPush()
	mp.setFail(errors.New("disk full"))
	clk.Advance(5 * time.Second) // defer ends: push decided, commit fails, rollback
	deadline := time.Now().Add(2 * time.Second)
	for mp.f.snapshot() != nil && h.e.Health() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mp.setFail(nil)
	for i := 0; i < 5; i++ {
		clk.Advance(time.Second) // retryAt and well beyond
		time.Sleep(20 * time.Millisecond)
	}
	clk.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	select {
	case <-h.out.pushed:
	default:
		st := h.e.Status() // any request unsticks it
		t.Fatalf("ready issue not pushed to an idle worker for an hour after a failed commit (status %+v)", st)
	}
}

// engineWithWorker runs an engine on a memory persister and a fake clock, with issues a and b and
// worker w connected (a is pushed to it).
func engineWithWorker(t *testing.T) (*harness, *memPersister, *FakeClock) {
	t.Helper()
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	h := startEngine(t, testCfg(), mp, clk)
	_ = h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2)))
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	return h, mp, clk
}

// TestPushUnblockingIssueServesParkedClaim: a push made by a dispatch can make another issue ready (b is
// held by a conditional-blocks edge on a only while a is open); a parked claim that can take it is served
// by that same dispatch, not left waiting for some later request to run one.
func TestPushUnblockingIssueServesParkedClaim(t *testing.T) {
	b := iss("b", 1, withLabels("x"), func(i *beads.Issue) {
		i.Dependencies = []beads.Dependency{{IssueID: "b", DependsOnID: "a", Type: depConditional}}
	})
	s := &sim{t: t, c: newTestCore(t, testCfg(), iss("a", 1), b), now: t0}
	if _, err := s.c.connect(s.now, Hello{Name: "c", Role: "client"}, 1); err != nil {
		t.Fatal(err)
	}
	s.step()
	_, id, err := s.c.claim(s.now, "c", &Filters{Labels: []string{"x"}}, time.Minute)
	if err != nil || id == 0 {
		t.Fatalf("claim %v %v", id, err)
	}
	s.step()
	s.connect("w", 1, Filters{}) // a is pushed to w: b is ready now
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "a" {
		t.Fatalf("pushes %+v, want a to w", p)
	}
	got := ""
	for _, e := range s.ef {
		if ce, ok := e.(claimEffect); ok && ce.waiter == id && ce.a != nil {
			got = ce.a.Lease.IssueID
		}
	}
	if got != "b" {
		t.Fatalf("parked claim served %q, want b (ready %v, needDispatch %v)", got, s.c.readyIDs(0), s.c.needDispatch)
	}
}
