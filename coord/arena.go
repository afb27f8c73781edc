package coord

import "time"

// batchArena holds the values the Changes and Effects of one engine batch point to. Boxing each value
// into its interface cost one allocation per change (LeasePut 208 B, IssueState 192 B, EventAppend
// 128 B, a push 240 B: ~1.9 KB per assignment cycle); the core takes them from the arena instead, as
// pointers, and the engine clears and reuses the arena once the batch is committed and delivered
// (Engine.recycle). A core used without an engine has no arena (nil): each value is allocated on its
// own, as boxing did, and stays valid for as long as it is referenced.
type batchArena struct {
	states   slab[stateRec]
	leases   slab[LeasePut]
	events   slab[EventAppend]
	pushes   slab[pushEffect]
	outcomes slab[outcomeEffect]
	times    slab[time.Time] // an ended lease's EndedAt (the lease is reused before the arena)
}

// stateRec is an IssueState with room for the times its pointers name.
type stateRec struct {
	st      IssueState
	started time.Time
	closed  time.Time
}

func (a *batchArena) state() *stateRec {
	if a == nil {
		return new(stateRec)
	}
	return a.states.alloc()
}

func (a *batchArena) lease() *LeasePut {
	if a == nil {
		return new(LeasePut)
	}
	return a.leases.alloc()
}

func (a *batchArena) event() *EventAppend {
	if a == nil {
		return new(EventAppend)
	}
	return a.events.alloc()
}

func (a *batchArena) push() *pushEffect {
	if a == nil {
		return new(pushEffect)
	}
	return a.pushes.alloc()
}

func (a *batchArena) time() *time.Time {
	if a == nil {
		return new(time.Time)
	}
	return a.times.alloc()
}

func (a *batchArena) outcome() *outcomeEffect {
	if a == nil {
		return new(outcomeEffect)
	}
	return a.outcomes.alloc()
}

// reset clears the arena for the next batch (no value of the last one stays reachable).
func (a *batchArena) reset() {
	a.states.reset()
	a.leases.reset()
	a.events.reset()
	a.pushes.reset()
	a.outcomes.reset()
	a.times.reset()
}

// slabChunk is the number of values a slab allocates at once. On reset a slab keeps as many chunks as
// its largest recent batch used, at most slabKeep (1,024 values, the store's largest transaction); it
// gives one back after slabDecay batches that needed fewer, down to slabFloor, so a burst's chunks
// return as load falls.
const (
	slabChunk = 32
	slabKeep  = 32
	slabDecay = 64
	slabFloor = 4 // kept whatever the load: small batches come and go in bursts
)

// slab hands out pointers to values in fixed-size chunks: a pointer stays valid as the slab grows.
type slab[T any] struct {
	chunks []*[slabChunk]T
	n      int
	keep   int // chunks kept on reset
	under  int // resets since a batch last used keep chunks or more
}

// alloc returns a zeroed value.
func (s *slab[T]) alloc() *T {
	i := s.n / slabChunk
	if i == len(s.chunks) {
		s.chunks = append(s.chunks, new([slabChunk]T))
	}
	p := &s.chunks[i][s.n%slabChunk]
	s.n++
	return p
}

// reset zeroes the values handed out and makes them available again.
func (s *slab[T]) reset() {
	used := (s.n + slabChunk - 1) / slabChunk
	for i := 0; i < used; i++ {
		clear(s.chunks[i][:min(slabChunk, s.n-i*slabChunk)])
	}
	s.n = 0
	if used >= s.keep {
		s.keep, s.under = min(slabKeep, used), 0
	} else if s.under++; s.under >= slabDecay && s.keep > slabFloor {
		s.keep, s.under = s.keep-1, 0
	}
	if len(s.chunks) > s.keep {
		clear(s.chunks[s.keep:])
		s.chunks = s.chunks[:s.keep]
	}
}
