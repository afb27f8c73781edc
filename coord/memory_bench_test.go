package coord

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// memoryIssues is the size of the core BenchmarkCoreMemory builds.
const memoryIssues = 100_000

// loadTestPuts makes n plain open issues shaped like the load test's (loadtest.GenerateIssues and
// WriteJSONL): random priorities 0–4, no labels, a fifth with one blocks dependency (metadata "{}")
// on one of the 50 issues before it.
func loadTestPuts(n int, now time.Time) []IssuePut {
	r := rand.New(rand.NewPCG(11, 0x5eed))
	out := make([]IssuePut, n)
	for i := range out {
		id := "lt-" + strconv.Itoa(i+1)
		is := beads.Issue{ID: id, Title: "load test " + id, Status: "open", Priority: r.IntN(5), IssueType: "task",
			CreatedAt: now, UpdatedAt: now}
		if i > 0 && i%5 == 0 {
			on := out[i-1-r.IntN(min(i, 50))].Issue.ID
			is.Dependencies = []beads.Dependency{{IssueID: id, DependsOnID: on, Type: depBlocks, CreatedAt: now, Metadata: "{}"}}
		}
		out[i] = IssuePut{Issue: is, FromImport: true}
	}
	return out
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCoreMemory reports the live heap a core holds per issue, everything included (issue table,
// map, ready heap, reverse-edge index and the id strings the core keeps): 100,000 plain issues are
// put (like an import), the pending Changes and the puts are dropped, and the HeapAlloc delta after
// a full GC is divided by the issue count. Timings are not the point; run it with -benchtime=1x.
func BenchmarkCoreMemory(b *testing.B) {
	var perIssue float64
	for i := 0; i < b.N; i++ {
		base := heapAlloc()
		ps := loadTestPuts(memoryIssues, t0)
		c := newCore(testCfg(), nil, t0)
		if err := c.putIssues(t0, ps); err != nil {
			b.Fatal(err)
		}
		c.take()
		ps = nil
		live := heapAlloc()
		if c.heap.Len() == 0 || len(c.issues) != memoryIssues {
			b.Fatalf("core holds %d issues, %d ready", len(c.issues), c.heap.Len())
		}
		perIssue += (float64(live) - float64(base)) / memoryIssues
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perIssue/float64(b.N), "heap-B/issue")
}
