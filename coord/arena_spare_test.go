package coord

import (
	"testing"
	"time"
)

// After a burst that left several finished batches in the spare list with full arenas, a quiet period
// uses and resets each of them in turn, so every arena shrinks back (a review found the spares below the
// top one kept their burst-sized chunks for good).
func TestSpareArenasShrinkAfterABurst(t *testing.T) {
	e := &Engine{}
	var ps []*pending
	for range maxSpare {
		p := e.newPending(time.Time{})
		for range slabKeep * slabChunk {
			p.arena.lease()
			p.arena.event()
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		e.recycle(p)
	}
	for range 100 * slabDecay * slabKeep {
		p := e.newPending(time.Time{})
		p.arena.lease()
		e.recycle(p)
	}
	for i, p := range e.spare {
		if n, m := len(p.arena.leases.chunks), len(p.arena.events.chunks); n > slabFloor || m > slabFloor {
			t.Errorf("spare %d still holds %d lease and %d event chunks after %d quiet batches", i, n, m, 100*slabDecay*slabKeep)
		}
	}
}
