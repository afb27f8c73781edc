package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// importingDB is the store as a sync backend (imports go straight to the store, as `gtc import` does).
type importingDB struct{ *DB }

func (d importingDB) ApplyImport(ctx context.Context, recs []beads.ImportedRecord) error {
	return d.ImportIssues(ctx, recs)
}

// loadDesc pads a record like the load test's issues (~400 bytes of description).
const loadDesc = "Load-test issue. Implement the change described here, run the tests, and report the outcome " +
	"through complete or fail. This text only pads the record to a realistic size: real beads issues carry a " +
	"description, design notes and acceptance criteria of a few hundred bytes, and the push path copies those " +
	"bytes into every assign frame."

// exportWorkspace writes a classic issues.jsonl of n issues shaped like `gtc loadtest`'s (a fifth with a
// blocks edge), opens a store in the same directory and imports the file through a Syncer.
func exportWorkspace(tb testing.TB, n int) (*DB, *beads.Syncer, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), ".beads")
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "issues.jsonl")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	now := t0.Truncate(time.Second)
	for i := range n {
		id := fmt.Sprintf("lt-%05d", i)
		is := beads.Issue{ID: id, Title: "load test " + id, Description: loadDesc, Status: "open",
			Priority: i % 4, IssueType: "task", CreatedAt: now, UpdatedAt: now}
		if i%5 == 4 {
			is.Dependencies = []beads.Dependency{{IssueID: id, DependsOnID: fmt.Sprintf("lt-%05d", i-1),
				Type: "blocks", CreatedAt: now, Metadata: "{}"}}
		}
		if err := enc.Encode(is); err != nil {
			tb.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	db, err := Open(context.Background(), filepath.Join(dir, "gtc.db"), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s := beads.NewSyncer(path, importingDB{db}, nil)
	if _, err := s.Import(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db, s, path
}

// dirtyLoad changes k issues the way an assignment cycle does (claimed, then closed on even rounds),
// starting at issue first.
func dirtyLoad(tb testing.TB, db *DB, n, first, k, round int) {
	tb.Helper()
	at := t0.Add(time.Duration(round+1) * time.Minute)
	changes := make([]coord.Change, 0, k)
	for j := range k {
		id := fmt.Sprintf("lt-%05d", (first+j)%n)
		st := coord.IssueState{ID: id, Status: "in_progress", Assignee: fmt.Sprintf("agent-%d", j%30), UpdatedAt: at,
			StartedAt: &at}
		if round%2 == 1 {
			st.Status, st.Assignee, st.ClosedAt, st.CloseReason = "closed", "", &at, "done"
		}
		changes = append(changes, st)
	}
	if err := db.Commit(context.Background(), changes); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkExportStore is one Export of a 40,000-issue load-test file through the real store (DirtyLookup
// over SQLite), with 8,000 issues changed per op (about one 2 s sync tick of `gtc loadtest --agents 30 --issues 40000`);
// µs/rec is the export's time per exported record, cpu-µs/rec the process's CPU time during the export per
// record (the store's MarkExported writes included; a GC cycle may fall in or out of it).
func BenchmarkExportStore(b *testing.B) {
	const n, k = 40000, 8000
	db, s, _ := exportWorkspace(b, n)
	ctx := context.Background()
	round := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		dirtyLoad(b, db, n, (round/2*k)%n, k, round)
		round++
		c0 := processCPU()
		b.StartTimer()
		st, err := s.Export(ctx)
		b.StopTimer()
		cpu += processCPU() - c0
		b.StartTimer()
		if err != nil || st.Dirty != k || !st.Written {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*k), "µs/rec")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*k), "cpu-µs/rec")
}

// processCPU is the CPU time (user + system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDirtyByID is DirtyByID of 512 dirty ids, as the streaming export asks for those of a stretch of
// the file's lines (claimed issues of a 40,000-issue load-test store).
func BenchmarkDirtyByID(b *testing.B) {
	const n, k = 40000, 512
	db, _, _ := exportWorkspace(b, n)
	ctx := context.Background()
	dirtyLoad(b, db, n, 1000, k, 0)
	ids := make([]string, 0, k)
	for i := range k {
		ids = append(ids, fmt.Sprintf("lt-%05d", 1000+i))
	}
	read := map[string]func(context.Context, []string) ([]beads.StoredRecord, error){"DirtyByID": db.DirtyByID}
	if v, ok := any(db).(interface {
		DirtyViewsByID(context.Context, []string) ([]beads.StoredRecord, error)
	}); ok {
		read["DirtyViewsByID"] = v.DirtyViewsByID
	}
	for _, name := range []string{"DirtyByID", "DirtyViewsByID"} {
		f := read[name]
		if f == nil {
			continue
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				recs, err := f(ctx, ids)
				if err != nil || len(recs) != k {
					b.Fatal(len(recs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k)/1e3, "µs/rec")
		})
	}
}

// BenchmarkDirtyReadUnderWrites reads 512 dirty records a call, each call a different stretch of a
// 40,000-issue store, while another goroutine commits state changes as the coordinator does (so the
// read connection's page cache is reset between calls): through database/sql (the read before the
// driver read), through the driver, and through the driver without Raw.
func BenchmarkDirtyReadUnderWrites(b *testing.B) {
	const n, k = 40000, 512
	db, _, _ := exportWorkspace(b, n)
	ctx := context.Background()
	for lo := 0; lo < n; lo += 4096 {
		dirtyLoad(b, db, n, lo, min(4096, n-lo), 0)
	}
	stretches := make([][]string, n/k)
	for s := range stretches {
		for i := range k {
			stretches[s] = append(stretches[s], fmt.Sprintf("lt-%05d", s*k+i))
		}
	}
	reads := []struct {
		name string
		f    func([]string) ([]beads.StoredRecord, error)
	}{
		{"databasesql", func(ids []string) ([]beads.StoredRecord, error) { return dirtyAmongStd(ctx, db, ids) }},
		{"driver", func(ids []string) ([]beads.StoredRecord, error) { return db.dirtyAmongDriver(ctx, ids, true) }},
		{"driver-noraw", func(ids []string) ([]beads.StoredRecord, error) { return db.dirtyAmongDriver(ctx, ids, false) }},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // a writer touching issues away from the ones read, a small commit at a time
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					at := t0.Add(time.Duration(i) * time.Second)
					id := fmt.Sprintf("lt-%05d", (i*7919)%n)
					if err := db.Commit(ctx, []coord.Change{coord.IssueState{ID: id, Status: "in_progress", Assignee: "w", UpdatedAt: at}}); err != nil {
						return
					}
				}
			}()
			i := 0
			for b.Loop() {
				recs, err := r.f(stretches[i%len(stretches)])
				if err != nil || len(recs) != k {
					b.Fatal(len(recs), err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k)/1e3, "µs/rec")
			close(stop)
			<-done
		})
	}
}
