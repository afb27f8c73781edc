package daemon

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minHeap is the Go runtime's minimum heap goal at GOGC=100; it scales with GOGC.
const minHeap = 4 << 20

// gcPercentFor is the GOGC that puts the next collection at about floor bytes of heap while the live heap
// (live bytes) is under half of floor, and base (Go's default: 100) otherwise. The goal is the live heap
// plus GOGC per cent of scan: the live heap, the stacks and the globals the last collection scanned (Go
// 1.18's pacer; with many connections the stacks can outweigh the heap). It is never under minHeap ×
// GOGC/100, so GOGC stays at most floor/minHeap × 100.
func gcPercentFor(live, scan, floor uint64, base int) int {
	live = max(live, 256<<10)
	scan = max(scan, live)
	if floor <= 2*live || floor < minHeap {
		return base
	}
	p := min((floor-live)*100/scan, floor*100/minHeap)
	return max(int(p), base)
}

// gcFloors holds the process's GOGC at gcPercentFor of the largest floor any running daemon wants,
// re-set after every collection; when the last stops the setting from before the first is back.
var gcFloors gcFloorSet

type gcFloorSet struct {
	sync.Mutex
	floors map[*uint64]uint64 // by holder: its floor in bytes
	base   int                // the process's GOGC before the first holder
	armed  bool               // a sentinel waits for the next collection
	live   [3]metrics.Sample  // the live heap, the scanned stacks and globals
}

// gcSentinel is garbage the moment it is made: its finalizer runs after the next collection. (Larger
// than the tiny allocator's 16 bytes, whose blocks are shared and may never be freed.)
type gcSentinel struct{ _ [32]byte }

// holdGCFloor keeps the collector from running before the heap reaches floor bytes until the returned
// func is called. It changes nothing when floor is under the runtime's own minimum, when GOGC is set in
// the environment (an operator's choice wins) or when the collector is off.
func holdGCFloor(floor int64) (stop func()) {
	if floor < minHeap || os.Getenv("GOGC") != "" {
		return func() {}
	}
	s := &gcFloors
	s.Lock()
	defer s.Unlock()
	if len(s.floors) == 0 {
		s.base = gcPercentNow()
		if s.base < 0 {
			return func() {}
		}
		s.floors = map[*uint64]uint64{}
		s.live[0].Name = "/gc/heap/live:bytes"
		s.live[1].Name = "/gc/scan/stack:bytes"
		s.live[2].Name = "/gc/scan/globals:bytes"
	}
	h := new(uint64)
	s.floors[h] = uint64(floor)
	s.applyLocked()
	if !s.armed {
		s.armed = true
		s.arm()
	}
	var once sync.Once
	return func() { once.Do(func() { s.release(h) }) }
}

func (s *gcFloorSet) release(h *uint64) {
	s.Lock()
	defer s.Unlock()
	delete(s.floors, h)
	if len(s.floors) == 0 {
		debug.SetGCPercent(s.base) // the armed sentinel finds no holder and is not renewed
		return
	}
	s.applyLocked()
}

// gcPercentNow reads the process's GOGC (-1: off) without setting it, which would start a collection when
// the collector is off and the heap past its goal.
func gcPercentNow() int {
	s := [1]metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s[:])
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 100
	}
	if v := s[0].Value.Uint64(); v <= math.MaxInt32 {
		return int(v)
	}
	return -1 // off reads as the uint64 of -1
}

// arm makes a sentinel whose finalizer re-sets GOGC after the next collection and arms the next one.
func (s *gcFloorSet) arm() {
	runtime.SetFinalizer(new(gcSentinel), func(*gcSentinel) { s.collected() })
}

func (s *gcFloorSet) collected() {
	s.Lock()
	defer s.Unlock()
	if len(s.floors) == 0 {
		s.armed = false
		return
	}
	s.applyLocked()
	s.arm()
}

func (s *gcFloorSet) applyLocked() {
	var floor uint64
	for _, f := range s.floors {
		floor = max(floor, f)
	}
	metrics.Read(s.live[:])
	var v [len(s.live)]uint64
	for i := range s.live {
		if s.live[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s.live[i].Value.Uint64()
		}
	}
	debug.SetGCPercent(gcPercentFor(v[0], v[0]+v[1]+v[2], floor, s.base))
}
