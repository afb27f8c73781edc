package loadtest

import (
	"os"
	"runtime/debug"
	"sync"
)

// runGCPercent is the load generator's GOGC while a run goes on (Go's default is 100). Its agents stop
// for its collections like any other goroutine, and a pause there reads as the coordinator's delay: in
// 30 × 500 runs (50 ms each) the dispatch samples over 5 ms came in bursts at the load generator's own
// collections. At 400 such a run collects at most once, for a larger heap in long runs (see
// docs/benchmarks.md).
const runGCPercent = 400

// gcRelax counts the runs in progress and keeps the setting from before the first.
var gcRelax struct {
	sync.Mutex
	runs int
	prev int
}

// relaxCollector sets runGCPercent for the process until the returned func is called; runs may
// overlap, and the last to end puts back the setting from before the first. GOGC in the environment
// wins: then it changes nothing.
func relaxCollector() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcRelax.Lock()
	if gcRelax.runs == 0 {
		gcRelax.prev = debug.SetGCPercent(runGCPercent)
	}
	gcRelax.runs++
	gcRelax.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			gcRelax.Lock()
			defer gcRelax.Unlock()
			if gcRelax.runs--; gcRelax.runs == 0 {
				debug.SetGCPercent(gcRelax.prev)
			}
		})
	}
}
