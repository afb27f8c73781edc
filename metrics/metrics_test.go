package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is a settable clock for the sample rings.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, opts ...Option) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	return New(reg, opts...), reg
}

func family(t *testing.T, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	t.Fatalf("family %s not gathered", name)
	return nil
}

// histogram returns sample count and sum of the child whose labels match want.
func histogram(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (uint64, float64) {
	t.Helper()
next:
	for _, m := range family(t, reg, name).GetMetric() {
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v != lp.GetValue() {
				continue next
			}
		}
		h := m.GetHistogram()
		return h.GetSampleCount(), h.GetSampleSum()
	}
	t.Fatalf("%s%v not found", name, want)
	return 0, 0
}

func TestLintAndNames(t *testing.T) {
	m, reg := newTest(t, WithRuntimeCollectors())
	// Touch every instrument so every family is gathered.
	m.ObserveRPC("hello", 0, time.Millisecond)
	m.ObserveLoop(time.Microsecond)
	m.ObserveAssign(StageReadyToPush, time.Microsecond)
	m.ObserveCommit(time.Millisecond, 3)
	m.ObserveSync(DirectionExport, time.Millisecond)
	m.SyncDone(nil)
	m.ConnOpened()
	m.LeaseExpired()
	m.MergeSlotExpired()
	m.Reassigned()
	m.StaleEpoch()
	m.SetMergeQueueDepth(1)

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "gtc_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
	want := []string{
		"gtc_scheduler_loop_seconds", "gtc_assignment_latency_seconds", "gtc_rpc_duration_seconds",
		"gtc_rpc_requests_total", "gtc_sqlite_operation_seconds", "gtc_sqlite_commit_batch_size",
		"gtc_jsonl_sync_seconds", "gtc_workers", "gtc_issues", "gtc_merge_queue_depth",
		"gtc_leases_expired_total", "gtc_merge_slots_expired_total", "gtc_scheduler_paused_seconds_total", "gtc_reassignments_total", "gtc_stale_epoch_refusals_total",
		"gtc_jsonl_sync_failures_total", "gtc_jsonl_sync_failing", "gtc_jsonl_last_sync_success_timestamp_seconds", "gtc_connections_open", "gtc_connections_total", "gtc_store_pruned_rows_total", "go_goroutines", "process_cpu_seconds_total",
	}
	for _, name := range want {
		family(t, reg, name)
	}
}

