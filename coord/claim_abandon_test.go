package coord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// gatePersister holds a Commit while its gate is set, until the gate opens; with failAfter, the commit
// after the gated one fails.
type gatePersister struct {
	*memPersister
	mu        sync.Mutex
	gate      chan struct{}
	failAfter bool
	failing   bool
}

func (g *gatePersister) Commit(ctx context.Context, chs []Change) error {
	g.mu.Lock()
	gate, fail := g.gate, g.failing
	g.gate, g.failing = nil, false
	g.mu.Unlock()
	if gate != nil {
		<-gate
		g.mu.Lock()
		g.failing = g.failAfter
		g.mu.Unlock()
	} else if fail {
		return errors.New("disk full")
	}
	return g.memPersister.Commit(ctx, chs)
}

// abandonDuringCommit runs an engine on gp (until the test ends), parks a claim of client c, lets a put
// (batch A) match it while A's commit waits at gp's gate, cancels the claim's caller, then opens the
// gate; it returns once Claim has returned.
func abandonDuringCommit(t *testing.T, clk *FakeClock, gp *gatePersister) *Engine {
	t.Helper()
	e, err := NewEngine(testCfg(), clk, gp, nil, newRecOutbox())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	bg := context.Background()
	if _, err := e.Connect(bg, Hello{Name: "c", Role: "client"}, 1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() { _, err := e.Claim(cctx, "c", &Filters{Labels: []string{"x"}}, time.Hour); errc <- err }()
	for i := 0; i < 500; i++ {
		n := 0
		e.read(func(c *core) { n = c.waiters.n })
		if n == 1 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	gate := make(chan struct{})
	gp.mu.Lock()
	gp.gate = gate
	gp.mu.Unlock()
	go func() { _ = e.PutIssues(bg, puts(iss("want", 1, withLabels("x")))) }() // batch A: matches the parked claim, commit blocks
	time.Sleep(50 * time.Millisecond)
	cancel() // the caller goes away while A commits
	time.Sleep(50 * time.Millisecond)
	close(gate)
	if err := <-errc; err == nil {
		t.Fatal("the abandoned claim returned no error")
	}
	return e
}

// liveLeases lists the engine's live leases.
func liveLeases(e *Engine) []Lease {
	var leases []Lease
	e.read(func(c *core) {
		for _, l := range c.leases {
			leases = append(leases, *l)
		}
	})
	return leases
}

// A parked claim matched in a batch whose commit is under way, abandoned by its caller before the
// commit lands, must not leave a lease that nobody holds.
func TestAbandonedClaimDuringCommitLeavesNoLease(t *testing.T) {
	e := abandonDuringCommit(t, NewFakeClock(t0), &gatePersister{memPersister: newMemPersister(nil)})
	if leases := liveLeases(e); len(leases) != 0 {
		t.Errorf("abandoned claim left a live lease: %+v", leases)
	}
}

// TestAbandonedClaimReleaseSurvivesFailedCommit: the same, with the commit that gives the lease back
// failing: the give-back is applied again after the rebuild, once the retry delay after the failure is
// over, instead of the lease staying live, held by nobody, until it expires as a failed attempt.
func TestAbandonedClaimReleaseSurvivesFailedCommit(t *testing.T) {
	clk := NewFakeClock(t0)
	mp := newMemPersister(nil)
	e := abandonDuringCommit(t, clk, &gatePersister{memPersister: mp, failAfter: true})
	time.Sleep(50 * time.Millisecond)
	clk.Advance(2 * time.Second) // past the retry delay after the failed commit
	time.Sleep(50 * time.Millisecond)
	if leases := liveLeases(e); len(leases) != 0 {
		t.Errorf("abandoned claim left a live lease after the release's commit failed: %+v", leases)
	}
	snap, _ := mp.Load(context.Background())
	if len(snap.Leases) != 0 {
		t.Errorf("store holds live lease %+v for the abandoned claim", snap.Leases)
	}
}
