package beads

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// genFile draws a small issues.jsonl of one profile: issues with priorities, creation times and blocks
// edges, maybe memory, blank and header lines, maybe no final newline.
func genFile(t *rapid.T) (data []byte, ids []string) {
	prof := Profile(rapid.IntRange(0, 2).Draw(t, "profile"))
	n := rapid.IntRange(0, 14).Draw(t, "issues")
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var lines []string
	if rapid.Bool().Draw(t, "header") {
		lines = append(lines, `{"_schema":"v1"}`)
	}
	for i := range n {
		id := fmt.Sprintf("t-%02d", rapid.IntRange(0, 40).Draw(t, "id"))
		if strings.Contains(strings.Join(ids, ","), id) {
			continue
		}
		ids = append(ids, id)
		created := base.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, "created")) * time.Hour)
		is := Issue{ID: id, Title: "issue " + id, Status: rapid.SampledFrom([]string{"open", "in_progress", "closed"}).Draw(t, "status"),
			Priority: rapid.IntRange(0, 3).Draw(t, "priority"), IssueType: "task", CreatedAt: created, UpdatedAt: created}
		if i > 0 && rapid.IntRange(0, 2).Draw(t, "hasdep") == 0 {
			dep := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "dep")]
			is.Dependencies = []Dependency{{IssueID: id, DependsOnID: dep, Type: "blocks", CreatedAt: created}}
		}
		rec, err := NewRecord(is, prof)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(rec.Raw()))
		if rapid.IntRange(0, 6).Draw(t, "blank") == 0 {
			lines = append(lines, "")
		}
	}
	if prof == ModernTyped && rapid.Bool().Draw(t, "memory") {
		lines = append(lines, `{"_type":"memory","key":"k","value":"v"}`)
	}
	if len(lines) == 0 {
		return nil, ids
	}
	data = []byte(strings.Join(lines, "\n"))
	if rapid.IntRange(0, 3).Draw(t, "nofinal") != 0 {
		data = append(data, '\n')
	}
	return data, ids
}

