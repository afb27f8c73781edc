package coord

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestSlabPointersSurviveGrowthAndResetZeroes(t *testing.T) {
	var s slab[LeasePut]
	var ps []*LeasePut
	for i := range 3*slabChunk + 5 {
		p := s.alloc()
		if p.Lease.Epoch != 0 {
			t.Fatalf("value %d handed out dirty: %+v", i, p.Lease)
		}
		p.Lease.Epoch = int64(i + 1)
		ps = append(ps, p)
	}
	for i, p := range ps {
		if p.Lease.Epoch != int64(i+1) {
			t.Fatalf("value %d changed as the slab grew: epoch %d", i, p.Lease.Epoch)
		}
	}
	s.reset()
	for i := range ps {
		if ps[i].Lease.Epoch != 0 {
			t.Fatalf("value %d not cleared by reset", i)
		}
	}
	if p := s.alloc(); p != ps[0] {
		t.Fatal("reset slab does not reuse its first value")
	}
	var big slab[EventAppend]
	for range (slabKeep + 2) * slabChunk {
		big.alloc().Event.Kind = "x"
	}
	big.reset()
	if len(big.chunks) != slabKeep {
		t.Fatalf("reset after a huge batch kept %d chunks, want %d", len(big.chunks), slabKeep)
	}
	for i := range slabDecay {
		if len(big.chunks) != slabKeep {
			t.Fatalf("%d small batches after a huge one: %d chunks kept, want %d", i, len(big.chunks), slabKeep)
		}
		big.alloc()
		big.reset()
	}
	if len(big.chunks) != slabKeep-1 {
		t.Fatalf("%d small batches after a huge one: %d chunks kept, want %d", slabDecay, len(big.chunks), slabKeep-1)
	}
	for range slabKeep * slabDecay {
		big.alloc()
		big.reset()
	}
	if len(big.chunks) != slabFloor {
		t.Fatalf("a slab of one-value batches kept %d chunks, want %d", len(big.chunks), slabFloor)
	}
}

// snapPersister records, at the start of each Commit, a rendering of every change (pointers followed),
// and checks after a pause, while the engine applies the next batch, that none of them changed.
type snapPersister struct {
	*memPersister
	mu      sync.Mutex
	changed []string
}

func (s *snapPersister) Commit(ctx context.Context, chs []Change) error {
	before := Render(chs)
	time.Sleep(2 * time.Millisecond) // the engine applies the requests that come meanwhile
	after := Render(chs)
	for i := range before {
		if before[i] != after[i] {
			s.mu.Lock()
			s.changed = append(s.changed, before[i]+" -> "+after[i])
			s.mu.Unlock()
		}
	}
	return s.memPersister.Commit(ctx, chs)
}

// TestEngineBatchValuesStableDuringCommit: the values a batch's changes point to are reused only after
// its commit returned, never while the next batch is applied on top of it.
func TestEngineBatchValuesStableDuringCommit(t *testing.T) {
	var is []IssuePut
	for i := range 300 {
		is = append(is, puts(iss(fmt.Sprintf("a-%03d", i), i%5))...)
	}
	mp := newMemPersister(nil)
	sp := &snapPersister{memPersister: mp}
	h := startEngineOn(t, testCfg(), mp, sp, NewFakeClock(t0))
	if err := h.e.PutIssues(h.ctx, is); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		name := fmt.Sprintf("w%d", w)
		if _, err := h.e.Connect(h.ctx, Hello{Name: name}, uint64(w+1)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	var mu sync.Mutex
	finished := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case p := <-h.out.pushed:
					l := p.A.Lease
					if err := h.e.Ack(h.ctx, p.Worker, l.ID, l.Epoch); err != nil {
						t.Error(err)
						return
					}
					if _, err := h.e.Complete(h.ctx, p.Worker, l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					finished++
					if finished == len(is) {
						close(done)
					}
					mu.Unlock()
				case <-done:
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		sp.mu.Lock()
		defer sp.mu.Unlock()
		t.Fatalf("the cycles did not finish; %d changes were modified during their commit: %q", len(sp.changed),
			sp.changed[:min(1, len(sp.changed))])
	}
	wg.Wait()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if len(sp.changed) > 0 {
		t.Fatalf("%d changes were modified during their commit, first: %s", len(sp.changed), sp.changed[0])
	}
	if st := h.e.Status(); st.Issues.Closed != len(is) {
		t.Fatalf("closed %d of %d", st.Issues.Closed, len(is))
	}
}
