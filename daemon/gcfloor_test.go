package daemon

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name              string
		live, scan, floor uint64
		base, want        int
	}{
		{"no floor", 2 * mib, 2 * mib, 0, 100, 100},
		{"floor under the runtime's own", 1 * mib, 1 * mib, 3 * mib, 100, 100},
		{"small live heap: capped where the runtime's minimum heap reaches the floor", 2 * mib, 2 * mib, 16 * mib, 100, 400},
		{"live heap of a quarter of the floor: the goal at the floor", 4 * mib, 4 * mib, 16 * mib, 100, 300},
		{"live heap of three eighths", 6 * mib, 6 * mib, 16 * mib, 100, 166},
		{"live heap at half the floor: the default", 8 * mib, 8 * mib, 16 * mib, 100, 100},
		{"live heap over the floor", 40 * mib, 40 * mib, 16 * mib, 100, 100},
		{"a higher base stays", 6 * mib, 6 * mib, 16 * mib, 200, 200},
		{"no live heap measured yet", 0, 0, 16 * mib, 100, 400},
		{"stacks and globals count: 4 MiB live, 8 MiB scanned", 4 * mib, 8 * mib, 16 * mib, 100, 150},
		{"stacks that reach the floor by Go's own pacing: the default", 2 * mib, 14 * mib, 16 * mib, 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercentFor(tc.live, tc.scan, tc.floor, tc.base); got != tc.want {
				t.Fatalf("gcPercentFor(%d MiB live, %d MiB scanned, %d MiB floor, base %d) = %d, want %d",
					tc.live/mib, tc.scan/mib, tc.floor/mib, tc.base, got, tc.want)
			}
		})
	}
}

// gcPercent reads the process's GOGC (as gcPercentNow, checked against SetGCPercent's own answer).
func gcPercent() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }

func TestGCPercentNow(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	for _, p := range []int{100, 37, 400, -1} {
		debug.SetGCPercent(p)
		if got := gcPercentNow(); got != p {
			t.Fatalf("GOGC %d read as %d", p, got)
		}
	}
}

// A held floor sets GOGC at once and again after each collection, the larger of two overlapping
// floors wins, and when the last holder stops the setting from before is back.
func TestHoldGCFloor(t *testing.T) {
	t.Setenv("GOGC", "") // an operator's GOGC would win; t.Setenv also keeps parallel tests away
	before := debug.SetGCPercent(90)
	defer debug.SetGCPercent(before)
	const floor = 1 << 36 // far above this test binary's live heap, stacks and globals: the cap applies
	capped := floor * 100 / minHeap

	stopA := holdGCFloor(floor / 4)
	t.Cleanup(stopA) // on a failure too: a held floor would skew the tests after this one
	if got := gcPercent(); got != capped/4 {
		t.Fatalf("holding a %d MiB floor: GOGC %d, want %d", floor/4>>20, got, capped/4)
	}
	stopB := holdGCFloor(floor)
	t.Cleanup(stopB)
	if got := gcPercent(); got != capped {
		t.Fatalf("holding two floors: GOGC %d, want the larger one's %d", got, capped)
	}
	// after a collection the floor is put back (something else may have changed GOGC meanwhile)
	debug.SetGCPercent(90)
	for deadline := time.Now().Add(5 * time.Second); gcPercent() != capped; {
		if time.Now().After(deadline) {
			t.Fatalf("after collections GOGC is %d, want the floor's %d back", gcPercent(), capped)
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	stopB()
	stopB() // a second call changes nothing
	if got := gcPercent(); got != capped/4 {
		t.Fatalf("one floor left: GOGC %d, want its %d", got, capped/4)
	}
	stopA()
	if got := gcPercent(); got != 90 {
		t.Fatalf("no floor left: GOGC %d, want the 90 from before", got)
	}
	runtime.GC()
	runtime.GC() // the last sentinel runs and is not renewed
	time.Sleep(10 * time.Millisecond)
	if got := gcPercent(); got != 90 {
		t.Fatalf("collections after the last holder stopped: GOGC %d, want 90", got)
	}
}

// GOGC in the environment, a floor under the runtime's own, or a collector turned off: nothing changes.
func TestHoldGCFloorLeavesAlone(t *testing.T) {
	before := debug.SetGCPercent(90)
	defer debug.SetGCPercent(before)
	t.Setenv("GOGC", "150")
	holdGCFloor(1 << 30)()
	if got := gcPercent(); got != 90 {
		t.Fatalf("with GOGC in the environment GOGC became %d, want 90", got)
	}
	t.Setenv("GOGC", "")
	stop := holdGCFloor(2 << 20)
	if got := gcPercent(); got != 90 {
		t.Fatalf("with a 2 MiB floor GOGC became %d, want 90", got)
	}
	stop()
	debug.SetGCPercent(-1)
	stop = holdGCFloor(1 << 30)
	if got := gcPercent(); got != -1 {
		t.Fatalf("with the collector off GOGC became %d, want -1", got)
	}
	stop()
	debug.SetGCPercent(90)
}

// stackUser recurses depth frames of ~1 KiB each, then waits for release: its stack is scanned by
// every collection, and GOGC applies to it as to the live heap.
//
//go:noinline
func stackUser(depth int, ready chan<- struct{}, release <-chan struct{}) byte {
	var pad [1 << 10]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		ready <- struct{}{}
		<-release
		return pad[0]
	}
	return stackUser(depth-1, ready, release) + pad[depth%len(pad)]
}

// Since Go 1.18 the heap goal is the live heap plus GOGC per cent of the live heap, the scanned stacks
// and the globals: a GOGC worked out from the live heap alone puts the goal far past the floor when the
// goroutines' stacks are not small (many connections), which the floor must not do.
func TestHoldGCFloorCountsStacks(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	const floor = 16 << 20
	ready, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	const goroutines, depth = 128, 64 // ~8 MiB of scanned stack
	for range goroutines {
		wg.Go(func() { stackUser(depth, ready, release) })
	}
	for range goroutines {
		<-ready
	}
	defer runtime.GC() // measures the stacks gone: the next test's GOGC is worked out without them
	defer wg.Wait()
	defer close(release)
	runtime.GC() // the stacks are measured at the collection
	stop := holdGCFloor(floor)
	defer stop()
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}, {Name: "/gc/scan/stack:bytes"}}
	metrics.Read(s)
	goal, stacks := s[0].Value.Uint64(), s[1].Value.Uint64()
	if stacks < 4<<20 {
		t.Skipf("only %d KiB of stack scanned: nothing to measure", stacks>>10)
	}
	if goal > floor+floor/8 {
		t.Fatalf("with %d MiB of stacks the heap goal is %.1f MiB (GOGC %d), want about the %d MiB floor",
			stacks>>20, float64(goal)/(1<<20), gcPercent(), floor>>20)
	}
}
