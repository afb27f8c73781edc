package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"
)

// Percentiles is p50/p95/p99/max in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Percentiles3 is p50/p95/p99 in milliseconds.
type Percentiles3 struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// Tail is p95/p99 in milliseconds.
type Tail struct {
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// AvgP95 is mean and p95 in milliseconds.
type AvgP95 struct {
	Avg float64 `json:"avg"`
	P95 float64 `json:"p95"`
}

// Result is one load-test run's figures; the JSON keys are the published result format.
type Result struct {
	Agents            int          `json:"agents"`
	Issues            int          `json:"issues"`
	DurationS         float64      `json:"duration_s"`
	CompletionsPerSec float64      `json:"completions_per_sec"`
	DispatchMs        Percentiles  `json:"dispatch_ms"`       // issue ready → assignment received by the agent
	CreateToPushMs    Percentiles  `json:"create_to_push_ms"` // issue.create sent → assignment received
	QueueWaitMs       Percentiles3 `json:"queue_wait_ms"`     // issue created → assigned, under saturation
	RPCMs             Percentiles3 `json:"rpc_ms"`            // client-side round trip of agent requests
	LoopMs            Tail         `json:"loop_ms"`           // server scheduler iteration
	SQLiteReadMs      AvgP95       `json:"sqlite_read_ms"`
	SQLiteWriteMs     AvgP95       `json:"sqlite_write_ms"`
	CommitBatchAvg    float64      `json:"commit_batch_avg"`
	RSSPeakMB         float64      `json:"rss_peak_mb"`
	RSSGrowthMB       float64      `json:"rss_growth_mb"`
	Errors            int64        `json:"errors"`
	DoubleAssignments int64        `json:"double_assignments"`
	LostIssues        int64        `json:"lost_issues"`
	LostCompletions   int64        `json:"lost_completions"`
	ServerCPUS        float64      `json:"server_cpu_s,omitempty"` // server process CPU time (user+system) over its life, own server only
	DriverCPUS        float64      `json:"driver_cpu_s,omitempty"` // load generator CPU time during the run
	// BaselineEchoRTTMs is this machine's floor under create_to_push (--baseline, see EchoBaseline).
	BaselineEchoRTTMs *Percentiles `json:"baseline_echo_rtt_ms,omitempty"`
}

// Completed is the number of completions implied by the rate and the duration.
func (r Result) Completed() int64 { return int64(math.Round(r.CompletionsPerSec * r.DurationS)) }

// FillServer copies the server-side figures (loop, SQLite read and write) from a profile report.
func (r *Result) FillServer(p ProfileReport) {
	r.LoopMs = Tail{P95: round3(p.Summary.P95LoopMs), P99: round3(p.Summary.P99LoopMs)}
	r.SQLiteReadMs = AvgP95{Avg: round3(p.Summary.AvgBeadsReadMs), P95: round3(Percentile(p.Metrics.BeadsReadMs, 0.95))}
	r.SQLiteWriteMs = AvgP95{Avg: round3(p.Summary.AvgBeadsWriteMs), P95: round3(Percentile(p.Metrics.BeadsWriteMs, 0.95))}
}

func round3(v float64) float64 { return math.Round(v*1e3) / 1e3 }

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode load-test result: %w", err)
	}
	return nil
}

