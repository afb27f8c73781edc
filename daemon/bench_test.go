package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
)

// processCPU returns the user and system CPU time the process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// chanOutbox hands each worker's pushes to its channel.
type chanOutbox struct {
	ch map[string]chan coord.Assignment
}

func (o chanOutbox) Push(w string, _ uint64, a coord.Assignment)        { o.ch[w] <- a }
func (chanOutbox) Cancel(string, uint64, string, int64, string, string) {}
func (chanOutbox) Publish(coord.Event)                                  {}
func (chanOutbox) PushMerge(string, uint64, coord.MergeRequest)         {}
func (chanOutbox) CancelMerge(string, uint64, coord.MergeRequest)       {}

// seedStore creates a store holding n open issues.
// commitCounter counts commits and the changes they carried.
type commitCounter struct{ commits, changes atomic.Int64 }

func (*commitCounter) ObserveRead(string, time.Duration) {}
func (*commitCounter) ObserveWrite(time.Duration)        {}
func (c *commitCounter) ObserveCommit(_ time.Duration, n int) {
	c.commits.Add(1)
	c.changes.Add(int64(n))
}

func seedStore(b *testing.B, n int) *store.DB {
	db, _ := seedStoreCounted(b, n)
	return db
}

// seedStoreCounted is seedStore with a commit counter attached to the store.
func seedStoreCounted(b *testing.B, n int) (*store.DB, *commitCounter) {
	b.Helper()
	ctx := context.Background()
	cc := &commitCounter{}
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "gtc.db"), store.Options{Observer: cc})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var batch []coord.Change
	for i := 0; i < n; i++ {
		is := beads.Issue{ID: fmt.Sprintf("bd-%07d", i), Title: "benchmark issue", Description: "some work to do",
			Status: "open", Priority: i % 5, IssueType: "task", CreatedAt: base.Add(time.Duration(i) * time.Second), UpdatedAt: base}
		if i%10 == 9 {
			is.Dependencies = []beads.Dependency{{IssueID: is.ID, DependsOnID: fmt.Sprintf("bd-%07d", i-1), Type: "blocks", CreatedAt: base}}
		}
		batch = append(batch, coord.IssuePut{Issue: is, FromImport: true})
		if len(batch) == 1000 {
			if err := db.Commit(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := db.Commit(ctx, batch); err != nil {
		b.Fatal(err)
	}
	return db, cc
}

// BenchmarkDurableCycles measures assignment + ack + completion cycles through the engine with every
// decision committed to SQLite (group commit), no network: a store of 100,000 issues (more if b.N needs
// them) and 100 or 1,000 in-process workers.
func BenchmarkDurableCycles(b *testing.B) {
	for _, workers := range []int{100, 1000} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchDurableCycles(b, workers) })
	}
}

func benchDurableCycles(b *testing.B, workers int) {
	db, cc := seedStoreCounted(b, max(100_000, b.N+workers))
	snap, err := db.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	out := chanOutbox{ch: map[string]chan coord.Assignment{}}
	for i := 0; i < workers; i++ {
		out.ch[fmt.Sprintf("w%03d", i)] = make(chan coord.Assignment, 4)
	}
	e, err := coord.NewEngine(coord.Config{}, coord.RealClock{}, db, snap, out)
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
	start, cpu0 := time.Now(), processCPU()
	commits0, changes0 := cc.commits.Load(), cc.changes.Load()
	session := uint64(0)
	for name, ch := range out.ch {
		session++
		wg.Add(1)
		go func(name string, session uint64, ch chan coord.Assignment) {
			defer wg.Done()
			if _, err := e.Connect(ctx, coord.Hello{Name: name}, session); err != nil {
				return
			}
			for {
				select {
				case a := <-ch:
					l := a.Lease
					err := e.Ack(ctx, name, l.ID, l.Epoch)
					if err == nil {
						_, err = e.Complete(ctx, name, l.ID, l.Epoch, coord.SessionResult{Outcome: coord.OutcomeSuccess})
					}
					if err != nil {
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
		}(name, session, ch)
	}
	<-all
	el := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "cycles/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/cycle")
	b.ReportMetric(float64(cc.changes.Load()-changes0)/float64(max(1, cc.commits.Load()-commits0)), "changes/commit")
	cancel()
	wg.Wait()
	<-done
}

// BenchmarkRebuild100k measures a restart: loading 100,000 issues from SQLite and rebuilding the
// scheduler (ready set, heap) from them.
func BenchmarkRebuild100k(b *testing.B) {
	db := seedStore(b, 100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap, err := db.Load(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Issues) != 100_000 {
			b.Fatalf("loaded %d issues, want 100000", len(snap.Issues))
		}
		if _, err := coord.NewEngine(coord.Config{}, coord.RealClock{}, db, snap, chanOutbox{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchClient is a client connection to h's coordinator, said hello.
func benchClient(b *testing.B, h *harness) *rpc.Client {
	ctx := context.Background()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Hello(ctx, rpc.HelloParams{Name: "cli", Role: "client", Protocol: 1}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// BenchmarkCreateManyLabels is 3 issue.creates of an issue carrying n labels.
func BenchmarkCreateManyLabels(b *testing.B) {
	for _, n := range []int{2500, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := start(b, nil, func(c *Config) { c.SyncInterval = time.Hour })
			c := benchClient(b, h)
			labels := make([]string, n)
			for i := range labels {
				labels[i] = fmt.Sprintf("label-%05d", i)
			}
			it := 0
			for b.Loop() {
				for k := range 3 {
					if _, err := c.IssueCreate(context.Background(), rpc.IssueCreateParams{ID: fmt.Sprintf("x-%d-%d", it, k), Title: "t", Labels: labels}); err != nil {
						b.Fatal(err)
					}
				}
				it++
			}
		})
	}
}

// BenchmarkCreateManyDeps is 3 issue.creates of an issue depending on n existing issues.
func BenchmarkCreateManyDeps(b *testing.B) {
	for _, n := range []int{2500, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			lines := make([]string, n)
			deps := make([]rpc.DepSpec, n)
			for i := range lines {
				id := fmt.Sprintf("d-%05d", i)
				lines[i] = line(id, "t", 2)
				deps[i] = rpc.DepSpec{ID: id}
			}
			h := start(b, lines, func(c *Config) { c.SyncInterval = time.Hour })
			c := benchClient(b, h)
			it := 0
			for b.Loop() {
				for k := range 3 {
					if _, err := c.IssueCreate(context.Background(), rpc.IssueCreateParams{ID: fmt.Sprintf("x-%d-%d", it, k), Title: "t", Deps: deps}); err != nil {
						b.Fatal(err)
					}
				}
				it++
			}
		})
	}
}
