package health

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)

func window(succ, total int, outcome string) *Window {
	w := NewWindow(Config{})
	for i := 0; i < total; i++ {
		o := "failure"
		if i < succ {
			o = outcome
		}
		w.Record(t0, o)
	}
	return w
}

func busyWorkers(n int) []Worker {
	var ws []Worker
	for i := 0; i < n; i++ {
		ws = append(ws, Worker{Name: fmt.Sprintf("w%d", i), Busy: true, BusySince: t0.Add(-time.Hour)})
	}
	// an idle worker with an old heartbeat is never stalled
	return append(ws, Worker{Name: "idle", LastHeartbeat: t0.Add(-time.Hour)})
}

func TestThresholds(t *testing.T) {
	cases := []struct {
		succ, total, stalled int
		storage              bool
		want                 Status
	}{
		{0, 0, 0, false, Healthy}, // no data: rate 1.0
		{0, 1, 0, false, Healthy}, // fewer than MinSamples (10) outcomes: the rate is not judged
		{1, 3, 0, false, Healthy},
		{0, 9, 0, false, Healthy},
		{0, 9, 1, false, Degraded}, // stalls count whatever the samples
		{4, 10, 0, false, Unhealthy},
		{10, 10, 0, false, Healthy},
		{8, 10, 0, false, Healthy}, // 0.8 is not below 0.8
		{79, 100, 0, false, Degraded},
		{7, 10, 0, false, Degraded}, // harness test: 70% → degraded
		{5, 10, 0, false, Degraded}, // 0.5 is not below 0.5
		{49, 100, 0, false, Unhealthy},
		{2, 10, 0, false, Unhealthy}, // harness test: 20% → unhealthy
		{10, 10, 1, false, Degraded},
		{10, 10, 2, false, Degraded},
		{10, 10, 3, false, Unhealthy}, // more than 2 stalled
		{0, 0, 0, true, Unhealthy},    // storage failing
		{7, 10, 1, false, Degraded},
		{7, 10, 3, false, Unhealthy},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%d of %d, %d stalled, storage failing %v", tc.succ, tc.total, tc.stalled, tc.storage)
		t.Run(name, func(t *testing.T) {
			for _, ok := range []string{"success", "code_complete"} {
				r := Evaluate(Config{}, t0, window(tc.succ, tc.total, ok), busyWorkers(tc.stalled), tc.storage)
				if r.Status != tc.want {
					t.Fatalf("%s: status %s (%v), want %s", ok, r.Status, r.Reasons, tc.want)
				}
				if len(r.Stalled) != tc.stalled || (r.Status == Healthy) != (len(r.Reasons) == 0) {
					t.Fatalf("report %+v", r)
				}
			}
		})
	}
}

func TestCustomThresholds(t *testing.T) {
	cfg := Config{UnhealthyBelow: 0.9, DegradedBelow: 0.95, MaxStalledDegraded: 5}
	if r := Classify(cfg, Input{SuccessRate: 0.92, Samples: 50}); r.Status != Degraded {
		t.Fatalf("0.92 with 0.9/0.95: %s", r.Status)
	}
	if r := Classify(cfg, Input{SuccessRate: 0.89, Samples: 50}); r.Status != Unhealthy {
		t.Fatalf("0.89 with 0.9/0.95: %s", r.Status)
	}
	if r := Classify(cfg, Input{SuccessRate: 1, Samples: 50, Stalled: []string{"a", "b", "c", "d", "e"}}); r.Status != Degraded {
		t.Fatalf("5 stalled with max 5: %s", r.Status)
	}
	if r := Classify(cfg, Input{SuccessRate: 0, Samples: 0}); r.Status != Healthy || r.SuccessRate != 1 {
		t.Fatalf("no samples: %+v", r)
	}
}

func TestStalled(t *testing.T) {
	to := 10 * time.Minute
	now := t0
	cases := []struct {
		name string
		w    Worker
		want bool
	}{
		{"idle", Worker{LastHeartbeat: now.Add(-time.Hour)}, false},
		{"busy exactly timeout", Worker{Busy: true, BusySince: now.Add(-to)}, false},
		{"busy just over", Worker{Busy: true, BusySince: now.Add(-to - time.Nanosecond)}, true},
		{"recent heartbeat", Worker{Busy: true, BusySince: now.Add(-time.Hour), LastHeartbeat: now.Add(-time.Minute)}, false},
		{"recent progress", Worker{Busy: true, BusySince: now.Add(-time.Hour), LastHeartbeat: now.Add(-time.Hour), LastProgress: now.Add(-9 * time.Minute)}, false},
		{"old signals", Worker{Busy: true, BusySince: now.Add(-time.Hour), LastHeartbeat: now.Add(-11 * time.Minute), LastProgress: now.Add(-20 * time.Minute)}, true},
	}
	for _, tc := range cases {
		if got := Stalled(tc.w, now, to); got != tc.want {
			t.Errorf("%s: stalled %v, want %v", tc.name, got, tc.want)
		}
	}
	r := Evaluate(Config{StallTimeout: time.Hour}, now, nil, busyWorkers(3), false)
	if r.Status != Healthy {
		t.Fatalf("with a 1h timeout workers busy for exactly 1h are not stalled: %+v", r)
	}
}

func TestWindowSlides(t *testing.T) {
	w := NewWindow(Config{Window: 10})
	for i := 0; i < 10; i++ {
		w.Record(t0, "failure")
	}
	if r, n := w.Rate(t0); r != 0 || n != 10 {
		t.Fatalf("all failures: %v over %d", r, n)
	}
	for i := 0; i < 7; i++ {
		w.Record(t0, "success")
	}
	if r, n := w.Rate(t0); r != 0.7 || n != 10 {
		t.Fatalf("7 of last 10: %v over %d", r, n)
	}
	for _, o := range []string{"partial", "context_overflow", "code_complete"} {
		w.Record(t0, o)
	}
	if r, _ := w.Rate(t0); r != 0.8 {
		t.Fatalf("partial and context_overflow are failures, code_complete a success: %v", r)
	}
	// by default an hour old outcome is out (an idle fleet is not degraded for good); a negative
	// MaxAge keeps them all
	forever := NewWindow(Config{MaxAge: -1})
	forever.Record(t0, "failure")
	if r, n := forever.Rate(t0.Add(24 * time.Hour)); r != 0 || n != 1 {
		t.Fatalf("no age limit: %v over %d", r, n)
	}
	aged := NewWindow(Config{})
	aged.Record(t0, "failure")
	aged.Record(t0.Add(30*time.Minute), "success")
	if r, n := aged.Rate(t0.Add(61 * time.Minute)); r != 1 || n != 1 {
		t.Fatalf("old failure not aged out: %v over %d", r, n)
	}
	if r, n := aged.Rate(t0.Add(3 * time.Hour)); r != 1 || n != 0 {
		t.Fatalf("everything aged out: %v over %d", r, n)
	}
}

func TestReasons(t *testing.T) {
	r := Classify(Config{}, Input{SuccessRate: 0.4, Samples: 10, Stalled: []string{"a"}, StorageFailing: true})
	want := []string{"storage failing", "success rate 0.40 below 0.50", "1 worker stalled"}
	if r.Status != Unhealthy || !reflect.DeepEqual(r.Reasons, want) {
		t.Fatalf("report %+v", r)
	}
}

func TestWorse(t *testing.T) {
	order := []Status{Healthy, Degraded, Unhealthy}
	for i, s := range order {
		for j, u := range order {
			if got := s.Worse(u); got != (i > j) {
				t.Errorf("%s.Worse(%s) = %v", s, u, got)
			}
		}
	}
}
