package loadtest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// keys returns the dotted key paths of a JSON object.
func keys(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for k, sub := range m {
		out = append(out, prefix+k)
		out = append(out, keys(prefix+k+".", sub)...)
	}
	slices.Sort(out)
	return out
}

func TestResultJSONKeys(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Result{Agents: 5}); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"agents", "issues", "duration_s", "completions_per_sec",
		"dispatch_ms", "dispatch_ms.p50", "dispatch_ms.p95", "dispatch_ms.p99", "dispatch_ms.max",
		"create_to_push_ms", "create_to_push_ms.p50", "create_to_push_ms.p95", "create_to_push_ms.p99", "create_to_push_ms.max",
		"queue_wait_ms", "queue_wait_ms.p50", "queue_wait_ms.p95", "queue_wait_ms.p99",
		"rpc_ms", "rpc_ms.p50", "rpc_ms.p95", "rpc_ms.p99",
		"loop_ms", "loop_ms.p95", "loop_ms.p99",
		"sqlite_read_ms", "sqlite_read_ms.avg", "sqlite_read_ms.p95",
		"sqlite_write_ms", "sqlite_write_ms.avg", "sqlite_write_ms.p95",
		"commit_batch_avg", "rss_peak_mb", "rss_growth_mb",
		"errors", "double_assignments", "lost_issues", "lost_completions",
		// beyond the published minimum: how the run ended and where the issues that did not close went
		"mode", "stopped_by", "completions", "failed_sessions", "dead_lettered", "unreachable", "unfinished_issues",
		"peak_concurrency", "reconnects", "stalled_workers_max", // health and its reasons only once measured
	}
	slices.Sort(want)
	if got := keys("", v); !slices.Equal(got, want) {
		t.Errorf("keys\n got %v\nwant %v", got, want)
	}
}

func TestScenarios(t *testing.T) {
	want := map[string][5]float64{ // issues, agents, session s, ramp s, failure rate
		"smoke":  {10, 5, 30, 10, 0.10},
		"light":  {50, 8, 45, 30, 0.10},
		"medium": {100, 15, 60, 60, 0.10},
		"heavy":  {200, 25, 60, 90, 0.10},
		"stress": {300, 35, 60, 120, 0.15},
	}
	all := Scenarios()
	if len(all) != 5 {
		t.Fatalf("%d scenarios", len(all))
	}
	for _, s := range all {
		w, ok := want[s.Name]
		got := [5]float64{float64(s.Issues), float64(s.Agents), s.AvgSession.Seconds(), s.Ramp.Seconds(), s.FailureRate}
		if !ok || got != w || s.Variance != 0.3 {
			t.Errorf("%s = %v variance %v, want %v variance 0.3", s.Name, got, s.Variance, w)
		}
	}
	if _, ok := LookupScenario("nope"); ok {
		t.Error("LookupScenario(nope) found something")
	}
}

