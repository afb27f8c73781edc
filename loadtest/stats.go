// Package loadtest measures a running gtc server: latency recording, RSS sampling, the result
// report with its pass criteria, and the harness-shaped profile report.
package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PercentileIndex is the harness's percentile index: min(floor(n*p), n-1); P95 of 100 samples is index 95.
func PercentileIndex(n int, p float64) int {
	if n <= 0 {
		return 0
	}
	return min(int(math.Floor(float64(n)*p)), n-1)
}

// recorderShards is the number of independently locked sample slices (a power of two).
const recorderShards = 16

// Recorder collects latency samples from many goroutines; each Record takes one uncontended lock.
type Recorder struct {
	shards [recorderShards]recorderShard
}

type recorderShard struct {
	mu   sync.Mutex
	vals []time.Duration
	_    [32]byte // pad to 64 bytes so shards do not share cache lines
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Record adds one sample.
func (r *Recorder) Record(d time.Duration) {
	s := &r.shards[rand.Uint32()%recorderShards]
	s.mu.Lock()
	s.vals = append(s.vals, d)
	s.mu.Unlock()
}

// Since records the time elapsed since start.
func (r *Recorder) Since(start time.Time) { r.Record(time.Since(start)) }

// Count is the number of samples recorded.
func (r *Recorder) Count() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.vals)
		s.mu.Unlock()
	}
	return n
}

// Values returns a sorted copy of every sample.
func (r *Recorder) Values() []time.Duration {
	var out []time.Duration
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		out = append(out, s.vals...)
		s.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// Reset drops every sample.
func (r *Recorder) Reset() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.vals = nil
		s.mu.Unlock()
	}
}

// Summary computes the summary of every sample recorded so far.
func (r *Recorder) Summary() Summary { return Summarize(r.Values()) }

// Summary describes a latency distribution (percentiles by PercentileIndex).
type Summary struct {
	Count int
	Mean  time.Duration
	P50   time.Duration
	P95   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summarize computes a Summary; ds need not be sorted and is not modified.
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	sorted := ds
	if !slices.IsSorted(ds) {
		sorted = slices.Clone(ds)
		slices.Sort(sorted)
	}
	var sum float64
	for _, d := range sorted {
		sum += float64(d)
	}
	n := len(sorted)
	return Summary{
		Count: n,
		Mean:  time.Duration(sum / float64(n)),
		P50:   sorted[PercentileIndex(n, 0.50)],
		P95:   sorted[PercentileIndex(n, 0.95)],
		P99:   sorted[PercentileIndex(n, 0.99)],
		Max:   sorted[n-1],
	}
}

// Ms converts a duration to milliseconds rounded to the microsecond.
func Ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// Percentiles gives p50/p95/p99/max in milliseconds.
func (s Summary) Percentiles() Percentiles {
	return Percentiles{P50: Ms(s.P50), P95: Ms(s.P95), P99: Ms(s.P99), Max: Ms(s.Max)}
}

// Percentiles3 gives p50/p95/p99 in milliseconds.
func (s Summary) Percentiles3() Percentiles3 {
	return Percentiles3{P50: Ms(s.P50), P95: Ms(s.P95), P99: Ms(s.P99)}
}

// Tail gives p95/p99 in milliseconds.
func (s Summary) Tail() Tail { return Tail{P95: Ms(s.P95), P99: Ms(s.P99)} }

// AvgP95 gives mean and p95 in milliseconds.
func (s Summary) AvgP95() AvgP95 { return AvgP95{Avg: Ms(s.Mean), P95: Ms(s.P95)} }

// MemStatus is a process's resident memory from /proc/<pid>/status.
type MemStatus struct {
	RSSBytes uint64 // VmRSS: resident now
	HWMBytes uint64 // VmHWM: peak resident since the process started
}

// ReadMemStatus reads VmRSS and VmHWM of process pid.
func ReadMemStatus(pid int) (MemStatus, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	f, err := os.Open(path)
	if err != nil {
		return MemStatus{}, fmt.Errorf("read memory status of pid %d: %w", pid, err)
	}
	defer f.Close()
	st, err := ParseMemStatus(f)
	if err != nil {
		return MemStatus{}, fmt.Errorf("parse %s: %w", path, err)
	}
	return st, nil
}

// ParseMemStatus parses the VmRSS and VmHWM lines (in kB) of a /proc/<pid>/status text.
func ParseMemStatus(r io.Reader) (MemStatus, error) {
	var st MemStatus
	var seenRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return MemStatus{}, fmt.Errorf("unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return MemStatus{}, fmt.Errorf("parse %s: %w", key, err)
		}
		if key == "VmRSS" {
			st.RSSBytes, seenRSS = kb*1024, true
		} else {
			st.HWMBytes = kb * 1024
		}
	}
	if err := sc.Err(); err != nil {
		return MemStatus{}, err
	}
	if !seenRSS {
		return MemStatus{}, fmt.Errorf("no VmRSS line (kernel thread or exited process?)")
	}
	return st, nil
}

// RSSTracker follows one process's resident memory: first, last and peak.
type RSSTracker struct {
	pid   int
	read  func(pid int) (MemStatus, error)
	mu    sync.Mutex
	n     int
	first uint64
	last  uint64
	peak  uint64
	vals  []uint64 // every sample, oldest first
}

// NewRSSTracker tracks process pid.
func NewRSSTracker(pid int) *RSSTracker { return &RSSTracker{pid: pid, read: ReadMemStatus} }

// Sample reads the process's memory once.
func (t *RSSTracker) Sample() error {
	st, err := t.read(t.pid)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.first = st.RSSBytes
	}
	t.n++
	t.vals = append(t.vals, st.RSSBytes)
	t.last = st.RSSBytes
	t.peak = max(t.peak, st.RSSBytes, st.HWMBytes)
	return nil
}

// Run samples every interval until ctx is done (returns nil) or a read fails (returns the error).
func (t *RSSTracker) Run(ctx context.Context, interval time.Duration) error {
	if err := t.Sample(); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := t.Sample(); err != nil {
				return err
			}
		}
	}
}

// Bytes returns every resident-size sample, oldest first.
func (t *RSSTracker) Bytes() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uint64(nil), t.vals...)
}

// Samples is the number of successful samples.
func (t *RSSTracker) Samples() int { t.mu.Lock(); defer t.mu.Unlock(); return t.n }

// PeakMB is the highest resident size seen (VmHWM included), in MiB.
func (t *RSSTracker) PeakMB() float64 { t.mu.Lock(); defer t.mu.Unlock(); return mb(t.peak) }

// GrowthMB is the last sampled resident size minus the first, in MiB.
func (t *RSSTracker) GrowthMB() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return math.Round((float64(t.last)-float64(t.first))/(1<<20)*10) / 10
}

// mb converts bytes to MiB rounded to 0.1.
func mb(b uint64) float64 { return math.Round(float64(b)/(1<<20)*10) / 10 }