func TestRPC(t *testing.T) {
	m, reg := newTest(t, WithMethods("claim", "hello"))
	m.ObserveRPC("claim", 0, 2*time.Millisecond)
	m.ObserveRPC("claim", 0, 4*time.Millisecond)
	m.ObserveRPC("claim", -32006, time.Millisecond)
	m.ObserveRPC("no.such.method", -32601, time.Millisecond)
	m.ObserveRPC("another.bogus", -32601, time.Millisecond)

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gtc_rpc_requests_total JSON-RPC requests by method and result code (0 = success).
# TYPE gtc_rpc_requests_total counter
gtc_rpc_requests_total{code="-32006",method="claim"} 1
gtc_rpc_requests_total{code="-32601",method="other"} 2
gtc_rpc_requests_total{code="0",method="claim"} 2
`), "gtc_rpc_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	n, sum := histogram(t, reg, "gtc_rpc_duration_seconds", map[string]string{"method": "claim"})
	if n != 3 || sum < 0.00699 || sum > 0.00701 {
		t.Errorf("claim duration: count %d sum %v, want 3 and 0.007", n, sum)
	}
	if c := testutil.CollectAndCount(m.rpcDur); c != 2 {
		t.Errorf("rpc duration children = %d, want 2 (claim, other)", c)
	}
}

func TestHistogramsByLabel(t *testing.T) {
	m, reg := newTest(t)
	m.ObserveLoop(20 * time.Microsecond)
	m.ObserveAssign(StageReadyToPush, 300*time.Microsecond)
	m.ObserveAssign(StagePushToAck, time.Millisecond)
	m.ObserveAssign("bogus", time.Millisecond)
	m.ObserveRead(5 * time.Microsecond)
	m.ObserveWrite(9 * time.Microsecond)
	m.ObserveSQLite("vacuum", time.Second)
	m.ObserveCommit(40*time.Microsecond, 7)
	m.ObserveCommit(60*time.Microsecond, 100)
	m.ObserveSync(DirectionImport, 3*time.Millisecond)
	m.ObserveSync(DirectionExport, 5*time.Millisecond)

	tests := []struct {
		name   string
		labels map[string]string
		count  uint64
		sum    float64
	}{
		{"gtc_scheduler_loop_seconds", nil, 1, 20e-6},
		{"gtc_assignment_latency_seconds", map[string]string{"stage": "ready_to_push"}, 1, 300e-6},
		{"gtc_assignment_latency_seconds", map[string]string{"stage": "push_to_ack"}, 1, 1e-3},
		{"gtc_assignment_latency_seconds", map[string]string{"stage": "other"}, 1, 1e-3},
		{"gtc_sqlite_operation_seconds", map[string]string{"kind": "read"}, 1, 5e-6},
		{"gtc_sqlite_operation_seconds", map[string]string{"kind": "write"}, 1, 9e-6},
		{"gtc_sqlite_operation_seconds", map[string]string{"kind": "commit"}, 2, 100e-6},
		{"gtc_sqlite_operation_seconds", map[string]string{"kind": "other"}, 1, 1},
		{"gtc_sqlite_commit_batch_size", nil, 2, 107},
		{"gtc_jsonl_sync_seconds", map[string]string{"direction": "import"}, 1, 3e-3},
		{"gtc_jsonl_sync_seconds", map[string]string{"direction": "export"}, 1, 5e-3},
	}
	for _, tt := range tests {
		n, sum := histogram(t, reg, tt.name, tt.labels)
		if n != tt.count || sum < tt.sum*0.999 || sum > tt.sum*1.001 {
			t.Errorf("%s%v: count %d sum %g, want %d and %g", tt.name, tt.labels, n, sum, tt.count, tt.sum)
		}
	}
	// A 20µs loop must land in a bucket below 25µs: the buckets resolve microseconds.
	h := family(t, reg, "gtc_scheduler_loop_seconds").GetMetric()[0].GetHistogram()
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 25e-6 && b.GetCumulativeCount() != 1 {
			t.Errorf("le=25µs bucket = %d, want 1", b.GetCumulativeCount())
		}
	}
}

func TestGaugesAndCounters(t *testing.T) {
	m, reg := newTest(t)
	m.SetIssueCounts(map[string]int{"ready": 5, "leased": 2, "dead_lettered": 1})
	m.SetIssueCounts(map[string]int{"ready": 4, "leased": 3})                      // dead_lettered must drop to 0
	m.SetWorkerCounts("worker", map[string]int{"idle": 3, "busy": 2, "custom": 1}) // an unknown state is not exported
	m.SetWorkerCounts("worker", map[string]int{"idle": 4})                         // busy must drop to 0
	m.SetWorkerCounts("refinery", map[string]int{"stalled": 1})
	m.SetMergeQueueDepth(6)
	m.ConnOpened()
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	m.LeaseExpired()
	m.LeaseExpired()
	m.Reassigned()
	m.StaleEpoch()
	m.Pruned("events", 40)
	m.Pruned("events", 2)
	m.Pruned("leases", 0) // nothing pruned: no change
	m.SchedulerPaused(15 * time.Second)
	m.SchedulerPaused(3500 * time.Millisecond)

	err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP gtc_connections_open Open client connections.
# TYPE gtc_connections_open gauge
gtc_connections_open 2
# HELP gtc_connections_total Client connections accepted since start.
# TYPE gtc_connections_total counter
gtc_connections_total 3
# HELP gtc_issues Issues by scheduler state; other is the rest (retry backoff, deferred, held after a reject, workflow types), so the states add up to every issue.
# TYPE gtc_issues gauge
gtc_issues{state="blocked"} 0
gtc_issues{state="closed"} 0
gtc_issues{state="dead_lettered"} 0
gtc_issues{state="leased"} 3
gtc_issues{state="other"} 0
gtc_issues{state="ready"} 4
# HELP gtc_leases_expired_total Leases that expired: an ack or heartbeat deadline missed, or the holder gone past the grace.
# TYPE gtc_leases_expired_total counter
gtc_leases_expired_total 2
# HELP gtc_merge_queue_depth Live merge requests in the merge queue: pending and merging.
# TYPE gtc_merge_queue_depth gauge
gtc_merge_queue_depth 6
# HELP gtc_reassignments_total Leases that ended without completion and put their issue back in the queue: failed or expired attempts (not dead-lettered), ack timeouts, releases, rejects, operators' cancels.
# TYPE gtc_reassignments_total counter
gtc_reassignments_total 1
# HELP gtc_scheduler_paused_seconds_total Time the scheduler did not run because its process was stopped or starved (woken 3 s or more late); the lease clocks were held for it.
# TYPE gtc_scheduler_paused_seconds_total counter
gtc_scheduler_paused_seconds_total 18.5
# HELP gtc_stale_epoch_refusals_total Requests (heartbeat, complete, fail, release, merge.report, ...) refused because they named a lease epoch that has moved on; an ack arriving after its lease ended is not counted.
# TYPE gtc_stale_epoch_refusals_total counter
gtc_stale_epoch_refusals_total 1
# HELP gtc_store_pruned_rows_total History rows deleted from gtc.db for being older than the retention (--retain), by table: events, leases (ended), merge_requests (finished).
# TYPE gtc_store_pruned_rows_total counter
gtc_store_pruned_rows_total{table="events"} 42
gtc_store_pruned_rows_total{table="leases"} 0
gtc_store_pruned_rows_total{table="merge_requests"} 0
# HELP gtc_workers Worker and refinery sessions by role and state (CLI sessions left out); gone counts every name the coordinator has seen that is not connected now.
# TYPE gtc_workers gauge
gtc_workers{role="refinery",state="busy"} 0
gtc_workers{role="refinery",state="draining"} 0
gtc_workers{role="refinery",state="gone"} 0
gtc_workers{role="refinery",state="idle"} 0
gtc_workers{role="refinery",state="stalled"} 1
gtc_workers{role="worker",state="busy"} 0
gtc_workers{role="worker",state="draining"} 0
gtc_workers{role="worker",state="gone"} 0
gtc_workers{role="worker",state="idle"} 4
gtc_workers{role="worker",state="stalled"} 0
`), "gtc_connections_open", "gtc_connections_total", "gtc_issues", "gtc_leases_expired_total",
		"gtc_merge_queue_depth", "gtc_reassignments_total", "gtc_scheduler_paused_seconds_total", "gtc_stale_epoch_refusals_total", "gtc_store_pruned_rows_total", "gtc_workers")
	if err != nil {
		t.Fatal(err)
	}
}