// TestStreamedExportMatchesWholeExport draws files and changes (patches, priority moves, tombstones,
// new records, blocks edges) and checks that the streamed export writes the same bytes, reports the
// same stats and leaves the store in the same state as the whole-file export, with tiny stretches.
func TestStreamedExportMatchesWholeExport(t *testing.T) {
	defer func(l, b, r int) { streamChunkLines, streamChunkBytes, exportedRawBudget = l, b, r }(streamChunkLines, streamChunkBytes, exportedRawBudget)
	streamChunkLines, streamChunkBytes, exportedRawBudget = 3, 400, 700
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		data, ids := genFile(t)
		type change struct {
			id  string
			fn  func(*Issue)
			new bool
		}
		var changes []change
		base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		for k := range rapid.IntRange(0, 8).Draw(t, "changes") {
			now := base.Add(time.Duration(k) * time.Minute)
			if len(ids) > 0 && rapid.Bool().Draw(t, "existing") {
				id := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "which")]
				status := rapid.SampledFrom([]string{"in_progress", "closed", "tombstone", "open"}).Draw(t, "to")
				prio := rapid.IntRange(0, 3).Draw(t, "newprio")
				dep := ""
				if rapid.Bool().Draw(t, "adddep") {
					dep = ids[rapid.IntRange(0, len(ids)-1).Draw(t, "depon")]
				}
				changes = append(changes, change{id: id, fn: func(is *Issue) {
					is.Status, is.Priority, is.UpdatedAt = status, prio, now
					if dep != "" {
						is.Dependencies = append(is.Dependencies, Dependency{IssueID: id, DependsOnID: dep, Type: "blocks", CreatedAt: now})
					}
				}})
				continue
			}
			id := fmt.Sprintf("t-%02d", rapid.IntRange(0, 45).Draw(t, "newid"))
			created := base.Add(time.Duration(rapid.IntRange(-3, 3).Draw(t, "newcreated")) * time.Hour)
			prio := rapid.IntRange(0, 3).Draw(t, "prio")
			status := rapid.SampledFrom([]string{"open", "tombstone"}).Draw(t, "newstatus")
			var deps []Dependency
			if len(ids) > 0 && rapid.Bool().Draw(t, "newdep") {
				deps = []Dependency{{IssueID: id, DependsOnID: ids[rapid.IntRange(0, len(ids)-1).Draw(t, "newdepon")], Type: "blocks", CreatedAt: created}}
			}
			changes = append(changes, change{id: id, new: true, fn: func(is *Issue) {
				if is.ID == "" {
					*is = Issue{ID: id, Title: "new " + id, IssueType: "task", CreatedAt: created}
				}
				is.Status, is.Priority, is.UpdatedAt, is.Dependencies = status, prio, now, deps
			}})
		}
		// Then someone else edits the file (titles with a newer or older updated_at, deleted lines, a new
		// line) while gtc changes some issues, and the next Sync imports and exports.
		type edit struct {
			id     string
			action int // 0 newer title, 1 older title, 2 delete
		}
		var edits []edit
		for _, id := range ids {
			if rapid.IntRange(0, 3).Draw(t, "edit") == 0 {
				edits = append(edits, edit{id, rapid.IntRange(0, 2).Draw(t, "action")})
			}
		}
		addLine := rapid.Bool().Draw(t, "addline")
		var later []string
		for _, id := range ids {
			if rapid.IntRange(0, 4).Draw(t, "later") == 0 {
				later = append(later, id)
			}
		}
		editFile := func(path string) {
			f, err := Parse(path, fileBytes2(path), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range edits {
				r := f.Get(e.id)
				if r == nil {
					continue
				}
				if e.action == 2 {
					f.Remove(e.id)
					continue
				}
				is, _ := r.Issue()
				is.Title = "edited " + e.id
				is.UpdatedAt = base.Add(time.Duration(1-2*e.action) * 24 * time.Hour)
				r.Apply(is, f.Profile)
			}
			if addLine {
				rec, _ := NewRecord(Issue{ID: "x-99", Title: "added", Status: "open", IssueType: "bug", CreatedAt: base, UpdatedAt: base}, f.Profile)
				f.Upsert(rec)
			}
			if err := os.WriteFile(path, f.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run := func(streamed bool) ([]byte, ExportStats, map[string]StoredRecord) {
			dir := filepath.Join(os.TempDir(), fmt.Sprintf("gtc-stream-%d-%v-%d", os.Getpid(), streamed, time.Now().UnixNano()))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, "issues.jsonl")
			if data != nil {
				os.WriteFile(path, data, 0o644)
			}
			mem := newMemBackend()
			var b Backend = mem
			if !streamed {
				b = plainBackend{mem}
			}
			s := NewSyncer(path, b, nil)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				mem.change(c.id, c.fn)
			}
			// A fresh syncer: the streamed one validates the file by streaming it first.
			s = NewSyncer(path, b, nil)
			st, err := s.Export(ctx)
			if err != nil {
				t.Fatalf("streamed=%v: %v", streamed, err)
			}
			out := map[string]StoredRecord{}
			for _, r := range mem.list(false) {
				out[r.ID] = r
			}
			got, _ := os.ReadFile(path)
			// the written file reads back, and a second export finds nothing to do
			if st2, err := s.Export(ctx); err != nil || st2.Dirty != 0 {
				t.Fatalf("streamed=%v: second export %+v %v", streamed, st2, err)
			}
			editFile(path)
			for _, id := range later {
				mem.change(id, func(is *Issue) { is.Notes, is.UpdatedAt = "later", base.Add(12*time.Hour) })
			}
			ist, err := s.Import(ctx)
			if err != nil {
				t.Fatalf("streamed=%v: import: %v", streamed, err)
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatalf("streamed=%v: sync after import: %v", streamed, err)
			}
			got = append(got, "\n--- after the edit and import ---\n"...)
			got = append(got, fileBytes2(path)...)
			got = append(got, fmt.Sprintf("\n%+v\n", ist)...)
			for _, r := range mem.list(false) {
				out[r.ID+"/after"] = r
			}
			return got, st, out
		}
		whole, wst, wrecs := run(false)
		streamed, sst, srecs := run(true)
		if !bytes.Equal(whole, streamed) {
			t.Fatalf("streamed export differs from the whole export at lines %v\nwhole:\n%s\nstreamed:\n%s", diffLines(whole, streamed), whole, streamed)
		}
		if wst != sst {
			t.Fatalf("stats: whole %+v, streamed %+v", wst, sst)
		}
		for id, w := range wrecs {
			s := srecs[id]
			if !bytes.Equal(w.Raw, s.Raw) || w.Dirty != s.Dirty {
				t.Fatalf("store record %s: whole raw %s dirty %v, streamed raw %s dirty %v", id, w.Raw, w.Dirty, s.Raw, s.Dirty)
			}
		}
	})
}

// bigFile writes an n-issue classic file (about 600 bytes a line) and imports it.
func bigFile(tb testing.TB, n int) (*Syncer, *memBackend, string, int64) {
	tb.Helper()
	return bigFileProfile(tb, n, Classic)
}

