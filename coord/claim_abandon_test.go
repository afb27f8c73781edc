package coord

import (
	"context"
	"sync"
	"testing"
	"time"
)

// gatePersister holds every Commit until its gate opens.
type gatePersister struct {
	*memPersister
	mu   sync.Mutex
	gate chan struct{}
}

func (g *gatePersister) Commit(ctx context.Context, chs []Change) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.memPersister.Commit(ctx, chs)
}

// A parked claim matched in a batch whose commit is under way, abandoned by its caller before the
// commit lands, must not leave a lease that nobody holds.
func TestAbandonedClaimDuringCommitLeavesNoLease(t *testing.T) {
	clk := NewFakeClock(t0)
	mp := newMemPersister(nil)
	gp := &gatePersister{memPersister: mp}
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
	go func() { _ = e.PutIssues(bg, puts(iss("want", 1, withLabels("x")))) }() // batch A: matches the parked claim, commit blocks
	time.Sleep(50 * time.Millisecond)
	cancel() // the caller goes away while A commits
	time.Sleep(50 * time.Millisecond)
	gp.mu.Lock()
	gp.gate = nil
	gp.mu.Unlock()
	close(gate)
	if err := <-errc; err == nil {
		t.Fatal("the abandoned claim returned no error")
	}
	var leases []Lease
	e.read(func(c *core) {
		for _, l := range c.leases {
			leases = append(leases, *l)
		}
	})
	if len(leases) != 0 {
		t.Errorf("abandoned claim left a live lease: %+v", leases)
	}
}
