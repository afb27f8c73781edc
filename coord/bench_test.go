package coord

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

// benchCore builds a core with n ready issues (random priorities, 10% labelled) and w idle workers
// of capacity 1; filtered is the share of workers with a label filter.
func benchCore(b *testing.B, n, w int, filtered float64) *core {
	rnd := rand.New(rand.NewPCG(7, 7))
	c := newCore(testCfg(), nil, t0)
	ps := make([]IssuePut, n)
	for i := range ps {
		is := iss(fmt.Sprintf("bd-%06d", i), rnd.IntN(5), withCreated(t0.Add(-time.Duration(rnd.IntN(1e6))*time.Second)))
		if i%10 == 0 {
			is.Labels = []string{"backend"}
		}
		ps[i] = IssuePut{Issue: is}
	}
	if err := c.putIssues(t0, ps); err != nil {
		b.Fatal(err)
	}
	c.pause(t0, true, "")
	for i := 0; i < w; i++ {
		f := Filters{}
		if float64(i) < filtered*float64(w) {
			f.Labels = []string{"backend"}
		}
		if _, err := c.connect(t0, Hello{Name: fmt.Sprintf("w%04d", i), Filters: f}, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	c.pause(t0, false, "")
	c.dispatch(t0)
	c.take()
	return c
}

// BenchmarkCoreDecision measures one scheduling decision (pop the best issue for the longest-idle
// worker, lease it, record its Changes) with 100,000 issues and 1,000 workers. Each iteration first
// completes one lease and adds one new issue (untimed in the percentiles) so the sizes stay constant.
func BenchmarkCoreDecision(b *testing.B) {
	for _, filtered := range []float64{0, 0.1} {
		b.Run(fmt.Sprintf("filtered=%.0f%%", filtered*100), func(b *testing.B) {
			c := benchCore(b, 100_000, 1_000, filtered)
			lat := make([]time.Duration, 0, b.N)
			next := 100_000
			now := t0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now = now.Add(time.Millisecond)
				var l *Lease
				for _, x := range c.leases {
					l = x
					break
				}
				if _, err := c.complete(now, l.Worker, l.ID, l.Epoch, SessionResult{}); err != nil {
					b.Fatal(err)
				}
				is := iss(fmt.Sprintf("bd-%06d", next), next%5, withCreated(now))
				// a worker that filters on the label frees its slot: the new issue is one it can take, so
				// labelled issues do not run out however long the run
				if next%10 == 0 || len(c.workers[l.Worker].row.Filters.Labels) > 0 {
					is.Labels = []string{"backend"}
				}
				next++
				_ = c.putIssues(now, puts(is))
				c.take()
				start := time.Now()
				c.dispatch(now)
				ch, _ := c.take()
				lat = append(lat, time.Since(start))
				if len(ch) == 0 {
					b.Fatal("no decision")
				}
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
		})
	}
}

// nopPersister commits nothing.
type nopPersister struct{}

func (nopPersister) Commit(context.Context, []Change) error { return nil }

// chanOutbox hands pushes to per-worker channels.
type chanOutbox struct{ ch map[string]chan Assignment }

func (o chanOutbox) Push(w string, _ uint64, a Assignment)              { o.ch[w] <- a }
func (chanOutbox) Cancel(string, uint64, string, int64, string, string) {}
func (chanOutbox) Publish(Event)                                        {}

// BenchmarkEngineCycle measures engine throughput of push+ack+complete cycles with a no-op
// persister: 100 worker goroutines, b.N issues preloaded.
func BenchmarkEngineCycle(b *testing.B) {
	benchEngineCycles(b, func(ctx context.Context, e *Engine, name string) func(Lease) error {
		return func(l Lease) error {
			err := e.Ack(ctx, name, l.ID, l.Epoch)
			if err == nil {
				_, err = e.Complete(ctx, name, l.ID, l.Epoch, SessionResult{})
			}
			return err
		}
	})
}

// BenchmarkEngineCycleAsync is BenchmarkEngineCycle with the calls a server makes for a worker's
// replies: AckAsync and CompleteAsync, answered through callbacks made once per worker.
func BenchmarkEngineCycleAsync(b *testing.B) {
	benchEngineCycles(b, func(_ context.Context, e *Engine, name string) func(Lease) error {
		errc := make(chan error, 1)
		acked := func(err error) { errc <- err }
		completed := func(_ Result, err error) { errc <- err }
		return func(l Lease) error {
			e.AckAsync(name, l.ID, l.Epoch, acked)
			err := <-errc
			if err == nil {
				e.CompleteAsync(name, l.ID, l.Epoch, SessionResult{}, completed)
				err = <-errc
			}
			return err
		}
	})
}

// benchEngineCycles runs b.N cycles on an engine with a no-op persister and 100 worker goroutines;
// worker makes each worker's ack-and-complete of a pushed lease.
func benchEngineCycles(b *testing.B, worker func(ctx context.Context, e *Engine, name string) func(Lease) error) {
	const workers = 100
	out := chanOutbox{ch: map[string]chan Assignment{}}
	for i := 0; i < workers; i++ {
		out.ch[fmt.Sprintf("w%03d", i)] = make(chan Assignment, 4)
	}
	snap := &Snapshot{}
	for i := 0; i < b.N; i++ {
		snap.Issues = append(snap.Issues, MetaOf(iss(fmt.Sprintf("bd-%07d", i), i%5)))
	}
	e, err := NewEngine(testCfg(), RealClock{}, nopPersister{}, snap, out)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		finished int
		all      = make(chan struct{})
	)
	b.ResetTimer()
	start := time.Now()
	for name, ch := range out.ch {
		wg.Add(1)
		go func(name string, ch chan Assignment) {
			defer wg.Done()
			if _, err := e.Connect(ctx, Hello{Name: name}, 1); err != nil {
				if ctx.Err() == nil {
					b.Error(err)
				}
				return
			}
			cycle := worker(ctx, e, name)
			for {
				select {
				case a := <-ch:
					if err := cycle(a.Lease); err != nil {
						if ctx.Err() == nil {
							b.Error(err)
						}
						return
					}
					mu.Lock()
					finished++
					if finished == b.N {
						close(all)
					}
					mu.Unlock()
				case <-all:
					return
				case <-ctx.Done():
					return
				}
			}
		}(name, ch)
	}
	<-all
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "cycles/s")
	cancel()
	wg.Wait()
	<-done
}
