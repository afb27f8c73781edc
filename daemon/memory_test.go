package daemon

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name   string
		target int64
		s      memStats
		want   int64
	}{
		{"small heap: the target", 70 * mib, memStats{live: 10 * mib, unused: mib, other: 5 * mib}, 70 * mib},
		{"live heap needs more: two fifths of its size to grow", 70 * mib, memStats{live: 60 * mib, unused: 4 * mib, other: 8 * mib}, 96 * mib},
		{"exactly at the floor", 35 * mib, memStats{live: 20 * mib, unused: 2 * mib, other: 5 * mib}, 35 * mib},
		{"floor rounded up to a MiB", 1, memStats{live: 5 * mib, other: 1}, 8 * mib},
		{"huge figures do not overflow", 1, memStats{live: math.MaxUint64 / 2, other: math.MaxUint64 / 2}, math.MaxInt64},
	} {
		if got := memoryLimit(tc.target, tc.s); got != tc.want {
			t.Errorf("%s: memoryLimit = %d MiB, want %d MiB", tc.name, got/mib, tc.want/mib)
		}
	}
}

func TestMemReaderFigures(t *testing.T) {
	keep := make([]byte, 8<<20) // live for the read below
	runtime.GC()                // the live heap is known after a collection
	s := newMemReader().read()
	if s.live < 8<<20 || s.other == 0 {
		t.Fatalf("runtime figures not read: %+v", s)
	}
	runtime.KeepAlive(keep)
}

func TestGovernMemorySetsAndRestoresTheLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	const target = 3 << 30 // above any floor this test process reaches
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); governMemory(ctx, target, 5*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != target {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d, want %d", debug.SetMemoryLimit(-1), int64(target))
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("limit after stop %d, want the previous %d", got, prev)
	}
}

func TestMemoryGoverned(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	if !memoryGoverned(1) || memoryGoverned(0) || memoryGoverned(-1) {
		t.Fatal("target sign not honoured")
	}
	t.Setenv("GOMEMLIMIT", "200MiB")
	if memoryGoverned(70 << 20) {
		t.Fatal("GOMEMLIMIT in the environment must win")
	}
}

// A coordinator with a memory target holds the runtime's limit there while it runs (as /metrics
// shows) and gives the previous limit back when it stops.
func TestMemoryTargetHeldWhileServing(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	prev := debug.SetMemoryLimit(-1)
	const target = 3 << 30
	h := start(t, []string{line("t-1", "one", 1)}, func(c *Config) { c.MemoryTarget = target })
	_, addr := h.d.Addrs()
	want := fmt.Sprintf("go_gc_gomemlimit_bytes %g", float64(target))
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.shutdown()
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("limit after shutdown %d, want the previous %d", got, prev)
	}
}

// Two governors in one process (two daemons): while both run the limit is the larger target; when one
// stops the other's holds (not the stopped one's); when the last stops the limit from before both is back.
func TestOverlappingGovernors(t *testing.T) {
	const small, large = 3 << 30, 4 << 30
	tests := []struct {
		name          string
		first, second int64
		stopFirst     bool  // which one stops first
		wantBetween   int64 // the limit while only the other runs
	}{
		{"larger starts last, stops first", small, large, false, small},
		{"larger starts last, stops last", small, large, true, large},
		{"larger starts first, stops first", large, small, true, small},
		{"larger starts first, stops last", large, small, false, large},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev := debug.SetMemoryLimit(-1)
			start := func(target int64) (stop func()) {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				n := governorsWanting()
				go func() { defer close(done); governMemory(ctx, target, time.Millisecond) }()
				for governorsWanting() != n+1 { // registered, with its first limit
					time.Sleep(time.Millisecond)
				}
				return func() { cancel(); <-done }
			}
			stopFirst := start(tc.first)
			stopSecond := start(tc.second)
			if got := debug.SetMemoryLimit(-1); got != large {
				t.Fatalf("both running: limit %d MiB, want the larger target %d MiB", got>>20, large>>20)
			}
			last := stopFirst
			if tc.stopFirst {
				stopFirst()
				last = stopSecond
			} else {
				stopSecond()
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantBetween {
				t.Fatalf("one stopped: limit %d MiB, want the running one's %d MiB", got>>20, tc.wantBetween>>20)
			}
			last()
			if got := debug.SetMemoryLimit(-1); got != prev {
				t.Fatalf("both stopped: limit %d, want the one from before %d", got, prev)
			}
		})
	}
}

// governorsWanting counts the running governors that have set their first limit.
func governorsWanting() int {
	governors.Lock()
	defer governors.Unlock()
	n := 0
	for _, l := range governors.wants {
		if l >= 0 {
			n++
		}
	}
	return n
}
