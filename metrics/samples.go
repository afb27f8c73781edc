package metrics

import (
	"context"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// countSlots is how many one-second count buckets a ring keeps (one hour).
const countSlots = 3600

// Series is the recent samples of one measurement inside a window.
type Series struct {
	Values []time.Duration // retained samples in the window, roughly oldest first (at most the ring capacity)
	Count  int64           // observations in the window; larger than len(Values) when the ring overflowed
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

// ring keeps the last cap samples and per-second counts for the last hour.
type ring struct {
	mu          sync.Mutex
	now         func() time.Time
	buf         []sample
	n           uint64 // samples ever added
	lastDropped int64  // timestamp of the newest overwritten sample
	slotSec     [countSlots]int64
	slotN       [countSlots]int64
}

func newRing(capacity int, now func() time.Time) *ring {
	return &ring{now: now, buf: make([]sample, capacity), lastDropped: -1 << 63}
}

func (r *ring) add(v int64) {
	t := r.now().UnixNano()
	sec := t / int64(time.Second)
	slot := sec % countSlots
	if slot < 0 {
		slot += countSlots
	}
	r.mu.Lock()
	i := r.n % uint64(len(r.buf))
	if r.n >= uint64(len(r.buf)) && r.buf[i].t > r.lastDropped {
		r.lastDropped = r.buf[i].t
	}
	r.buf[i] = sample{t: t, v: v}
	r.n++
	if r.slotSec[slot] != sec {
		r.slotSec[slot] = sec
		r.slotN[slot] = 0
	}
	r.slotN[slot]++
	r.mu.Unlock()
}

// window returns the retained values with timestamp ≥ from and the number of observations since from.
func (r *ring) window(from int64) ([]int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := uint64(len(r.buf))
	start := uint64(0)
	if r.n > size {
		start = r.n - size
	}
	var vals []int64
	for k := start; k < r.n; k++ {
		if s := r.buf[k%size]; s.t >= from {
			vals = append(vals, s.v)
		}
	}
	count := int64(len(vals))
	if r.lastDropped >= from {
		// Samples in the window were overwritten: count from the per-second buckets instead.
		fromSec := from / int64(time.Second)
		var c int64
		for i := range r.slotSec {
			if r.slotN[i] > 0 && r.slotSec[i] >= fromSec {
				c += r.slotN[i]
			}
		}
		count = max(count, c)
	}
	return vals, count
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
		loop: newRing(capacity, now), assign: newRing(capacity, now), read: newRing(capacity, now),
		write: newRing(capacity, now), commit: newRing(capacity, now), export: newRing(capacity, now),
		heap: newRing(capacity, now), rss: newRing(capacity, now), lag: newRing(capacity, now),
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
