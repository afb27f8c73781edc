package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// benchDBs caches populated stores across the repeated calls of one benchmark; TestMain removes them.
var benchDBs struct {
	sync.Mutex
	dbs  map[int]*DB
	dirs []string
}

// TestMain closes the cached benchmark stores, then checks that no goroutine leaked.
func TestMain(m *testing.M) {
	code := m.Run()
	benchDBs.Lock()
	for _, db := range benchDBs.dbs {
		_ = db.Close()
	}
	for _, d := range benchDBs.dirs {
		_ = os.RemoveAll(d)
	}
	benchDBs.Unlock()
	if code == 0 {
		// every store was closed: no committer or pool goroutine may outlive it
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// benchIssue is a ~500-byte issue with two labels and one dependency.
func benchIssue(i int) beads.Issue {
	id := fmt.Sprintf("gt-%06d", i)
	is := beads.Issue{
		ID: id, Title: "Benchmark issue " + id, Status: "open", Priority: i % 5, IssueType: "task",
		Description: "Implement the thing described here in enough words to make a realistic body for the issue. " +
			"It spans a couple of sentences, like most agent tasks do, with some detail on acceptance.",
		CreatedAt: t0.Add(time.Duration(i) * time.Second), UpdatedAt: t0.Add(time.Duration(i) * time.Second),
		Labels: []string{"rig:gt", fmt.Sprintf("area:%d", i%17)},
	}
	if i > 0 {
		is.Dependencies = []beads.Dependency{{IssueID: id, DependsOnID: fmt.Sprintf("gt-%06d", i-1), Type: "blocks", CreatedAt: is.CreatedAt}}
	}
	return is
}

// populated returns a store holding n benchmark issues imported with raw bytes.
func populated(b *testing.B, n int) *DB {
	b.Helper()
	benchDBs.Lock()
	defer benchDBs.Unlock()
	if db := benchDBs.dbs[n]; db != nil {
		return db
	}
	dir, err := os.MkdirTemp("", "gtc-store-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDBs.dirs = append(benchDBs.dirs, dir)
	db, err := Open(context.Background(), filepath.Join(dir, "gtc.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	const chunk = 10000
	for lo := 0; lo < n; lo += chunk {
		recs := make([]beads.ImportedRecord, 0, chunk)
		for i := lo; i < min(lo+chunk, n); i++ {
			is := benchIssue(i)
			raw := fmt.Appendf(nil, `{"id":%q,"title":%q,"status":"open","priority":%d,"issue_type":"task"}`, is.ID, is.Title, is.Priority)
			recs = append(recs, beads.ImportedRecord{Issue: is, Raw: raw})
		}
		if err := db.ImportIssues(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	if benchDBs.dbs == nil {
		benchDBs.dbs = map[int]*DB{}
	}
	benchDBs.dbs[n] = db
	return db
}

// reportLatency adds P50 and P95 of the recorded per-operation durations to the benchmark's output.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	pct := func(p float64) float64 {
		i := int(p*float64(len(ds))+0.5) - 1
		return float64(ds[max(0, min(i, len(ds)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.95), "p95-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

func BenchmarkGetIssue(b *testing.B) {
	const n = 10000
	db := populated(b, n)
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	r := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for range b.N {
		id := fmt.Sprintf("gt-%06d", r.IntN(n))
		start := time.Now()
		if _, _, err := db.GetIssue(ctx, id); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

func BenchmarkLease(b *testing.B) {
	db := populated(b, 10000)
	ctx := context.Background()
	if err := db.Commit(ctx, []coord.Change{coord.LeasePut{Lease: coord.Lease{ID: "bench-lease", IssueID: "gt-000001",
		Worker: "w", Epoch: 1, State: coord.LeaseAcked, CreatedAt: t0, Deadline: t0}}}); err != nil {
		b.Fatal(err)
	}
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := db.Lease(ctx, "bench-lease"); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

// stateChange is the hot-path change: a claim or ack of one issue.
func stateChange(r *rand.Rand, n int) coord.IssueState {
	now := time.Now()
	return coord.IssueState{ID: fmt.Sprintf("gt-%06d", r.IntN(n)), Status: "in_progress", Assignee: "w1",
		UpdatedAt: now, StartedAt: &now, Attempts: 1}
}

func BenchmarkCommitOne(b *testing.B) {
	const n = 10000
	db := populated(b, n)
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	r := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	for range b.N {
		c := []coord.Change{stateChange(r, n)}
		start := time.Now()
		if err := db.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

func BenchmarkCommitBatch1024(b *testing.B) {
	const n, batch = 10000, 1024
	db := populated(b, n)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cs := make([]coord.Change, batch)
		for i := range cs {
			cs[i] = stateChange(r, n)
		}
		t := time.Now()
		if err := db.Commit(ctx, cs); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "changes/s")
	reportLatency(b, ds)
}

// BenchmarkCommitConcurrent has 64 goroutines committing one change each (lease + state + event, as an
// assignment does); group commit merges them.
func BenchmarkCommitConcurrent(b *testing.B) {
	const n = 10000
	db := populated(b, n)
	ctx := context.Background()
	var mu sync.Mutex
	all := make([]time.Duration, 0, b.N)
	b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
	b.ResetTimer()
	start := time.Now()
	var seed uint64
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		seed++
		r := rand.New(rand.NewPCG(seed, 7))
		mu.Unlock()
		var ds []time.Duration
		k := 0
		for pb.Next() {
			k++
			st := stateChange(r, n)
			id := fmt.Sprintf("L-%d", int64(seed)<<32+int64(k))
			cs := []coord.Change{
				st,
				coord.LeasePut{Lease: coord.Lease{ID: id, IssueID: st.ID, Worker: "w1", Epoch: int64(seed)<<32 + int64(k), State: coord.LeasePushed,
					CreatedAt: st.UpdatedAt, AckDeadline: st.UpdatedAt, Deadline: st.UpdatedAt}},
				coord.EventAppend{Event: coord.Event{Time: st.UpdatedAt, Kind: "assigned", IssueID: st.ID, LeaseID: id}},
			}
			t := time.Now()
			if err := db.Commit(ctx, cs); err != nil {
				b.Error(err)
				return
			}
			ds = append(ds, time.Since(t))
		}
		mu.Lock()
		all = append(all, ds...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*3)/time.Since(start).Seconds(), "changes/s")
	reportLatency(b, all)
}

func BenchmarkLoad100k(b *testing.B) {
	db := populated(b, 100000)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		s, err := db.Load(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Issues) != 100000 {
			b.Fatalf("loaded %d issues", len(s.Issues))
		}
	}
}

func BenchmarkListIssues(b *testing.B) {
	db := populated(b, 10000)
	ctx := context.Background()
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := db.ListIssues(ctx, IssueFilter{Status: "open", Label: "area:3", Limit: 50}); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, ds)
}

// BenchmarkCommitCycles commits the changes of assignment + ack + completion cycles as the engine makes
// them (a lease row, the issue's state and an event per step), 64 cycles' steps per transaction, from one
// goroutine: the committer's own ceiling in cycles per second.
func BenchmarkCommitCycles(b *testing.B) {
	const n, perBatch = 100000, 64
	db := populated(b, n)
	ctx := context.Background()
	epoch := int64(1 << 40) // past any earlier run's leases on the cached store
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; done += perBatch {
		k := min(perBatch, b.N-done)
		leases := make([]coord.Lease, k)
		now := time.Now()
		for i := range leases {
			epoch++
			leases[i] = coord.Lease{ID: fmt.Sprintf("L%d", epoch), IssueID: fmt.Sprintf("gt-%06d", (done+i)%n),
				Worker: fmt.Sprintf("w%03d", i), Epoch: epoch, State: coord.LeasePushed, Attempt: 1, CreatedAt: now,
				AckDeadline: now.Add(10 * time.Second), Deadline: now.Add(time.Minute)}
		}
		for step := range 3 {
			cs := make([]coord.Change, 0, 3*k)
			for i := range leases {
				l := &leases[i]
				st := coord.IssueState{ID: l.IssueID, Assignee: l.Worker, UpdatedAt: now, Attempts: 0}
				kind := "assigned"
				switch step {
				case 0:
					st.Status = "hooked"
				case 1:
					l.State, st.Status, st.StartedAt, kind = coord.LeaseAcked, "in_progress", &now, "acked"
				case 2:
					l.State, l.EndedAt, l.Outcome = coord.LeaseEnded, &now, "success"
					st.Status, st.Assignee, st.ClosedAt, st.CloseReason, kind = "closed", "", &now, "done", "completed"
				}
				cs = append(cs, coord.LeasePut{Lease: *l}, st,
					coord.EventAppend{Event: coord.Event{Time: now, Kind: kind, IssueID: l.IssueID, LeaseID: l.ID, Worker: l.Worker}})
			}
			if err := db.Commit(ctx, cs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cycles/s")
}

// BenchmarkManyLabelsPut edits (re-puts) an issue carrying n labels 10 times.
func BenchmarkManyLabelsPut(b *testing.B) {
	for _, n := range []int{2500, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			db, err := Open(ctx, ":memory:", Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			is := benchIssue(1)
			is.Dependencies = nil
			for i := range n {
				is.Labels = append(is.Labels, fmt.Sprintf("label-%05d", i))
			}
			if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: is, Create: true}}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				for range 10 {
					if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: is}}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
