package coord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// failAfterGate: the gated commit succeeds, the one after it fails.
type failAfterGate struct {
	*memPersister
	mu      sync.Mutex
	gate    chan struct{}
	failNxt bool
}

func (g *failAfterGate) Commit(ctx context.Context, chs []Change) error {
	g.mu.Lock()
	gate, fn := g.gate, g.failNxt
	g.mu.Unlock()
	if gate != nil {
		<-gate
		g.mu.Lock()
		g.gate, g.failNxt = nil, true
		g.mu.Unlock()
		return g.memPersister.Commit(ctx, chs)
	}
	if fn {
		g.mu.Lock()
		g.failNxt = false
		g.mu.Unlock()
		return errors.New("disk full")
	}
	return g.memPersister.Commit(ctx, chs)
}

// TestAbandonedClaimReleaseSurvivesFailedCommit: a parked claim is matched in a batch whose commit is
// under way when its caller leaves; the lease is given back with the next batch, and when that commit
// fails the give-back is applied again after the rebuild, instead of the lease staying live, held by
// nobody, until it expires as a failed attempt (given back once the retry delay after the failure is
// over, like the rest of what the rebuilt core does by itself).
func TestAbandonedClaimReleaseSurvivesFailedCommit(t *testing.T) {
	clk := NewFakeClock(t0)
	mp := newMemPersister(nil)
	gp := &failAfterGate{memPersister: mp}
	e, err := NewEngine(testCfg(), clk, gp, nil, newRecOutbox())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { stop(); <-done }()
	bg := context.Background()
	if _, err := e.Connect(bg, Hello{Name: "c", Role: "client"}, 1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(bg)
	errc := make(chan error, 1)
	go func() { _, err := e.Claim(cctx, "c", &Filters{Labels: []string{"x"}}, time.Hour); errc <- err }()
	for i := 0; i < 500; i++ {
		n := 0
		e.read(func(c *core) { n = len(c.waiters) })
		if n == 1 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	gate := make(chan struct{})
	gp.mu.Lock()
	gp.gate = gate
	gp.mu.Unlock()
	go func() { _ = e.PutIssues(bg, puts(iss("want", 1, withLabels("x")))) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	if err := <-errc; err == nil {
		t.Fatal("the abandoned claim returned no error")
	}
	time.Sleep(50 * time.Millisecond)
	clk.Advance(2 * time.Second) // past the retry delay after the failed commit
	time.Sleep(50 * time.Millisecond)
	var leases []Lease
	e.read(func(c *core) {
		for _, l := range c.leases {
			leases = append(leases, *l)
		}
	})
	if len(leases) != 0 {
		t.Errorf("abandoned claim left a live lease after the release's commit failed: %+v", leases)
	}
	snap, _ := mp.Load(bg)
	if len(snap.Leases) != 0 {
		t.Errorf("store holds live lease %+v for the abandoned claim", snap.Leases)
	}
}