// bigFileProfile is bigFile written under profile prof.
func bigFileProfile(tb testing.TB, n int, prof Profile) (*Syncer, *memBackend, string, int64) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), ".beads")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "issues.jsonl")
	var buf bytes.Buffer
	ts := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := fmt.Sprintf("bd-%06d", i)
		is := Issue{ID: id, Title: "Load test issue " + id, Description: strings.Repeat("Some description text. ", 18),
			Status: "open", Priority: i % 4, IssueType: "task", CreatedAt: ts, UpdatedAt: ts, Labels: []string{"load"}}
		if i%5 == 4 {
			is.Dependencies = []Dependency{{IssueID: id, DependsOnID: fmt.Sprintf("bd-%06d", i-1), Type: "blocks", CreatedAt: ts}}
		}
		rec, err := NewRecord(is, prof)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(rec.Raw())
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	b := newMemBackend()
	s := NewSyncer(path, b, nil)
	if err := s.Sync(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s, b, path, int64(buf.Len())
}

// dirtyEvery marks every k-th issue changed (status flipped, updated_at moved) in round i.
func dirtyEvery(b *memBackend, n, k, round int) {
	for j := 0; j < n; j += k {
		b.change(fmt.Sprintf("bd-%06d", j), func(is *Issue) {
			is.Status = []string{"in_progress", "open"}[round%2]
			is.UpdatedAt = time.Date(2026, 3, 1, 0, 0, round, 0, time.UTC)
		})
	}
}

// TestStreamedExportAllocatesLittle checks that exporting a few dirty records into a 20,000-issue file
// (12 MB) allocates a small fraction of the file: the file is streamed, not held.
func TestStreamedExportAllocatesLittle(t *testing.T) {
	const n = 20000
	s, b, path, size := bigFile(t, n)
	ctx := context.Background()
	dirtyEvery(b, n, n/10, 1) // 10 records
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	st, err := s.Export(ctx)
	runtime.ReadMemStats(&m1)
	if err != nil || st.Patched != 10 || !st.Written {
		t.Fatalf("%+v %v", st, err)
	}
	alloc := int64(m1.TotalAlloc - m0.TotalAlloc)
	t.Logf("file %d bytes, export allocated %d bytes", size, alloc)
	if alloc > size/4 {
		t.Fatalf("export of 10 dirty records allocated %d bytes for a %d-byte file; want < %d", alloc, size, size/4)
	}
	if d, _ := b.Dirty(ctx); len(d) != 0 {
		t.Fatalf("%d still dirty", len(d))
	}
	if f, err := Parse(path, fileBytes(t, path), ParseOptions{}); err != nil || f.Get("bd-000000") == nil {
		t.Fatal(err)
	}
	// An export with nothing dirty does not read the file: it allocates next to nothing.
	runtime.ReadMemStats(&m0)
	if st, err := s.Export(ctx); err != nil || st.Dirty != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	runtime.ReadMemStats(&m1)
	if idle := int64(m1.TotalAlloc - m0.TotalAlloc); idle > 64<<10 {
		t.Fatalf("idle export allocated %d bytes", idle)
	}
}

// TestStreamedExportSpillsExportedBytes exports more changed bytes than exportedRawBudget: they are read
// back from the written file for MarkExported, and the store ends with the file's lines.
func TestStreamedExportSpillsExportedBytes(t *testing.T) {
	defer func(r int) { exportedRawBudget = r }(exportedRawBudget)
	exportedRawBudget = 10 << 10
	const n = 2000
	s, b, path, _ := bigFile(t, n)
	dirtyEvery(b, n, 1, 1)
	st, err := s.Export(context.Background())
	if err != nil || st.Patched != n {
		t.Fatalf("%+v %v", st, err)
	}
	f, err := Parse(path, fileBytes(t, path), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Issues() {
		got := b.get(r.ID)
		if got.Dirty || !bytes.Equal(got.Raw, r.Raw()) {
			t.Fatalf("%s: dirty %v raw %s, file %s", r.ID, got.Dirty, got.Raw, r.Raw())
		}
	}
}

// BenchmarkExport100k is one Export of a 100,000-issue classic file (about 65 MB) with 10 % or 100 % of
// the issues changed, streamed (DirtyLookup) and whole (the file read and parsed, as before streaming).
// MB-alloc/op is what the export allocated (runtime TotalAlloc), changing the records not included.
func BenchmarkExport100k(b *testing.B) {
	const n = 100000
	for _, c := range []struct {
		name     string
		every    int
		streamed bool
	}{{"dirty10pct/streamed", 10, true}, {"dirty10pct/whole", 10, false}, {"dirty100pct/streamed", 1, true}, {"dirty100pct/whole", 1, false}} {
		b.Run(c.name, func(b *testing.B) {
			s, mem, path, size := bigFile(b, n)
			if !c.streamed {
				s = NewSyncer(path, plainBackend{mem}, nil)
			}
			ctx := context.Background()
			var alloc uint64
			var m0, m1 runtime.MemStats
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dirtyEvery(mem, n, c.every, i)
				runtime.GC()
				runtime.ReadMemStats(&m0)
				b.StartTimer()
				st, err := s.Export(ctx)
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				alloc += m1.TotalAlloc - m0.TotalAlloc
				if err != nil || !st.Written || st.Patched != n/c.every {
					b.Fatalf("%+v %v", st, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(alloc)/float64(b.N)/(1<<20), "MB-alloc/op")
			b.StopTimer()
			dirtyEvery(mem, n, c.every, b.N)
			peak := livePeak(func() {
				if _, err := s.Export(ctx); err != nil {
					b.Fatal(err)
				}
			})
			b.ReportMetric(peak, "live-peak-MB")
			b.ReportMetric(float64(size)/(1<<20), "file-MB")
		})
	}
}

// livePeak runs fn with the collector running after every 1 % of heap growth and returns the largest
// live heap a collection saw, above the live heap before fn, in MiB: what fn holds at its peak.
func livePeak(fn func()) float64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	old := debug.SetGCPercent(1)
	defer debug.SetGCPercent(old)
	done, out := make(chan struct{}), make(chan uint64)
	go func() {
		top := base
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			top = max(top, s[0].Value.Uint64())
			select {
			case <-done:
				out <- top
				return
			case <-t.C:
			}
		}
	}()
	liveBase = base
	fn()
	close(done)
	return float64(<-out-base) / (1 << 20)
}

