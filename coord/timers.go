package coord

import (
	"container/heap"
	"time"
)

// Timer kinds; a fired timer re-checks the real state, so stale entries are harmless.
const (
	timerLease   = iota // ack or heartbeat deadline of a lease
	timerGrace          // reconnect grace of a disconnected worker
	timerIssue          // defer_until or retry backoff of an issue ends
	timerWaiter         // a parked claim's wait ends
	timerMerge          // a merge slot deadline (key "") or a refinery's reconnect grace (key = name)
	timerReject         // the hold of an issue's last rejection ends
	timerSilence        // a refinery's heartbeat timeout since its last heartbeat (key = name)
	timerForget         // a gone worker's time to be forgotten (key = name)
)

type timer struct {
	at   time.Time
	kind int
	key  string
	seq  uint64
}

// timerHeap orders timers by time, then insertion.
type timerHeap struct {
	items []timer
	seq   uint64
	// issueAt dedupes issue timers: the time already scheduled per issue.
	issueAt map[string]time.Time
	// compactAt is the length at which addTimer next drops stale entries (0: minTimerCompact).
	compactAt int
}

// minTimerCompact is the smallest heap addTimer compacts: below it stale entries cost little.
const minTimerCompact = 1024

func (h *timerHeap) Len() int { return len(h.items) }

// push adds t; heap.Push would box it into an interface (an allocation per timer).
func (h *timerHeap) push(t timer) {
	h.items = append(h.items, t)
	h.up(len(h.items) - 1)
}

// pop removes and returns the earliest timer (see push).
func (h *timerHeap) pop() timer {
	n := len(h.items) - 1
	h.Swap(0, n)
	h.down(0, n)
	t := h.items[n]
	h.items[n] = timer{} // drop its key
	h.items = h.items[:n]
	return t
}

// up and down are container/heap's sift steps.
func (h *timerHeap) up(j int) {
	for {
		i := (j - 1) / 2 // parent
		if i == j || !h.Less(j, i) {
			break
		}
		h.Swap(i, j)
		j = i
	}
}

func (h *timerHeap) down(i0, n int) {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 { // j1 < 0 after int overflow
			break
		}
		j := j1 // left child
		if j2 := j1 + 1; j2 < n && h.Less(j2, j1) {
			j = j2 // right child
		}
		if !h.Less(j, i) {
			break
		}
		h.Swap(i, j)
		i = j
	}
}
func (h *timerHeap) Less(i, j int) bool {
	if !h.items[i].at.Equal(h.items[j].at) {
		return h.items[i].at.Before(h.items[j].at)
	}
	return h.items[i].seq < h.items[j].seq
}
func (h *timerHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *timerHeap) Push(x any)    { h.items = append(h.items, x.(timer)) }
func (h *timerHeap) Pop() any {
	n := len(h.items) - 1
	t := h.items[n]
	h.items = h.items[:n]
	return t
}

// addTimer schedules a check of key at t.
func (c *core) addTimer(t time.Time, kind int, key string) {
	if kind == timerIssue {
		if c.timers.issueAt == nil {
			c.timers.issueAt = make(map[string]time.Time)
		}
		if at, ok := c.timers.issueAt[key]; ok && at.Equal(t) {
			return
		}
		c.timers.issueAt[key] = t
	}
	c.timers.seq++
	c.timers.push(timer{at: t, kind: kind, key: key, seq: c.timers.seq})
	if n := len(c.timers.items); n >= max(c.timers.compactAt, minTimerCompact) {
		c.compactTimers()
	}
}

// compactTimers drops the entries that can only fire as no-ops: those of ended leases and the
// superseded times of issue timers. Without it every lease leaves its ack timer in the heap until
// AckTimeout has passed: ~90,000 entries (and their lease ids) at 9,000 assignments a second. It runs
// when the heap has doubled since the last compaction, so its cost per addTimer is constant.
func (c *core) compactTimers() {
	h := &c.timers
	keep := h.items[:0]
	for _, t := range h.items {
		switch t.kind {
		case timerLease:
			if c.leases[t.key] == nil {
				continue
			}
		case timerIssue:
			if at, ok := h.issueAt[t.key]; !ok || !at.Equal(t.at) {
				continue
			}
		}
		keep = append(keep, t)
	}
	clear(h.items[len(keep):]) // drop the key strings of the removed entries
	h.items = keep
	if cap(h.items) > 4*max(len(h.items), minTimerCompact) {
		h.items = append([]timer(nil), h.items...) // let a heap that was once large shrink
	}
	heap.Init(h)
	h.compactAt = 2 * len(h.items)
}

// nextDeadline returns when the core next needs tick, if ever.
func (c *core) nextDeadline() (time.Time, bool) {
	if len(c.timers.items) == 0 {
		return time.Time{}, false
	}
	return c.timers.items[0].at, true
}

// tick runs every timer due at now: ack and heartbeat expiries, grace ends, backoff and defer ends.
func (c *core) tick(now time.Time) {
	c.advance(now)
	for len(c.timers.items) > 0 && !c.timers.items[0].at.After(c.now) {
		t := c.timers.pop()
		switch t.kind {
		case timerLease:
			c.leaseTimer(t.key)
		case timerGrace:
			c.graceTimer(t.key)
		case timerIssue:
			if at, ok := c.timers.issueAt[t.key]; ok && at.Equal(t.at) {
				delete(c.timers.issueAt, t.key)
			}
			if it := c.issues[t.key]; it != nil {
				c.refresh(it)
			}
		case timerWaiter:
			c.waiterTimer(t.key)
		case timerMerge:
			c.mergeTimer(t.key)
		case timerReject:
			c.rejectTimer(t.key)
		case timerSilence:
			c.refinerySilent(t.key)
		case timerForget:
			c.forgetTimer(t.key)
		}
	}
}

// holdClocks moves the workers' clocks forward by d while the storage fails: every live lease's ack
// and heartbeat deadlines, every disconnected worker's reconnect grace and a refinery's last beat. The worker's heartbeats,
// acks and hello were refused meanwhile; the timers already set fire early and re-arm (leaseTimer,
// graceTimer's lease timers).
func (c *core) holdClocks(d time.Duration) {
	if d <= 0 {
		return
	}
	c.holdLeases(d)
	for _, w := range c.workers {
		if !w.connected && !w.disconnectedAt.IsZero() {
			w.disconnectedAt = w.disconnectedAt.Add(d)
		}
		if !w.beatAt.IsZero() { // a refinery's silence (refinerySilent): its timer set fires early
			w.beatAt = w.beatAt.Add(d)
			if w.beatsOften {
				c.addTimer(w.beatAt.Add(c.cfg.HeartbeatTimeout), timerSilence, w.row.Name)
			}
		}
	}
}

// holdLeases moves every live lease's ack and heartbeat deadlines and every merge slot's deadline
// forward by d (holdClocks).
func (c *core) holdLeases(d time.Duration) {
	if d <= 0 {
		return
	}
	for _, l := range c.leases {
		l.AckDeadline = l.AckDeadline.Add(d)
		l.Deadline = l.Deadline.Add(d)
	}
	if c.mq != nil {
		c.mq.Hold(d)
		c.mqAt = time.Time{} // the timer set fires early and finds nothing due: arm the moved deadline
		c.scheduleMerge()
	}
}
