package daemon

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		{"no floor", 2 * mib, 0, 100, 100},
		{"floor under the runtime's own", 1 * mib, 3 * mib, 100, 100},
		{"small live heap: capped where the runtime's minimum heap reaches the floor", 2 * mib, 16 * mib, 100, 400},
		{"live heap of a quarter of the floor: the goal at the floor", 4 * mib, 16 * mib, 100, 300},
		{"live heap of three eighths", 6 * mib, 16 * mib, 100, 166},
		{"live heap at half the floor: the default", 8 * mib, 16 * mib, 100, 100},
		{"live heap over the floor", 40 * mib, 16 * mib, 100, 100},
		{"a higher base stays", 6 * mib, 16 * mib, 200, 200},
		{"no live heap measured yet", 0, 16 * mib, 100, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercentFor(tc.live, tc.floor, tc.base); got != tc.want {
				t.Fatalf("gcPercentFor(%d MiB live, %d MiB floor, base %d) = %d, want %d",
					tc.live/mib, tc.floor/mib, tc.base, got, tc.want)
			}
		})
	}
}

// gcPercent reads the process's GOGC.
func gcPercent() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }

// A held floor sets GOGC at once and again after each collection, the larger of two overlapping
// floors wins, and when the last holder stops the setting from before is back.
func TestHoldGCFloor(t *testing.T) {
	t.Setenv("GOGC", "") // an operator's GOGC would win; t.Setenv also keeps parallel tests away
	before := debug.SetGCPercent(90)
	defer debug.SetGCPercent(before)
	const floor = 1 << 30 // far above this test binary's live heap: the cap applies
	capped := floor * 100 / minHeap

	stopA := holdGCFloor(floor / 4)
	if got := gcPercent(); got != capped/4 {
		t.Fatalf("holding a %d MiB floor: GOGC %d, want %d", floor/4>>20, got, capped/4)
	}
	stopB := holdGCFloor(floor)
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