// WriteTable writes r as a table for people.
func WriteTable(w io.Writer, r Result) {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	ms := func(vs ...float64) string {
		s := ""
		for i, v := range vs {
			if i > 0 {
				s += " / "
			}
			s += strconv.FormatFloat(v, 'f', 3, 64)
		}
		return s
	}
	t := tablewriter.NewWriter(w)
	t.SetHeader([]string{"figure", "value"})
	t.SetAutoWrapText(false)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	rows := [][]string{
		{"agents / issues", fmt.Sprintf("%d / %d", r.Agents, r.Issues)},
		{"duration (s)", f(r.DurationS)},
		{"completions/s", f(r.CompletionsPerSec)},
		{"dispatch ms p50/p95/p99/max", ms(r.DispatchMs.P50, r.DispatchMs.P95, r.DispatchMs.P99, r.DispatchMs.Max)},
		{"create→push ms p50/p95/p99/max", ms(r.CreateToPushMs.P50, r.CreateToPushMs.P95, r.CreateToPushMs.P99, r.CreateToPushMs.Max)},
		{"queue wait ms p50/p95/p99", ms(r.QueueWaitMs.P50, r.QueueWaitMs.P95, r.QueueWaitMs.P99)},
		{"rpc ms p50/p95/p99", ms(r.RPCMs.P50, r.RPCMs.P95, r.RPCMs.P99)},
		{"scheduler loop ms p95/p99", ms(r.LoopMs.P95, r.LoopMs.P99)},
		{"sqlite read ms avg/p95", ms(r.SQLiteReadMs.Avg, r.SQLiteReadMs.P95)},
		{"sqlite write ms avg/p95", ms(r.SQLiteWriteMs.Avg, r.SQLiteWriteMs.P95)},
		{"commit batch avg", f(r.CommitBatchAvg)},
		{"rss peak / growth (MB)", f(r.RSSPeakMB) + " / " + f(r.RSSGrowthMB)},
		{"errors", strconv.FormatInt(r.Errors, 10)},
		{"double assignments", strconv.FormatInt(r.DoubleAssignments, 10)},
		{"lost issues / completions", fmt.Sprintf("%d / %d", r.LostIssues, r.LostCompletions)},
		{"cpu s server / load generator", f(r.ServerCPUS) + " / " + f(r.DriverCPUS)},
	}
	if b := r.BaselineEchoRTTMs; b != nil {
		rows = append(rows, []string{"baseline echo round trip ms p50/p95/p99/max", ms(b.P50, b.P95, b.P99, b.Max)})
	}
	t.AppendBulk(rows)
	t.Render()
}

// Scenario is one of the harness's load-test scenarios.
type Scenario struct {
	Name        string
	Issues      int
	Agents      int
	AvgSession  time.Duration // mean agent work time per issue
	Variance    float64       // ± fraction of AvgSession
	Ramp        time.Duration // time over which the agents connect
	FailureRate float64       // fraction of sessions that end in fail
}

// Scenarios returns the harness's five scenarios: smoke, light, medium, heavy, stress.
func Scenarios() []Scenario {
	s := func(name string, issues, agents, sessionS, rampS int, fail float64) Scenario {
		return Scenario{Name: name, Issues: issues, Agents: agents, AvgSession: time.Duration(sessionS) * time.Second,
			Variance: 0.3, Ramp: time.Duration(rampS) * time.Second, FailureRate: fail}
	}
	return []Scenario{
		s("smoke", 10, 5, 30, 10, 0.10),
		s("light", 50, 8, 45, 30, 0.10),
		s("medium", 100, 15, 60, 60, 0.10),
		s("heavy", 200, 25, 60, 90, 0.10),
		s("stress", 300, 35, 60, 120, 0.15),
	}
}

