package coord

import (
	"cmp"
	"container/heap"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestTimerHeapStaysBoundedByLiveLeases drains 5,000 issues through two workers without letting any
// ack timeout pass: the heap must hold about the live leases, not one ack timer per lease ever made.
func TestTimerHeapStaysBoundedByLiveLeases(t *testing.T) {
	const n = 5000
	s := newSim(t, testCfg(), n, nil)
	s.connect("w1", 1, Filters{})
	s.connect("w2", 1, Filters{})
	maxLen := 0
	for done := 0; done < n; {
		ps := s.pushes()
		if len(ps) == 0 {
			t.Fatalf("no push after %d completions", done)
		}
		for _, p := range ps {
			l := p.A.Lease
			if err := s.c.ack(s.now, l.Worker, l.ID, l.Epoch); err != nil {
				t.Fatal(err)
			}
			if _, err := s.c.complete(s.now, l.Worker, l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
				t.Fatal(err)
			}
			done++
		}
		s.advance(time.Millisecond) // far less than AckTimeout: no timer is due
		maxLen = max(maxLen, len(s.c.timers.items))
	}
	if maxLen > 2*minTimerCompact {
		t.Fatalf("timer heap reached %d entries for 2 live leases", maxLen)
	}
}

// TestTimerCompactionKeepsLiveTimers checks that compaction keeps what can still fire: a lease that is
// live keeps its ack timeout, and an issue's current retry time survives while older ones go.
func TestTimerCompactionKeepsLiveTimers(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	for i := 0; i < 3*minTimerCompact; i++ {
		s.c.addTimer(s.now.Add(time.Hour), timerLease, "L-ended") // stale: no such lease
	}
	if n := len(s.c.timers.items); n >= minTimerCompact {
		t.Fatalf("stale entries kept: %d", n)
	}
	s.advance(testCfg().withDefaults(t0).AckTimeout + time.Second)
	if s.events("ack_timeout") != 1 {
		t.Fatalf("the live lease %s lost its ack timer in compaction", l.ID)
	}
}

// TestTimerHeapOrder: push and pop keep the heap ordered by time, then by insertion, as container/heap
// did, through interleaved pushes and pops and a compaction's heap.Init.
func TestTimerHeapOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var h timerHeap
	var want []timer
	add := func() {
		h.seq++
		tm := timer{at: t0.Add(time.Duration(rnd.IntN(50)) * time.Second), seq: h.seq}
		h.push(tm)
		want = append(want, tm)
	}
	popCheck := func() {
		slices.SortFunc(want, func(a, b timer) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		got := h.pop()
		if got.at != want[0].at || got.seq != want[0].seq {
			t.Fatalf("popped %v #%d, want %v #%d", got.at, got.seq, want[0].at, want[0].seq)
		}
		want = want[1:]
	}
	for range 500 {
		add()
		if rnd.IntN(3) == 0 {
			popCheck()
		}
	}
	heap.Init(&h)
	for len(want) > 0 {
		popCheck()
	}
	if h.Len() != 0 {
		t.Fatalf("%d timers left", h.Len())
	}
}
