package metrics

import (
	"context"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// countSlots is how many one-second count buckets a ring keeps (one hour).
const countSlots = 3600

// Series is the samples of one measurement inside a window.
type Series struct {
	// Values holds samples in the window, roughly oldest first: all of them while the window holds no more
	// than the ring capacity, else a uniform random sample of the window (one in 8, 64 or 512; see ring)
	// or, for the sampler's series, its last samples
	Values []time.Duration
	Count  int64 // observations in the window; larger than len(Values) when the window was sampled
}

// Samples is what the sample rings hold for a window; it feeds the profile report.
type Samples struct {
	Span      time.Duration   // time covered: the window, or less if the Metrics is younger
	Loop      Series          // scheduler loop iterations
	Assign    Series          // assignment push → ack
	Read      Series          // SQLite reads
	Write     Series          // SQLite write statements
	Commit    Series          // SQLite group commits
	Export    Series          // JSONL exports
	HeapBytes []uint64        // heap-in-use samples taken by RunSampler, oldest first
	RSSBytes  []uint64        // resident-size samples of this process taken by RunSampler (Linux), oldest first
	Lag       []time.Duration // sampler wake-up delays (scheduling lag) taken by RunSampler, oldest first
}

type sample struct{ t, v int64 }

// ringTiers is how many resolutions a ring keeps; tier k holds one sample in tierStep^k.
const (
	ringTiers = 4
	tierStep  = 8 // a power of two: a tier's draw is three bits of one random number
)

// tier keeps the last cap samples it was given, growing its buffer as they come.
type tier struct {
	buf         []sample
	next        int   // where the next sample goes once buf is full (the oldest)
	lastDropped int64 // timestamp of the newest overwritten sample
}

func (tr *tier) put(s sample, capacity int) {
	if len(tr.buf) < capacity {
		if len(tr.buf) == cap(tr.buf) { // grow by doubling, never past capacity (append rounds up)
			nb := make([]sample, len(tr.buf), min(capacity, max(64, 2*cap(tr.buf))))
			copy(nb, tr.buf)
			tr.buf = nb
		}
		tr.buf = append(tr.buf, s)
		return
	}
	old := &tr.buf[tr.next]
	tr.lastDropped = max(tr.lastDropped, old.t)
	*old = s
	if tr.next++; tr.next == len(tr.buf) {
		tr.next = 0
	}
}

// ring keeps the last cap samples, for a latency series uniform random samples of longer stretches too
// (tier k: one sample in 8^k, the last cap/2 of them, so with the default 8,192 about 33 thousand, 260
// thousand and two million observations back), and per-second counts for the last hour. A window longer
// than the last cap samples is answered from the finest tier that still holds all of its stretch, so a
// profile of a long load test describes the whole run, not its last seconds.
type ring struct {
	mu       sync.Mutex
	now      func() time.Time
	capacity int
	ntiers   int           // 1, or ringTiers for a latency series
	adds     atomic.Uint64 // samples ever added: mixed into the tiers' draw
	tiers    [ringTiers]tier
	slotSec  [countSlots]int64
	slotN    [countSlots]int64
}

// newRing returns a ring of capacity samples with tiers resolutions (1 to ringTiers).
func newRing(capacity, tiers int, now func() time.Time) *ring {
	r := &ring{now: now, capacity: capacity, ntiers: min(max(tiers, 1), ringTiers)}
	for i := range r.tiers {
		r.tiers[i].lastDropped = -1 << 63
	}
	return r
}

// tierCap is how many samples tier k keeps: capacity for the finest, half of it for the coarser ones. A
// coarser tier answers only a window the tier before it could not hold, so it has at least a sixteenth
// of the ring's capacity in it (~500 samples with the default).
func (r *ring) tierCap(k int) int {
	if k == 0 {
		return r.capacity
	}
	return max(1, r.capacity/2)
}

func (r *ring) add(v int64) {
	t := r.now().UnixNano()
	sec := t / int64(time.Second)
	slot := sec % countSlots
	if slot < 0 {
		slot += countSlots
	}
	s := sample{t: t, v: v}
	// the coarser tiers' draw: a mix (splitmix64's finalizer) of the timestamp and the count of samples,
	// so samples sharing a timestamp (a coarse or frozen clock) draw apart
	x := uint64(t) + r.adds.Add(1)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	r.mu.Lock()
	r.tiers[0].put(s, r.capacity)
	for k := 1; k < r.ntiers && x%tierStep == 0; k, x = k+1, x/tierStep {
		r.tiers[k].put(s, r.tierCap(k))
	}
	if r.slotSec[slot] != sec {
		r.slotSec[slot] = sec
		r.slotN[slot] = 0
	}
	r.slotN[slot]++
	r.mu.Unlock()
}

// window returns the values with timestamp ≥ from (all of them, or a uniform sample when there were more
// than the ring keeps) and the number of observations since from.
func (r *ring) window(from int64) ([]int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := 0
	for k < r.ntiers-1 && r.tiers[k].lastDropped >= from {
		k++ // this tier lost samples of the window: a coarser one covers more of it
	}
	tr := &r.tiers[k]
	var vals []int64
	for _, part := range [2][]sample{tr.buf[tr.next:], tr.buf[:tr.next]} { // oldest first
		for _, s := range part {
			if s.t >= from {
				vals = append(vals, s.v)
			}
		}
	}
	if r.tiers[0].lastDropped < from {
		return vals, int64(len(vals)) // every sample of the window is kept
	}
	// Samples in the window were overwritten: count from the per-second buckets instead.
	fromSec := from / int64(time.Second)
	var c int64
	for i := range r.slotSec {
		if r.slotN[i] > 0 && r.slotSec[i] >= fromSec {
			c += r.slotN[i]
		}
	}
	return vals, max(int64(len(vals)), c)
}

type rings struct {
	now                                       func() time.Time
	start                                     time.Time
	loop, assign, read, write, commit, export *ring
	heap, rss, lag                            *ring
}

func newRings(capacity int, now func() time.Time) *rings {
	return &rings{
		now: now, start: now(),
		loop: newRing(capacity, ringTiers, now), assign: newRing(capacity, ringTiers, now), read: newRing(capacity, ringTiers, now),
		write: newRing(capacity, ringTiers, now), commit: newRing(capacity, ringTiers, now), export: newRing(capacity, ringTiers, now),
		// the sampler's series (every 100 ms): the last capacity of them (13.6 minutes with the default),
		// each one kept, so a peak is never sampled away
		heap: newRing(capacity, 1, now), rss: newRing(capacity, 1, now), lag: newRing(capacity, 1, now),
	}
}

func series(r *ring, from int64) Series {
	vals, count := r.window(from)
	out := Series{Values: make([]time.Duration, len(vals)), Count: count}
	for i, v := range vals {
		out.Values[i] = time.Duration(v)
	}
	return out
}

// Samples returns the samples of the last window (window ≤ 0: everything retained since New).
func (m *Metrics) Samples(window time.Duration) Samples {
	if m == nil {
		return Samples{}
	}
	rs := m.rings
	now := rs.now()
	age := now.Sub(rs.start)
	if window <= 0 || window > age {
		window = age
	}
	from := now.Add(-window).UnixNano()
	out := Samples{
		Span:   window,
		Loop:   series(rs.loop, from),
		Assign: series(rs.assign, from),
		Read:   series(rs.read, from),
		Write:  series(rs.write, from),
		Commit: series(rs.commit, from),
		Export: series(rs.export, from),
	}
	heap, _ := rs.heap.window(from)
	for _, v := range heap {
		out.HeapBytes = append(out.HeapBytes, uint64(v))
	}
	rss, _ := rs.rss.window(from)
	for _, v := range rss {
		out.RSSBytes = append(out.RSSBytes, uint64(v))
	}
	lag, _ := rs.lag.window(from)
	for _, v := range lag {
		out.Lag = append(out.Lag, time.Duration(v))
	}
	return out
}

// selfRSS reads this process's resident size from /proc/self/statm (false where there is none).
func selfRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}