// LookupScenario finds a scenario by name.
func LookupScenario(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Scaled returns the scenario with session and ramp times multiplied by f (f = 0.01 turns 60 s into 600 ms).
func (s Scenario) Scaled(f float64) Scenario {
	s.AvgSession = time.Duration(float64(s.AvgSession) * f)
	s.Ramp = time.Duration(float64(s.Ramp) * f)
	return s
}

// SessionTime maps u in [0,1) to a session time uniform in AvgSession·(1 ± Variance).
func (s Scenario) SessionTime(u float64) time.Duration {
	return time.Duration(float64(s.AvgSession) * (1 + s.Variance*(2*u-1)))
}

// StartDelay is when agent i (0-based) connects: agents spread evenly over Ramp.
func (s Scenario) StartDelay(i int) time.Duration {
	if s.Agents <= 0 {
		return 0
	}
	return time.Duration(int64(s.Ramp) * int64(i) / int64(s.Agents))
}

// ScaleConfig is the harness's scale configuration derived from a scenario.
type ScaleConfig struct {
	MinWorkers           int
	MaxWorkers           int
	TargetQueueDepth     int
	MaxQueueDepth        int
	WorkerStallTimeout   time.Duration
	HealthCheckInterval  time.Duration
	Cooldown             time.Duration
	MaxSessionsPerWorker int
}

// ScaleConfig derives the harness's scale configuration (integer arithmetic, so 1.2·25 is exactly 30).
func (s Scenario) ScaleConfig() ScaleConfig {
	perWorker := 0
	if s.Agents > 0 {
		perWorker = (s.Issues + s.Agents - 1) / s.Agents
	}
	return ScaleConfig{
		MinWorkers:           3 * s.Agents / 10,
		MaxWorkers:           (12*s.Agents + 9) / 10,
		TargetQueueDepth:     (s.Issues + 9) / 10,
		MaxQueueDepth:        (s.Issues + 1) / 2,
		WorkerStallTimeout:   2 * s.AvgSession,
		HealthCheckInterval:  10 * time.Second,
		Cooldown:             30 * time.Second,
		MaxSessionsPerWorker: perWorker,
	}
}

// Pass thresholds used by Assess.
const (
	MinSuccessRate     = 0.80 // harness: success rate ≥ 80 %
	MaxErrorsPerAgent  = 0.10 // harness: stalls < 10 % of agents; here RPC errors < 10 % of agents
	MaxLoopP95Ms       = 10   // plan: scheduler loop P95 < 10 ms
	MaxSQLiteReadAvgMs = 5    // plan: SQLite read < 5 ms
	MaxSQLiteWriteMs   = 10   // plan: SQLite write < 10 ms
	MaxRSSPeakMB       = 50   // plan: memory < 50 MB
)

// Assess applies the harness's pass criteria, adapted to measured figures, and the plan's targets.
// reasons lists every failed criterion (empty when pass).
//
//   - success rate ≥ 80 %: completions (rate × duration) / issues;
//   - health ≠ unhealthy becomes integrity: no double assignment, no lost issue, no lost completion;
//   - stalls < 10 % of agents becomes RPC errors < 10 % of agents;
//   - peak concurrency vs agent count is dropped: the driver holds exactly `agents` connections;
//   - the plan's targets: loop P95 < 10 ms, SQLite read avg < 5 ms, write avg < 10 ms, peak RSS < 50 MB.
func Assess(r Result, s Scenario) (pass bool, reasons []string) {
	fail := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }
	if r.Issues <= 0 {
		fail("no issues in the result")
	} else if rate := float64(r.Completed()) / float64(r.Issues); rate < MinSuccessRate {
		fail("success rate %.1f%% < %.0f%% (%d of %d issues completed)", rate*100, MinSuccessRate*100, r.Completed(), r.Issues)
	}
	if r.Agents != s.Agents || r.Issues != s.Issues {
		fail("result is for %d agents / %d issues, scenario %s wants %d / %d", r.Agents, r.Issues, s.Name, s.Agents, s.Issues)
	}
	if r.DoubleAssignments > 0 {
		fail("%d double assignments", r.DoubleAssignments)
	}
	if r.LostIssues > 0 {
		fail("%d lost issues", r.LostIssues)
	}
	if r.LostCompletions > 0 {
		fail("%d lost completions", r.LostCompletions)
	}
	if limit := MaxErrorsPerAgent * float64(s.Agents); float64(r.Errors) >= limit {
		fail("%d errors ≥ %.1f (10%% of %d agents)", r.Errors, limit, s.Agents)
	}
	if r.LoopMs.P95 >= MaxLoopP95Ms {
		fail("scheduler loop P95 %.3f ms ≥ %d ms", r.LoopMs.P95, MaxLoopP95Ms)
	}
	if r.SQLiteReadMs.Avg >= MaxSQLiteReadAvgMs {
		fail("SQLite read avg %.3f ms ≥ %d ms", r.SQLiteReadMs.Avg, MaxSQLiteReadAvgMs)
	}
	if r.SQLiteWriteMs.Avg >= MaxSQLiteWriteMs {
		fail("SQLite write avg %.3f ms ≥ %d ms", r.SQLiteWriteMs.Avg, MaxSQLiteWriteMs)
	}
	if r.RSSPeakMB >= MaxRSSPeakMB {
		fail("peak RSS %.1f MB ≥ %d MB", r.RSSPeakMB, MaxRSSPeakMB)
	}
	return len(reasons) == 0, reasons
}