var liveBase uint64

// liveNow collects and returns the live heap above livePeak's starting point, in MiB.
func liveNow() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return (float64(m.HeapAlloc) - float64(liveBase)) / (1 << 20)
}

func fileBytes2(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// BenchmarkImport100k is a cold Import of the 100,000-issue file into an empty in-memory backend,
// streamed (RecordLookup) and whole (as before streaming); live-peak-MB as in BenchmarkExport100k
// (the backend's own growth included: it ends up holding every record).
func BenchmarkImport100k(b *testing.B) {
	const n = 100000
	_, _, path, size := bigFile(b, n)
	for _, streamed := range []bool{true, false} {
		name := map[bool]string{true: "streamed", false: "whole"}[streamed]
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			syncer := func() *Syncer {
				mem := newMemBackend()
				if streamed {
					return NewSyncer(path, mem, nil)
				}
				return NewSyncer(path, plainBackend{mem}, nil)
			}
			var alloc uint64
			var m0, m1 runtime.MemStats
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := syncer()
				runtime.GC()
				runtime.ReadMemStats(&m0)
				b.StartTimer()
				st, err := s.Import(ctx)
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				alloc += m1.TotalAlloc - m0.TotalAlloc
				if err != nil || st.New != n {
					b.Fatalf("%+v %v", st, err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			s := syncer()
			var held float64
			peak := livePeak(func() {
				if _, err := s.Import(ctx); err != nil {
					b.Fatal(err)
				}
				held = liveNow()
				runtime.KeepAlive(s) // the backend holds the imported records: count them as held
			})
			b.ReportMetric(float64(alloc)/float64(b.N)/(1<<20), "MB-alloc/op")
			b.ReportMetric(peak, "live-peak-MB")
			b.ReportMetric(peak-held, "above-backend-MB")
			b.ReportMetric(float64(size)/(1<<20), "file-MB")
		})
	}
}

// BenchmarkExportNewRecords is one streamed export of a 20,000-issue file that places new records (issues
// created since the last tick), in a classic and a modern file: 2,000 spread through the file's id range,
// or 10,000 with ids after every line (they all wait for the end of the file: a young workspace, or a
// prefix that sorts last); at priority 4 they sort after every line of the modern file.
func BenchmarkExportNewRecords(b *testing.B) {
	const n = 20000
	ctx := context.Background()
	ts := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, prof := range []Profile{Classic, ModernTyped} {
		for _, where := range []string{"spread", "appended"} {
			b.Run(fmt.Sprintf("%v/%s", prof, where), func(b *testing.B) {
				benchExportNewRecords(b, ctx, prof, n, where == "appended", ts)
			})
		}
	}
}

func benchExportNewRecords(b *testing.B, ctx context.Context, prof Profile, n int, appended bool, ts time.Time) {
	news := 2000
	if appended {
		news = 10000
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, mem, _, _ := bigFileProfile(b, n, prof)
		mem.mu.Lock()
		for j := range news {
			id := fmt.Sprintf("bd-%06d-n%d", j*(n/news), i)
			if appended {
				id = fmt.Sprintf("zz-%06d-n%d", j, i)
			}
			mem.recs[id] = &StoredRecord{ID: id, Dirty: true, Rev: 1, Issue: Issue{ID: id, Title: "new " + id,
				Status: "open", Priority: 4, IssueType: "task", CreatedAt: ts.Add(time.Duration(j) * time.Second), UpdatedAt: ts}}
		}
		mem.mu.Unlock()
		b.StartTimer()
		st, err := s.Export(ctx)
		if err != nil || !st.Written {
			b.Fatalf("%+v %v", st, err)
		}
	}
}