// heapMetric is the runtime/metrics name of heap bytes in live and not-yet-swept objects (HeapAlloc).
const heapMetric = "/memory/classes/heap/objects:bytes"

// SampleRuntime records the current heap use and one scheduling-lag sample (how late a timed wake-up ran).
func (m *Metrics) SampleRuntime(lag time.Duration) {
	if m == nil {
		return
	}
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		m.rings.heap.add(int64(s[0].Value.Uint64()))
	}
	m.SampleRSS()
	m.rings.lag.add(int64(max(lag, 0)))
}

// SampleRSS records this process's resident size (Linux; elsewhere nothing).
func (m *Metrics) SampleRSS() {
	if m == nil {
		return
	}
	if rss, ok := selfRSS(); ok {
		m.rings.rss.add(rss)
	}
}

// RunSampler samples heap use and scheduling lag every interval until ctx is done; the caller owns the goroutine.
func (m *Metrics) RunSampler(ctx context.Context, interval time.Duration) {
	if m == nil || interval <= 0 {
		return
	}
	due := time.Now().Add(interval)
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		m.SampleRuntime(now.Sub(due))
		due = due.Add(interval)
		if due.Before(now) {
			due = now.Add(interval) // fell more than an interval behind: resynchronise
		}
		timer.Reset(due.Sub(now))
	}
}
