package daemon

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// memoryGrowthFloor is the least room the governor leaves the heap over its live size (0.4: two fifths
// of it), so a heap that outgrows the target costs the collector at most what GOGC=40 would, instead of
// running it back to back. At 1,000 x 100,000 (gtc loadtest) 0.5 gave RSS 94.4-95.1 MB, 0.4 91.9-94.1
// at the same 13.4-14.0k completions/s, 0.3 89.9-91.3 at 12.2-13.3k.
const memoryGrowthFloor = 0.4

// memoryLimit is the soft limit for the runtime's memory: the target, raised when the live heap needs
// more to grow by memoryGrowthFloor on top of the memory the runtime holds besides heap objects (rounded
// up to a MiB, so the limit does not change with every collection).
func memoryLimit(target int64, s memStats) int64 {
	const mib = 1 << 20
	floor := float64(s.other) + float64(s.unused) + (1+memoryGrowthFloor)*float64(s.live)
	if floor >= math.MaxInt64-mib {
		return math.MaxInt64
	}
	return max(target, (int64(floor)+mib-1)/mib*mib)
}

// memStats are the runtime's figures the governor reads.
type memStats struct {
	live   uint64 // heap bytes marked live by the last collection
	unused uint64 // heap bytes in spans but in no object (fragmentation)
	other  uint64 // everything mapped and not released besides heap objects, free and unused heap: stacks, metadata
}

var memSampleNames = [...]string{
	"/gc/heap/live:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

// memReader reads memStats with one reused sample slice.
type memReader struct{ s []metrics.Sample }

func newMemReader() *memReader {
	r := &memReader{s: make([]metrics.Sample, len(memSampleNames))}
	for i, n := range memSampleNames {
		r.s[i].Name = n
	}
	return r
}

func (r *memReader) read() memStats {
	metrics.Read(r.s)
	v := func(i int) uint64 {
		if r.s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return r.s[i].Value.Uint64()
	}
	total, released, objects, free := v(2), v(3), v(4), v(5)
	other := uint64(0)
	if n := released + objects + free + v(1); total > n {
		other = total - n
	}
	return memStats{live: v(0), unused: v(1), other: other}
}

// governMemory holds the process's soft memory limit (runtime/debug.SetMemoryLimit) at memoryLimit of
// target, re-read every interval, until ctx ends. The limit makes the collector run earlier and return
// free pages to the OS sooner, so the process stays near the target while its live heap is small, and
// grows with the live heap past it. The limit is process-wide: with several governors (daemons in one
// process) it is the largest any of them wants, and the last to stop puts back the limit from before the
// first.
func governMemory(ctx context.Context, target int64, every time.Duration) {
	g := governors.join()
	defer governors.leave(g)
	r := newMemReader()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		governors.want(g, memoryLimit(target, r.read()))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// governors are the running governors of the process with the limit each wants; the process limit is
// the largest of them (set only when it changes), and the limit from before the first is put back when
// the last stops.
var governors governorSet

type governorSet struct {
	sync.Mutex
	wants   map[*int64]int64 // by governor: the limit it wants (-1: none yet)
	applied int64            // the limit last set by a governor (-1: none)
	prev    int64            // the process's limit before the first governor
}

// join registers a governor; leave must follow.
func (s *governorSet) join() *int64 {
	s.Lock()
	defer s.Unlock()
	if len(s.wants) == 0 {
		s.prev = debug.SetMemoryLimit(-1)
		s.wants, s.applied = map[*int64]int64{}, -1
	}
	g := new(int64)
	s.wants[g] = -1
	return g
}

// want records the limit g wants now and sets the process limit if the largest wanted one changed.
func (s *governorSet) want(g *int64, limit int64) {
	s.Lock()
	defer s.Unlock()
	s.wants[g] = limit
	s.applyLocked()
}

// leave unregisters g: the others' largest limit holds, or, after the last, the limit from before.
func (s *governorSet) leave(g *int64) {
	s.Lock()
	defer s.Unlock()
	delete(s.wants, g)
	if len(s.wants) == 0 {
		debug.SetMemoryLimit(s.prev)
		return
	}
	s.applyLocked()
}

func (s *governorSet) applyLocked() {
	top := int64(-1)
	for _, l := range s.wants {
		top = max(top, l)
	}
	if top >= 0 && top != s.applied {
		debug.SetMemoryLimit(top)
		s.applied = top
	}
}

// memoryGoverned reports whether gtc sets the memory limit: a positive target, and no GOMEMLIMIT in
// the environment (an operator's own limit wins).
func memoryGoverned(target int64) bool {
	return target > 0 && os.Getenv("GOMEMLIMIT") == ""
}

// memoryCheckEvery is how often the governor re-reads the live heap (a read costs microseconds).
const memoryCheckEvery = 100 * time.Millisecond
