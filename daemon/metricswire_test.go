package daemon

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/gastown/gtc/rpc"
)

// scrape reads /metrics into sample line ("name{labels}") → value.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	_, addr := h.d.Addrs()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", l, err)
		}
		out[l[:i]] = v
	}
	return out
}

// TestMetricsOverTheWire: what an operator's dashboards read from /metrics after real traffic.
//   - ready_to_push counts the time an issue waited ready with no worker free, not only the coordinator's
//     own step after the lease was made;
//   - the statements of group commits are observed as kind write, and no "other" series is exported
//     before anything falls outside the known label values;
//   - every method of the protocol has its own method label; a name outside it is "other";
//   - a stale epoch on a request is a refusal, an ack arriving after its lease ended is not;
//   - workers and refineries are told apart by role; issues by state add up to the total;
//   - the last successful JSONL sync is a timestamp.
func TestMetricsOverTheWire(t *testing.T) {
	started := time.Now()
	h := start(t, []string{line("t-1", "waits for a worker", 1)}, nil)
	time.Sleep(400 * time.Millisecond) // t-1 is ready, no worker yet
	w := h.worker("w1", 1)
	a := w.next(t, 5*time.Second)
	w.complete(t, a)
	ctx := context.Background()
	// the ack of a push whose lease has ended (the worker's complete overtook it)
	(&backend{d: h.d}).Acked(ctx, &rpc.Session{Worker: "w1"}, a.Lease.ID, a.Lease.Epoch)
	if _, err := w.c.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch + 1}); err == nil {
		t.Fatal("heartbeat naming an ended lease's other epoch was accepted")
	}
	var bogus any
	_ = w.c.Call(ctx, "merge.status", nil, &bogus) // no such method
	h.session(rpc.HelloParams{Name: "r1", Role: "refinery"})

	var m map[string]float64
	eventually(t, 5*time.Second, "the gauges' next refresh", func() bool {
		m = scrape(t, h)
		return m[`gtc_workers{role="refinery",state="idle"}`] == 1 && m[`gtc_issues{state="closed"}`] == 1
	})
	// coord.status counts the refinery among the workers and apart (the TypeScript types promised
	// refineries, which the reply lacked: a dashboard read undefined)
	var st struct{ Workers, Refineries map[string]int }
	if err := w.c.Call(ctx, "coord.status", nil, &st); err != nil || st.Refineries == nil || st.Refineries["idle"] != 1 || st.Workers["idle"] != 2 {
		t.Errorf("coord.status with a worker and a refinery idle: workers %v, refineries %v (%v)", st.Workers, st.Refineries, err)
	}
	if got := m[`gtc_assignment_latency_seconds_sum{stage="ready_to_push"}`]; got < 0.35 {
		t.Errorf("ready_to_push sum %.3fs: the 400 ms t-1 waited for a worker is not counted", got)
	}
	if m[`gtc_sqlite_operation_seconds_count{kind="write"}`] == 0 || m[`gtc_sqlite_operation_seconds_count{kind="commit"}`] == 0 {
		t.Errorf("write/commit not observed: write %v, commit %v", m[`gtc_sqlite_operation_seconds_count{kind="write"}`], m[`gtc_sqlite_operation_seconds_count{kind="commit"}`])
	}
	for k := range m {
		if strings.Contains(k, `stage="other"`) || strings.Contains(k, `kind="other"`) || strings.Contains(k, `direction="other"`) {
			t.Errorf("unused series exported: %s", k)
		}
	}
	if m[`gtc_rpc_requests_total{code="0",method="complete"}`] != 1 || m[`gtc_rpc_requests_total{code="-32601",method="other"}`] != 1 {
		t.Errorf("rpc requests: complete %v, unknown method as other %v", m[`gtc_rpc_requests_total{code="0",method="complete"}`], m[`gtc_rpc_requests_total{code="-32601",method="other"}`])
	}
	for _, name := range rpc.Methods() {
		h.d.metrics.ObserveRPC(name, 0, time.Millisecond)
	}
	m = scrape(t, h)
	for _, name := range rpc.Methods() {
		if m[`gtc_rpc_requests_total{code="0",method="`+name+`"}`] == 0 {
			t.Errorf("method %s has no label of its own", name)
		}
	}
	if got := m["gtc_stale_epoch_refusals_total"]; got != 1 {
		t.Errorf("gtc_stale_epoch_refusals_total %v, want 1 (the heartbeat, not the late ack)", got)
	}
	if m[`gtc_workers{role="worker",state="idle"}`] != 1 || m[`gtc_workers{role="worker",state="busy"}`] != 0 {
		t.Errorf("workers by role: %v idle, %v busy", m[`gtc_workers{role="worker",state="idle"}`], m[`gtc_workers{role="worker",state="busy"}`])
	}
	sum := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "gtc_issues{") {
			sum += v
		}
	}
	if sum != 1 {
		t.Errorf("gtc_issues states add up to %v, want the 1 issue", sum)
	}
	if ts := m["gtc_jsonl_last_sync_success_timestamp_seconds"]; ts < float64(started.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("last sync success %v, want a time since the test started", ts)
	}

	// What is served passes Prometheus's own checks: the exposition lints clean (names, units, help, types)
	// and testutil reads the same values back from the HTTP endpoint.
	_, addr := h.d.Addrs()
	url := "http://" + addr + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(resp.Body).Lint()
	resp.Body.Close()
	if err != nil {
		t.Fatalf("lint %s: %v", url, err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if err := testutil.ScrapeAndCompare(url, strings.NewReader(`
# HELP gtc_stale_epoch_refusals_total Requests (heartbeat, complete, fail, release, merge.report, ...) refused because they named a lease epoch that has moved on; an ack arriving after its lease ended is not counted.
# TYPE gtc_stale_epoch_refusals_total counter
gtc_stale_epoch_refusals_total 1
# HELP gtc_connections_total Client connections accepted since start.
# TYPE gtc_connections_total counter
gtc_connections_total 2
`), "gtc_stale_epoch_refusals_total", "gtc_connections_total"); err != nil {
		t.Error(err)
	}
}
