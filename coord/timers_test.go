package coord

import (
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