func TestNilReceiver(t *testing.T) {
	var m *Metrics
	m.ObserveRPC("hello", 0, time.Millisecond)
	m.ObserveLoop(time.Millisecond)
	m.ObserveAssign(StagePushToAck, time.Millisecond)
	m.ObserveSQLite(KindRead, time.Millisecond)
	m.ObserveRead(time.Millisecond)
	m.ObserveWrite(time.Millisecond)
	m.ObserveCommit(time.Millisecond, 1)
	m.ObserveSync(DirectionExport, time.Millisecond)
	m.SetIssueCounts(map[string]int{"ready": 1})
	m.SetWorkerCounts("worker", map[string]int{"idle": 1})
	m.SetMergeQueueDepth(1)
	m.ConnOpened()
	m.ConnClosed()
	m.LeaseExpired()
	m.Reassigned()
	m.StaleEpoch()
	m.SampleRuntime(time.Millisecond)
	m.RunSampler(context.Background(), time.Millisecond) // returns at once on nil
	if s := m.Samples(time.Minute); s.Loop.Count != 0 || s.Span != 0 {
		t.Errorf("nil Samples = %+v, want zero", s)
	}
}

func TestNilRegistererAndDoubleRegister(t *testing.T) {
	m := New(nil)
	m.ObserveLoop(time.Millisecond) // instruments work unregistered
	if got := m.Samples(0).Loop.Count; got != 1 {
		t.Errorf("loop count = %d, want 1", got)
	}
	reg := prometheus.NewRegistry()
	New(reg)
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestSamplesWindow(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m, _ := newTest(t, WithClock(clk.now))
	clk.advance(10 * time.Second)
	m.ObserveLoop(1 * time.Millisecond) // t=10s
	m.ObserveAssign(StagePushToAck, 7*time.Millisecond)
	m.ObserveAssign(StageReadyToPush, 9*time.Millisecond) // not a push→ack sample
	clk.advance(50 * time.Second)
	m.ObserveLoop(2 * time.Millisecond) // t=60s
	m.ObserveRead(3 * time.Millisecond)
	m.ObserveWrite(4 * time.Millisecond)
	m.ObserveCommit(5*time.Millisecond, 2)
	m.ObserveSync(DirectionExport, 6*time.Millisecond)
	m.ObserveSync(DirectionImport, 8*time.Millisecond) // not an export sample
	m.SampleRuntime(-time.Second)                      // negative lag is clamped to 0

	s := m.Samples(30 * time.Second)
	if s.Span != 30*time.Second {
		t.Errorf("span = %v, want 30s", s.Span)
	}
	checks := []struct {
		name string
		got  Series
		want []time.Duration
	}{
		{"loop", s.Loop, []time.Duration{2 * time.Millisecond}},
		{"assign", s.Assign, nil},
		{"read", s.Read, []time.Duration{3 * time.Millisecond}},
		{"write", s.Write, []time.Duration{4 * time.Millisecond}},
		{"commit", s.Commit, []time.Duration{5 * time.Millisecond}},
		{"export", s.Export, []time.Duration{6 * time.Millisecond}},
	}
	for _, c := range checks {
		if int(c.got.Count) != len(c.want) || len(c.got.Values) != len(c.want) {
			t.Errorf("%s: %+v, want %v", c.name, c.got, c.want)
			continue
		}
		for i := range c.want {
			if c.got.Values[i] != c.want[i] {
				t.Errorf("%s[%d] = %v, want %v", c.name, i, c.got.Values[i], c.want[i])
			}
		}
	}
	if len(s.HeapBytes) != 1 || s.HeapBytes[0] == 0 || len(s.Lag) != 1 || s.Lag[0] != 0 {
		t.Errorf("heap %v lag %v, want one non-zero heap sample and lag 0", s.HeapBytes, s.Lag)
	}

	all := m.Samples(0)
	if all.Span != 60*time.Second || all.Loop.Count != 2 || all.Assign.Count != 1 || all.Assign.Values[0] != 7*time.Millisecond {
		t.Errorf("Samples(0) = span %v loop %+v assign %+v", all.Span, all.Loop, all.Assign)
	}
	if long := m.Samples(time.Hour); long.Span != 60*time.Second {
		t.Errorf("window longer than age: span %v, want 60s", long.Span)
	}
}

func TestRingOverflowCountsAll(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m, _ := newTest(t, WithClock(clk.now), WithSampleCapacity(4))
	for i := 1; i <= 10; i++ {
		clk.advance(100 * time.Millisecond)
		m.ObserveLoop(time.Duration(i) * time.Millisecond)
	}
	if s := m.Samples(0); s.Loop.Count != 10 {
		t.Errorf("count = %d, want 10 (all observations, not just retained)", s.Loop.Count)
	}
	// A window that only covers retained samples is exact.
	got := m.Samples(350 * time.Millisecond).Loop
	want := []time.Duration{7 * time.Millisecond, 8 * time.Millisecond, 9 * time.Millisecond, 10 * time.Millisecond}
	if got.Count != 4 || !slices.Equal(got.Values, want) {
		t.Errorf("350ms window = %+v, want exactly %v", got, want)
	}
}

// A window longer than the ring keeps is described by a uniform sample of the whole window, not by its
// last samples: a load test's profile covers the whole run.
func TestRingSamplesLongWindowsUniformly(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	const capacity, n = 512, 100_000
	m, _ := newTest(t, WithClock(clk.now), WithSampleCapacity(capacity))
	for i := range n {
		clk.advance(time.Millisecond)
		m.ObserveLoop(time.Duration(i) * time.Microsecond) // the value is the sample's position
	}
	cases := []struct {
		name            string
		window          time.Duration
		exact           bool // every sample of the window is kept
		minVals, maxVal int
	}{
		{"within the last samples", 200 * time.Millisecond, true, 200, 201}, // the sample at the window's start is in
		{"a thousand back", time.Second, false, capacity / 16, capacity},
		{"ten thousand back", 10 * time.Second, false, capacity / 16, capacity},
		{"the whole run", 0, false, capacity / 16, capacity},
	}
	for _, c := range cases {
		s := m.Samples(c.window).Loop
		span := int(c.window / time.Millisecond)
		if c.window == 0 {
			span = n
		}
		if s.Count != int64(span) && !(c.window > 0 && s.Count <= int64(span)+1000) {
			t.Errorf("%s: count %d, want %d (per-second buckets may add the rest of the first second)", c.name, s.Count, span)
		}
		if len(s.Values) < c.minVals || len(s.Values) > c.maxVal {
			t.Errorf("%s: %d values, want %d to %d", c.name, len(s.Values), c.minVals, c.maxVal)
			continue
		}
		first := max(0, n-span-1) // position of the window's first sample (the one at its start included)
		lo, hi := slices.Min(s.Values), slices.Max(s.Values)
		if int(lo/time.Microsecond) < first {
			t.Errorf("%s: a value from before the window: %v (window starts at %d)", c.name, lo, first)
		}
		if c.exact {
			continue
		}
		// uniform over the window: the sample reaches into its first and last tenths, and its median
		// sits near the middle
		tenth := span / 10
		if int(lo/time.Microsecond) > first+tenth || int(hi/time.Microsecond) < n-tenth {
			t.Errorf("%s: values span %v..%v, want the whole window %dus..%dus", c.name, lo, hi, first, n)
		}
		sorted := slices.Sorted(slices.Values(s.Values))
		mid := int(sorted[len(sorted)/2] / time.Microsecond)
		if mid < first+span*3/10 || mid > first+span*7/10 {
			t.Errorf("%s: median at %dus, want near the middle of %dus..%dus", c.name, mid, first, n)
		}
	}
}

func TestConcurrentObserve(t *testing.T) {
	m, reg := newTest(t, WithSampleCapacity(64))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				m.ObserveLoop(time.Microsecond)
				m.ObserveRPC("heartbeat", 0, time.Microsecond)
				_ = m.Samples(time.Minute)
			}
		}()
	}
	wg.Wait()
	if got := m.Samples(0).Loop.Count; got != 4000 {
		t.Errorf("loop count = %d, want 4000", got)
	}
	if n, _ := histogram(t, reg, "gtc_scheduler_loop_seconds", nil); n != 4000 {
		t.Errorf("histogram count = %d, want 4000", n)
	}
}

