package loadtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentileIndex(t *testing.T) {
	tests := []struct {
		n    int
		p    float64
		want int
	}{
		{0, 0.95, 0},
		{1, 0.95, 0},
		{10, 0.95, 9},
		{20, 0.95, 19},
		{100, 0.50, 50},
		{100, 0.95, 95},
		{100, 0.99, 99},
		{100, 1.0, 99},
		{1000, 0.99, 990},
	}
	for _, tt := range tests {
		if got := PercentileIndex(tt.n, tt.p); got != tt.want {
			t.Errorf("PercentileIndex(%d, %v) = %d, want %d", tt.n, tt.p, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	if s := Summarize(nil); s != (Summary{}) {
		t.Errorf("empty = %+v", s)
	}
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond // 1..100 ms
	}
	rand.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
	orig := append([]time.Duration(nil), ds...)
	s := Summarize(ds)
	want := Summary{Count: 100, Mean: 50500 * time.Microsecond, P50: 51 * time.Millisecond,
		P95: 96 * time.Millisecond, P99: 100 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	for i := range ds {
		if ds[i] != orig[i] {
			t.Fatal("Summarize modified its input")
		}
	}
	if got := s.Percentiles(); got != (Percentiles{P50: 51, P95: 96, P99: 100, Max: 100}) {
		t.Errorf("Percentiles = %+v", got)
	}
	if got := s.AvgP95(); got != (AvgP95{Avg: 50.5, P95: 96}) {
		t.Errorf("AvgP95 = %+v", got)
	}
	if got := s.Tail(); got != (Tail{P95: 96, P99: 100}) {
		t.Errorf("Tail = %+v", got)
	}
	if got := s.Percentiles3(); got != (Percentiles3{P50: 51, P95: 96, P99: 100}) {
		t.Errorf("Percentiles3 = %+v", got)
	}
	if got := Ms(1234567 * time.Nanosecond); got != 1.235 {
		t.Errorf("Ms = %v, want 1.235", got)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 1000; i++ {
				r.Record(time.Duration(i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if n := r.Count(); n != 8000 {
		t.Fatalf("Count = %d, want 8000", n)
	}
	s := r.Summary()
	if s.Max != time.Millisecond || s.P50 != 501*time.Microsecond || s.Count != 8000 {
		t.Errorf("Summary = %+v", s)
	}
	r.Since(time.Now().Add(-time.Second))
	if v := r.Values(); v[len(v)-1] < time.Second {
		t.Errorf("Since did not record ≥ 1s: max %v", v[len(v)-1])
	}
	r.Reset()
	if r.Count() != 0 {
		t.Error("Reset left samples")
	}
}

const statusFixture = `Name:	gtc
Umask:	0022
State:	S (sleeping)
VmPeak:	 1262036 kB
VmSize:	 1262036 kB
VmHWM:	   30720 kB
VmRSS:	   20480 kB
RssAnon:	   10000 kB
Threads:	9
`

func TestParseMemStatus(t *testing.T) {
	st, err := ParseMemStatus(strings.NewReader(statusFixture))
	if err != nil {
		t.Fatal(err)
	}
	if st.RSSBytes != 20480*1024 || st.HWMBytes != 30720*1024 {
		t.Errorf("parsed %+v", st)
	}
	bad := []string{
		"Name:\tkthreadd\nState:\tS\n", // kernel thread: no VmRSS
		"VmRSS:\t 12 MB\n",             // unexpected unit
		"VmRSS:\t x kB\n",              // not a number
	}
	for _, b := range bad {
		if _, err := ParseMemStatus(strings.NewReader(b)); err == nil {
			t.Errorf("ParseMemStatus(%q) succeeded", b)
		}
	}
}

func TestReadMemStatusSelf(t *testing.T) {
	st, err := ReadMemStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSSBytes < 1<<20 || st.HWMBytes < st.RSSBytes {
		t.Errorf("own status %+v: want RSS ≥ 1 MiB and HWM ≥ RSS", st)
	}
	if _, err := ReadMemStatus(-1); err == nil {
		t.Error("ReadMemStatus(-1) succeeded")
	}
}

func TestRSSTracker(t *testing.T) {
	seq := []MemStatus{
		{RSSBytes: 20 << 20, HWMBytes: 20 << 20},
		{RSSBytes: 35 << 20, HWMBytes: 40 << 20}, // peak between samples shows in VmHWM
		{RSSBytes: 25 << 20, HWMBytes: 40 << 20},
	}
	i := 0
	tr := &RSSTracker{pid: 1, read: func(int) (MemStatus, error) {
		if i >= len(seq) {
			return MemStatus{}, errors.New("gone")
		}
		i++
		return seq[i-1], nil
	}}
	for range seq {
		if err := tr.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	if tr.Samples() != 3 || tr.PeakMB() != 40 || tr.GrowthMB() != 5 {
		t.Errorf("samples %d peak %v growth %v, want 3, 40, 5", tr.Samples(), tr.PeakMB(), tr.GrowthMB())
	}
	if err := tr.Run(context.Background(), time.Millisecond); err == nil {
		t.Error("Run did not return the read error")
	}
}

func TestRSSTrackerRunStops(t *testing.T) {
	tr := NewRSSTracker(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := tr.Run(ctx, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if tr.Samples() < 1 || tr.PeakMB() <= 0 {
		t.Errorf("samples %d peak %v", tr.Samples(), tr.PeakMB())
	}
}

func BenchmarkRecorderParallel(b *testing.B) {
	r := NewRecorder()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(time.Microsecond)
		}
	})
}
