package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
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

// TestLoadtestSettle: the tool's own server is given --settle between its start and the run, the report
// says so, and a negative wait or one with --addr is refused.
func TestLoadtestSettle(t *testing.T) {
	start := time.Now()
	out, err := exec.Command(gtcBin, "loadtest", "--agents", "2", "--issues", "10", "--settle", "1500ms", "--json").Output()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("gtc loadtest: %v\n%s", err, out)
	}
	var r struct {
		SettleMs    float64 `json:"settle_ms"`
		Completions int     `json:"completions"`
		DurationS   float64 `json:"duration_s"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if r.SettleMs != 1500 || r.Completions != 10 {
		t.Fatalf("report %+v: want settle_ms 1500 and 10 completions\n%s", r, out)
	}
	if took < 1500*time.Millisecond || r.DurationS >= 1.5 {
		t.Fatalf("the command took %s with a run of %.3f s: want the 1.5 s wait outside the run", took, r.DurationS)
	}
	for _, args := range [][]string{
		{"loadtest", "--agents", "2", "--issues", "5", "--settle", "-1s"},
		{"loadtest", "--agents", "2", "--issues", "5", "--settle", "1s", "--addr", "/nonexistent.sock"},
	} {
		out, err := exec.Command(gtcBin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--settle") {
			t.Errorf("gtc %v: %v, want exit 2 naming --settle\n%s", args, err, out)
		}
	}
}
