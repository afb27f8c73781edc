package e2e

import (
	"encoding/json"
	"os/exec"
	"testing"
)

// TestLoadtestBaseline runs the gtc binary's latency mode on a server of its own with --baseline: the
// report has the machine's echo round trip (measured against `gtc loadtest-echo` in another process)
// beside create_to_push, every created issue was pushed and closed, and nothing is wrong.
func TestLoadtestBaseline(t *testing.T) {
	out, err := exec.Command(gtcBin, "loadtest", "--agents", "4", "--rate", "50", "--duration", "1s", "--baseline", "--json").Output()
	if err != nil {
		t.Fatalf("gtc loadtest: %v\n%s", err, out)
	}
	type pct struct{ P50, P95, P99, Max float64 }
	var r struct {
		Issues   int  `json:"issues"`
		C2P      pct  `json:"create_to_push_ms"`
		Baseline *pct `json:"baseline_echo_rtt_ms"`
		Errors   int  `json:"errors"`
		Doubles  int  `json:"double_assignments"`
		Lost     int  `json:"lost_issues"`
		LostDone int  `json:"lost_completions"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	b := r.Baseline
	if b == nil || b.P50 <= 0 || b.P95 < b.P50 || b.P99 < b.P95 || b.Max < b.P99 {
		t.Fatalf("baseline_echo_rtt_ms %+v: want ordered positive figures\n%s", b, out)
	}
	if r.Issues != 50 || r.C2P.P50 <= 0 || r.Errors+r.Doubles+r.Lost+r.LostDone != 0 {
		t.Fatalf("report %+v: want 50 issues pushed, no error\n%s", r, out)
	}
	if out, err := exec.Command(gtcBin, "loadtest", "--agents", "2", "--issues", "5", "--baseline").CombinedOutput(); err == nil {
		t.Fatalf("--baseline in throughput mode was accepted:\n%s", out)
	}
}
