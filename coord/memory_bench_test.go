package coord

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// memoryIssues is the size of the core BenchmarkCoreMemory builds.
const memoryIssues = 100_000

// loadTestPuts makes plain open issues shaped like the load test's (loadtest.GenerateIssues and
// WriteJSONL), one per id: random priorities 0–4, no labels, a fifth with one blocks dependency
// (metadata "{}") on one of the 50 issues before it.
func loadTestPuts(ids []string, now time.Time) []IssuePut {
	r := rand.New(rand.NewPCG(11, 0x5eed))
	out := make([]IssuePut, len(ids))
	for i, id := range ids {
		is := beads.Issue{ID: id, Title: "load test " + id, Status: "open", Priority: r.IntN(5), IssueType: "task",
			CreatedAt: now, UpdatedAt: now}
		if i > 0 && i%5 == 0 {
			on := ids[i-1-r.IntN(min(i, 50))]
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

// BenchmarkCoreMemory reports the live heap a core holds per issue with 100,000 plain issues:
// heap-B/issue counts everything (issue structs, the id map, the ready heap, the reverse-edge index
// and the id text the core keeps), id-B/issue is the id text alone (part of heap-B/issue). The issues
// enter like an import (put: putIssues, pending Changes dropped), like a start from a Snapshot whose
// strings are shared constants (snapshot), or from one whose every string is its own allocation, as
// store.Load scans them (load: status, type, dependency target, type and metadata); inputs are dropped
// before the HeapAlloc after a full GC is read. Timings are not the point; run it with -benchtime=1x.
func BenchmarkCoreMemory(b *testing.B) {
	for _, path := range []string{"put", "snapshot", "load"} {
		b.Run(path, func(b *testing.B) {
			var total, idText float64
			for i := 0; i < b.N; i++ {
				ids := make([]string, memoryIssues)
				base0 := heapAlloc()
				for i := range ids {
					ids[i] = "lt-" + strconv.Itoa(i+1)
				}
				base := heapAlloc()
				ps := loadTestPuts(ids, t0)
				var c *core
				if path == "put" {
					c = newCore(testCfg(), nil, t0)
					if err := c.putIssues(t0, ps); err != nil {
						b.Fatal(err)
					}
					c.take()
				} else {
					snap := &Snapshot{Issues: make([]IssueMeta, len(ps))}
					for i := range ps {
						m := MetaOf(ps[i].Issue)
						if path == "load" {
							m.Status, m.IssueType = strings.Clone(m.Status), strings.Clone(m.IssueType)
							for k, d := range m.Deps {
								m.Deps[k] = Dep{On: strings.Clone(d.On), Type: strings.Clone(d.Type), Metadata: strings.Clone(d.Metadata)}
							}
						}
						snap.Issues[i] = m
					}
					ps = nil
					c = newCore(testCfg(), snap, t0)
				}
				ps = nil
				live := heapAlloc()
				if c.heap.Len() == 0 || len(c.issues) != memoryIssues {
					b.Fatalf("core holds %d issues, %d ready", len(c.issues), c.heap.Len())
				}
				idText += (float64(base) - float64(base0)) / memoryIssues
				total += (float64(live) - float64(base0)) / memoryIssues
				runtime.KeepAlive(c)
				runtime.KeepAlive(ids)
			}
			b.ReportMetric(total/float64(b.N), "heap-B/issue")
			b.ReportMetric(idText/float64(b.N), "id-B/issue")
		})
	}
}