func TestScaleConfig(t *testing.T) {
	tests := []struct {
		name string
		want ScaleConfig
	}{
		{"smoke", ScaleConfig{1, 6, 1, 5, 60 * time.Second, 10 * time.Second, 30 * time.Second, 2}},
		{"heavy", ScaleConfig{7, 30, 20, 100, 120 * time.Second, 10 * time.Second, 30 * time.Second, 8}},
		{"stress", ScaleConfig{10, 42, 30, 150, 120 * time.Second, 10 * time.Second, 30 * time.Second, 9}},
	}
	for _, tt := range tests {
		s, _ := LookupScenario(tt.name)
		if got := s.ScaleConfig(); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestScenarioTiming(t *testing.T) {
	s, _ := LookupScenario("medium")
	if got := s.SessionTime(0); got != 42*time.Second {
		t.Errorf("SessionTime(0) = %v, want 42s", got)
	}
	if got := s.SessionTime(0.5); got != 60*time.Second {
		t.Errorf("SessionTime(0.5) = %v, want 60s", got)
	}
	if got := s.StartDelay(5); got != 20*time.Second {
		t.Errorf("StartDelay(5) = %v, want 20s", got)
	}
	fast := s.Scaled(0.01)
	if fast.AvgSession != 600*time.Millisecond || fast.Ramp != 600*time.Millisecond || fast.Issues != 100 {
		t.Errorf("Scaled = %+v", fast)
	}
}

func goodResult() Result {
	return Result{
		Agents: 25, Issues: 200, DurationS: 10, CompletionsPerSec: 20, Completions: 200, FailedSessions: 20, PeakConcurrency: 25,
		LoopMs:        Tail{P95: 0.03, P99: 0.05},
		SQLiteReadMs:  AvgP95{Avg: 0.006, P95: 0.01},
		SQLiteWriteMs: AvgP95{Avg: 0.07, P95: 0.2},
		RSSPeakMB:     19,
		Health:        "degraded",
		HealthReasons: []string{"1 worker stalled"},
		StalledMax:    1,
	}
}

func TestAssess(t *testing.T) {
	heavy, _ := LookupScenario("heavy")
	tests := []struct {
		name   string
		mutate func(*Result)
		reason string // substring of the single expected reason; "" = pass
	}{
		{"pass", func(*Result) {}, ""},
		{"issues closed exactly 80%", func(r *Result) { r.Completions = 160 }, ""},
		{"issues closed below 80%", func(r *Result) { r.Completions, r.FailedSessions = 159, 0 }, "issues closed"},
		{"sessions exactly 80%", func(r *Result) { r.FailedSessions = 50 }, ""},
		{"sessions below 80%", func(r *Result) { r.FailedSessions = 51 }, "session success rate"},
		{"peak 20% under", func(r *Result) { r.PeakConcurrency = 20 }, "peak concurrency"},
		{"peak 16% under", func(r *Result) { r.PeakConcurrency = 21 }, ""},
		{"rss not measured", func(r *Result) { r.RSSPeakMB = 0 }, "not measured"},
		{"double assignment", func(r *Result) { r.DoubleAssignments = 1 }, "double assignments"},
		{"lost issue", func(r *Result) { r.LostIssues = 2 }, "lost issues / completions 2 / 0"},
		{"lost completion", func(r *Result) { r.LostCompletions = 1 }, "lost issues / completions 0 / 1"},
		{"health unhealthy", func(r *Result) { r.Health = "unhealthy" }, "coordinator health at the end unhealthy (1 worker stalled)"},
		{"health not measured", func(r *Result) { r.Health = "" }, "coordinator health at the end not measured"},
		{"healthy", func(r *Result) { r.Health, r.HealthReasons = "healthy", nil }, ""},
		{"stalled under 10% of agents", func(r *Result) { r.StalledMax = 2 }, ""},
		{"stalled at 10% of agents", func(r *Result) { r.StalledMax = 3 }, "stalled workers (most at once) 3"},
		{"errors under 10% of agents", func(r *Result) { r.Errors = 2 }, ""},
		{"errors at 10% of agents", func(r *Result) { r.Errors = 3 }, "errors"},
		{"loop p95 9.999", func(r *Result) { r.LoopMs.P95 = 9.999 }, ""},
		{"loop p95 10", func(r *Result) { r.LoopMs.P95 = 10 }, "loop P95"},
		{"read avg 5", func(r *Result) { r.SQLiteReadMs.Avg = 5 }, "read avg"},
		{"write avg 10", func(r *Result) { r.SQLiteWriteMs.Avg = 10 }, "write avg"},
		{"rss 50", func(r *Result) { r.RSSPeakMB = 50 }, "peak RSS"},
		{"wrong scenario", func(r *Result) { r.Agents, r.PeakConcurrency = 30, 25 }, "scenario size 30 agents"},
	}
	for _, tt := range tests {
		r := goodResult()
		tt.mutate(&r)
		pass, reasons := Assess(r, heavy)
		if tt.reason == "" {
			if !pass || len(reasons) != 0 {
				t.Errorf("%s: pass %v reasons %v, want pass", tt.name, pass, reasons)
			}
			continue
		}
		if pass || len(reasons) != 1 || !strings.Contains(reasons[0], tt.reason) {
			t.Errorf("%s: pass %v reasons %q, want one reason containing %q", tt.name, pass, reasons, tt.reason)
		}
	}
	if pass, reasons := Assess(Result{}, heavy); pass || len(reasons) == 0 {
		t.Error("empty result passed")
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	r := goodResult()
	r.DispatchMs = Percentiles{P50: 0.31, P95: 0.49, P99: 0.64, Max: 1.2}
	WriteTable(&buf, r)
	out := buf.String()
	for _, want := range []string{"25 / 200", "0.310 / 0.490 / 0.640 / 1.200", "completions/s", "double assignments"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestFillServer(t *testing.T) {
	p := BuildProfile(ProfileInput{
		Duration: time.Second,
		Loop:     []time.Duration{10 * time.Microsecond, 20 * time.Microsecond},
		Read:     []time.Duration{4 * time.Microsecond, 8 * time.Microsecond},
		Write:    []time.Duration{40 * time.Microsecond, 60 * time.Microsecond},
	})
	var r Result
	r.FillServer(p)
	want := Result{LoopMs: Tail{P95: 0.02, P99: 0.02}, SQLiteReadMs: AvgP95{Avg: 0.006, P95: 0.008},
		SQLiteWriteMs: AvgP95{Avg: 0.05, P95: 0.06}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("FillServer = %+v, want %+v", r, want)
	}
}