func TestRunSampler(t *testing.T) {
	m, _ := newTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.RunSampler(ctx, time.Millisecond); close(done) }()
	deadline := time.After(5 * time.Second)
	for len(m.Samples(0).HeapBytes) < 3 {
		select {
		case <-deadline:
			t.Fatal("sampler took no 3 samples in 5s")
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done
	s := m.Samples(0)
	if len(s.Lag) != len(s.HeapBytes) {
		t.Errorf("lag samples %d != heap samples %d", len(s.Lag), len(s.HeapBytes))
	}
}

func TestHandler(t *testing.T) {
	m, reg := newTest(t)
	m.LeaseExpired()
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "gtc_leases_expired_total 1") {
		t.Errorf("exposition lacks gtc_leases_expired_total 1:\n%s", body)
	}
}

func TestSyncDoneCountsFailuresAndFlagsThem(t *testing.T) {
	m, _ := newTest(t)
	for _, tc := range []struct {
		err            error
		fails, failing float64
	}{
		{nil, 0, 0},
		{errors.New("conflict markers"), 1, 1},
		{errors.New("still"), 2, 1},
		{nil, 2, 0},
	} {
		m.SyncDone(tc.err)
		if f, g := testutil.ToFloat64(m.syncFails), testutil.ToFloat64(m.syncFailing); f != tc.fails || g != tc.failing {
			t.Fatalf("after SyncDone(%v): failures_total %v failing %v, want %v %v", tc.err, f, g, tc.fails, tc.failing)
		}
	}
}

