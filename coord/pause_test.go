package coord

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// monoClock is a monotonic clock the test moves (Config.Monotonic).
type monoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (m *monoClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

func (m *monoClock) Advance(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

// TestAPauseOfTheProcessHoldsLeaseClocks: when the engine wakes for a deadline long after it was due by
// its own monotonic clock (the process was stopped: SIGSTOP, a debugger, a swap storm), the time since
// it last ran is not counted against the leases: the deadline that passed meanwhile moves by it, and the
// moved deadline is written. A deadline that passes while the engine runs (the monotonic clock moving
// with the wall clock) still expires the lease. Before, a coordinator stopped for 22 s with a 20 s
// heartbeat timeout expired all 29 live leases when it went on, each a failed attempt (a trial).
func TestAPauseOfTheProcessHoldsLeaseClocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		paused bool // the monotonic clock moves with the wall clock while the engine waits, unrun
	}{{"stopped", true}, {"running", false}} {
		t.Run(tc.name, func(t *testing.T) {
			mp := newMemPersister(nil)
			clk := NewFakeClock(t0)
			mono := &monoClock{t: t0}
			var mu sync.Mutex
			var pauses []time.Duration
			cfg := testCfg()
			cfg.Monotonic = mono.Now
			cfg.OnPause = func(d time.Duration) { mu.Lock(); pauses = append(pauses, d); mu.Unlock() }
			h := startEngineOn(t, cfg, mp, mp, clk)
			l := h.ackedLease()
			before, _ := durableLease(t, mp, l.ID)
			const stop = 90 * time.Second // longer than the heartbeat timeout (60 s)
			if tc.paused {
				mono.Advance(stop)
			}
			clk.Advance(stop) // the engine's timer fires, stop late
			h.e.Status()      // a round trip through the loop
			_, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, "")
			mu.Lock()
			got := pauses
			mu.Unlock()
			if !tc.paused {
				if err == nil || len(got) != 0 {
					t.Fatalf("a deadline passed while the engine ran: heartbeat %v, pauses %v; want the lease expired, no pause", err, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("heartbeat after the process was stopped for %v: %v", stop, err)
			}
			if len(got) != 1 || got[0] != stop {
				t.Fatalf("pauses noticed %v, want [%v]", got, stop)
			}
			after, ok := durableLease(t, mp, l.ID)
			if !ok || after.Deadline.Before(before.Deadline.Add(stop)) {
				t.Fatalf("durable deadline %v after the pause, was %v: want it moved by %v at least", after.Deadline, before.Deadline, stop)
			}
		})
	}
}

// TestAPauseWhileTheLoopWorksIsNoticed: a stop of the process while the loop applies a batch (not while
// it waits) is held too: the step took the pause, and nothing was read meanwhile either (review: the
// lease expired).
func TestAPauseWhileTheLoopWorksIsNoticed(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	mono := &monoClock{t: t0}
	var pauses atomic.Int32
	var stopNow atomic.Bool
	const stop = 90 * time.Second
	cfg := testCfg()
	cfg.Monotonic = mono.Now
	cfg.OnPause = func(time.Duration) { pauses.Add(1) }
	cfg.OnStep = func(time.Duration, int) {
		if stopNow.CompareAndSwap(true, false) { // the stop lands while the loop applies a batch
			mono.Advance(stop)
			clk.Advance(stop)
		}
	}
	h := startEngineOn(t, cfg, mp, mp, clk)
	l := h.ackedLease()
	stopNow.Store(true)
	_ = h.e.PutIssues(h.ctx, puts(iss("z", 9)))
	if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil || pauses.Load() != 1 {
		t.Fatalf("heartbeat after a %v stop during a step: %v (%d pauses noticed)", stop, err, pauses.Load())
	}
}

// TestAPauseDuringACommitIsNoStorageStall: a stop of the process while a commit runs is held once, as a
// pause, and does not make the commit look stalled (review: the stall hold counted the pause again,
// and health reported the storage stalled).
func TestAPauseDuringACommitIsNoStorageStall(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	gp := &hangPersister{m: mp}
	mono := &monoClock{t: t0}
	cfg := testCfg()
	cfg.Monotonic = mono.Now
	h := startEngineOn(t, cfg, mp, gp, clk)
	h.ackedLease()
	done := gp.hangPut(t, h, iss("c", 3))
	var once sync.Once
	thaw := func() { once.Do(gp.close) }
	t.Cleanup(thaw)
	const stop = 30 * time.Second
	mono.Advance(stop)
	clk.Advance(stop) // the loop's timer fires stop late, the commit still running
	for range 3 {     // and it runs 300 ms more after the resume
		time.Sleep(20 * time.Millisecond)
		clk.Advance(stallConfirm)
		mono.Advance(stallConfirm)
	}
	time.Sleep(20 * time.Millisecond)
	if err, _ := h.e.StorageFailing(); err != nil || h.e.stalledNow.Load() {
		t.Errorf("a commit 300 ms past a %v pause: storage failing %v, stalled %v", stop, err, h.e.stalledNow.Load())
	}
	thaw()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.stop()
	if h.e.held < stop || h.e.held > stop+time.Second {
		t.Errorf("held %v for a pause of %v", h.e.held, stop)
	}
}

// TestAnIdleSchedulerIsNotPaused: a scheduler without deadlines waits as long as nothing comes; the wait
// is no pause when work then arrives (`make run`: 14.5 s idle after a gtc status logged a pause).
func TestAnIdleSchedulerIsNotPaused(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	mono := &monoClock{t: t0}
	var pauses atomic.Int32
	cfg := testCfg()
	cfg.Monotonic = mono.Now
	cfg.OnPause = func(time.Duration) { pauses.Add(1) }
	h := startEngineOn(t, cfg, mp, mp, clk)
	l := h.ackedLease()
	if _, err := h.e.Complete(h.ctx, "w", l.ID, l.Epoch, SessionResult{Outcome: "success"}); err != nil {
		t.Fatal(err)
	}
	for range 260 { // the lease's timers run out, the loop waking as it should (every second)
		mono.Advance(500 * time.Millisecond)
		clk.Advance(500 * time.Millisecond)
		h.e.Status() // a round trip: the loop has run since
	}
	h.e.Status()
	for range 2 { // idle, no deadline left: nothing wakes the loop, as long as nothing comes
		mono.Advance(15 * time.Second)
		clk.Advance(15 * time.Second)
		h.e.Status()
	}
	_ = h.e.PutIssues(h.ctx, puts(iss("b", 1))) // work again: a push, a deadline
	h.nextPush()
	h.e.Status()
	if n := pauses.Load(); n != 0 {
		t.Fatalf("%d pauses noticed for an idle wait", n)
	}
}