// TestRingSamplesDrawApartOnAFrozenClock: samples sharing one timestamp (a coarse or frozen clock) are
// drawn into the coarser tiers independently, not all or none (review: a frozen clock left them empty
// and a long window came back with no values).
func TestRingSamplesDrawApartOnAFrozenClock(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	m, _ := newTest(t, WithClock(clk.now), WithSampleCapacity(256))
	clk.advance(time.Second)
	for i := range 1000 {
		m.ObserveLoop(time.Duration(i) * time.Microsecond)
	}
	s := m.Samples(0).Loop
	if s.Count != 1000 || len(s.Values) < 64 || len(s.Values) > 256 {
		t.Errorf("1,000 samples at one instant: count %d, %d values; want 1000 and a one-in-8 sample of them", s.Count, len(s.Values))
	}
}

// TestLeasesExpiredHelpNamesTheGrace: a lease whose worker left and stayed away past the grace is an
// expiry too (the daemon counts every "expired" event: "worker did not reconnect within grace"), and the
// help says so, as docs/metrics.md does.
func TestLeasesExpiredHelpNamesTheGrace(t *testing.T) {
	_, reg := newTest(t)
	help := family(t, reg, "gtc_leases_expired_total").GetHelp()
	for _, want := range []string{"ack", "heartbeat", "grace"} {
		if !strings.Contains(help, want) {
			t.Errorf("gtc_leases_expired_total help %q does not name the %s", help, want)
		}
	}
}

// TestRPCDurationHelpNamesClaimWaits: a claim with wait_ms is answered when an issue comes or the wait
// ends, and its duration (the wait included: seconds, not the microseconds of the other methods) is what
// gtc_rpc_duration_seconds{method="claim"} holds; the help says so, so a P99 of seconds is not read as a
// slow server.
func TestRPCDurationHelpNamesClaimWaits(t *testing.T) {
	m, reg := newTest(t, WithMethods("claim"))
	m.ObserveRPC("claim", 0, time.Second) // a vec's family is gathered once it has a child
	help := family(t, reg, "gtc_rpc_duration_seconds").GetHelp()
	if !strings.Contains(help, "claim") || !strings.Contains(help, "wait") {
		t.Errorf("gtc_rpc_duration_seconds help %q does not say a claim's wait counts", help)
	}
}
