package loadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
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
	Mode              string       `json:"mode"`       // throughput (--issues) or latency (--rate)
	StoppedBy         string       `json:"stopped_by"` // drained, or the cap that ended the run first
	DurationS         float64      `json:"duration_s"`
	CompletionsPerSec float64      `json:"completions_per_sec"`
	Completions       int64        `json:"completions"`       // success completes the server accepted
	FailedSessions    int64        `json:"failed_sessions"`   // fail calls the server accepted (--fail-rate)
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
	Reconnects        int64        `json:"reconnects"` // agents' connections made again after the coordinator restarted (--addr)
	DoubleAssignments int64        `json:"double_assignments"`
	LostIssues        int64        `json:"lost_issues"`
	LostCompletions   int64        `json:"lost_completions"`
	PeakConcurrency   int          `json:"peak_concurrency"` // most sessions running at once
	// How the issues that did not close ended (none of them is an error): dead-lettered after
	// --max-attempts failures, blocked for good by a dead-lettered dependency, or still open or held
	// when the run stopped at its cap (stopped_by).
	DeadLettered int64   `json:"dead_lettered"`
	Unreachable  int64   `json:"unreachable"`
	Unfinished   int64   `json:"unfinished_issues"`
	ServerCPUS   float64 `json:"server_cpu_s,omitempty"` // server process CPU time (user+system) over its life, own server only
	DriverCPUS   float64 `json:"driver_cpu_s,omitempty"` // load generator CPU time during the run
	SettleMs     float64 `json:"settle_ms,omitempty"`    // own server only: the wait between its start and the run (--settle)
	// The coordinator's health (coord.health) at the run's end, as the harness assesses it (healthy,
	// degraded or unhealthy, with its reasons); the worst it reported when asked every second during the
	// run; and the most of the run's agents it counted stalled at once.
	Health        string   `json:"health,omitempty"`
	HealthReasons []string `json:"health_reasons,omitempty"`
	HealthWorst   string   `json:"health_worst,omitempty"`
	StalledMax    int      `json:"stalled_workers_max"`
	// BaselineEchoRTTMs is this machine's floor under create_to_push (--baseline, see EchoBaseline).
	BaselineEchoRTTMs *Percentiles `json:"baseline_echo_rtt_ms,omitempty"`
}

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

// healthText is the worst health seen with its reasons, or "-" when the coordinator never answered.
func healthText(r Result) string {
	if r.Health == "" {
		return "-"
	}
	if len(r.HealthReasons) == 0 {
		return r.Health
	}
	return r.Health + " (" + strings.Join(r.HealthReasons, "; ") + ")"
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
	c2p := "- (latency mode: --rate)"
	if r.Mode != "throughput" {
		c2p = ms(r.CreateToPushMs.P50, r.CreateToPushMs.P95, r.CreateToPushMs.P99, r.CreateToPushMs.Max)
	}
	rss := f(r.RSSPeakMB) + " / " + f(r.RSSGrowthMB)
	if r.RSSPeakMB == 0 {
		rss = "- (not measured: the server's process was not found)"
	}
	rows := [][]string{
		{"agents / issues", fmt.Sprintf("%d / %d", r.Agents, r.Issues)},
		{"stopped by", r.StoppedBy},
		{"duration (s)", f(r.DurationS)},
		{"completions/s", f(r.CompletionsPerSec)},
		{"completions / failed sessions", fmt.Sprintf("%d / %d", r.Completions, r.FailedSessions)},
		{"dead-lettered / unreachable / unfinished", fmt.Sprintf("%d / %d / %d", r.DeadLettered, r.Unreachable, r.Unfinished)},
		{"dispatch ms p50/p95/p99/max", ms(r.DispatchMs.P50, r.DispatchMs.P95, r.DispatchMs.P99, r.DispatchMs.Max)},
		{"create→push ms p50/p95/p99/max", c2p},
		{"queue wait ms p50/p95/p99", ms(r.QueueWaitMs.P50, r.QueueWaitMs.P95, r.QueueWaitMs.P99)},
		{"rpc ms p50/p95/p99", ms(r.RPCMs.P50, r.RPCMs.P95, r.RPCMs.P99)},
		{"scheduler loop ms p95/p99", ms(r.LoopMs.P95, r.LoopMs.P99)},
		{"sqlite read ms avg/p95", ms(r.SQLiteReadMs.Avg, r.SQLiteReadMs.P95)},
		{"sqlite write ms avg/p95", ms(r.SQLiteWriteMs.Avg, r.SQLiteWriteMs.P95)},
		{"commit batch avg", f(r.CommitBatchAvg)},
		{"rss peak / growth (MB)", rss},
		{"errors", strconv.FormatInt(r.Errors, 10)},
		{"coordinator health at the end / worst / most stalled", healthText(r) + " / " + cmp.Or(r.HealthWorst, "-") + " / " + strconv.Itoa(r.StalledMax)},
		{"double assignments", strconv.FormatInt(r.DoubleAssignments, 10)},
		{"lost issues / completions", fmt.Sprintf("%d / %d", r.LostIssues, r.LostCompletions)},
		{"cpu s server / load generator", serverCPU(r.ServerCPUS) + " / " + f(r.DriverCPUS)},
	}
	if b := r.BaselineEchoRTTMs; b != nil {
		rows = append(rows, []string{"baseline echo round trip ms p50/p95/p99/max", ms(b.P50, b.P95, b.P99, b.Max)})
	}
	if r.Reconnects > 0 {
		rows = append(rows, []string{"agent reconnects (the coordinator restarted)", strconv.FormatInt(r.Reconnects, 10)})
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
	MaxStalledPerAgent = 0.10 // harness: stalls < 10 % of agents
	MaxErrorsPerAgent  = 0.10 // gtc: RPC errors < 10 % of agents
	MaxLoopP95Ms       = 10   // plan: scheduler loop P95 < 10 ms
	MaxSQLiteReadAvgMs = 5    // plan: SQLite read < 5 ms
	MaxSQLiteWriteMs   = 10   // plan: SQLite write < 10 ms
	MaxRSSPeakMB       = 50   // plan: memory < 50 MB
	MaxPeakDeviation   = 0.2  // harness: |peak concurrency − agents| / agents < 0.2
)

// Criterion is one pass criterion of a scenario, with the measured value.
type Criterion struct {
	Name  string `json:"name"`
	Value string `json:"value"` // measured
	Want  string `json:"want"`
	OK    bool   `json:"ok"`
}

// String renders the criterion for people: "name value (want …): ok|FAIL".
func (c Criterion) String() string {
	v := "ok"
	if !c.OK {
		v = "FAIL"
	}
	return fmt.Sprintf("%s %s (want %s): %s", c.Name, c.Value, c.Want, v)
}

// Criteria applies the harness's pass criteria (harness.md §10), adapted to measured figures, and the
// plan's targets, and returns each with its measured value:
//
//   - success rate ≥ 80 %: sessions that ended in a success complete, of all sessions reported
//     (complete or fail), as the harness counts them; and issues closed ≥ 80 % of the scenario's;
//   - health ≠ unhealthy: the coordinator's health at the run's end (coord.health: the harness
//     ScaleManager's 0.5 / 0.8 success-rate and stalled-worker rules);
//   - stalls < 10 % of agents: the most of the run's agents the coordinator counted stalled at once
//     (asked every second);
//   - and gtc's own: integrity (no double assignment, no lost issue, no lost completion) and RPC errors
//     < 10 % of agents;
//   - peak concurrency: the most sessions running at once is within 20 % of the agent count;
//   - the plan's targets: loop P95 < 10 ms, SQLite read avg < 5 ms, write avg < 10 ms, peak RSS < 50 MB
//     (not measured — and so not passed — when the server's process could not be read).
func Criteria(r Result, s Scenario) []Criterion {
	var cs []Criterion
	add := func(name, value, want string, ok bool) {
		cs = append(cs, Criterion{Name: name, Value: value, Want: want, OK: ok})
	}
	pct := func(n, d int64) (string, bool) {
		if d <= 0 {
			return "-", false
		}
		rate := float64(n) / float64(d)
		return fmt.Sprintf("%.1f%% (%d of %d)", rate*100, n, d), rate >= MinSuccessRate
	}
	add("scenario size", fmt.Sprintf("%d agents / %d issues", r.Agents, r.Issues), fmt.Sprintf("%d / %d", s.Agents, s.Issues),
		r.Agents == s.Agents && r.Issues == s.Issues)
	v, ok := pct(r.Completions, r.Completions+r.FailedSessions)
	add("session success rate", v, "≥ 80%", ok)
	v, ok = pct(r.Completions, int64(r.Issues))
	add("issues closed", v, "≥ 80%", ok)
	if r.Health == "" {
		add("coordinator health at the end", "not measured", "not unhealthy", false)
	} else {
		add("coordinator health at the end", healthText(r), "not unhealthy", r.Health != "unhealthy")
	}
	stallLimit := MaxStalledPerAgent * float64(s.Agents)
	add("stalled workers (most at once)", strconv.Itoa(r.StalledMax), fmt.Sprintf("< %.1f (10%% of %d agents)", stallLimit, s.Agents),
		float64(r.StalledMax) < stallLimit)
	add("double assignments", strconv.FormatInt(r.DoubleAssignments, 10), "0", r.DoubleAssignments == 0)
	add("lost issues / completions", fmt.Sprintf("%d / %d", r.LostIssues, r.LostCompletions), "0 / 0", r.LostIssues == 0 && r.LostCompletions == 0)
	limit := MaxErrorsPerAgent * float64(s.Agents)
	add("errors", strconv.FormatInt(r.Errors, 10), fmt.Sprintf("< %.1f (10%% of %d agents)", limit, s.Agents), float64(r.Errors) < limit)
	dev := math.Abs(float64(r.PeakConcurrency-s.Agents)) / float64(max(s.Agents, 1))
	add("peak concurrency", fmt.Sprintf("%d sessions at once", r.PeakConcurrency), fmt.Sprintf("within 20%% of %d agents", s.Agents), dev < MaxPeakDeviation)
	add("scheduler loop P95", fmt.Sprintf("%.3f ms", r.LoopMs.P95), fmt.Sprintf("< %d ms", MaxLoopP95Ms), r.LoopMs.P95 < MaxLoopP95Ms)
	add("SQLite read avg", fmt.Sprintf("%.3f ms", r.SQLiteReadMs.Avg), fmt.Sprintf("< %d ms", MaxSQLiteReadAvgMs), r.SQLiteReadMs.Avg < MaxSQLiteReadAvgMs)
	add("SQLite write avg", fmt.Sprintf("%.3f ms", r.SQLiteWriteMs.Avg), fmt.Sprintf("< %d ms", MaxSQLiteWriteMs), r.SQLiteWriteMs.Avg < MaxSQLiteWriteMs)
	if r.RSSPeakMB > 0 {
		add("peak RSS", fmt.Sprintf("%.1f MB", r.RSSPeakMB), fmt.Sprintf("< %d MB", MaxRSSPeakMB), r.RSSPeakMB < MaxRSSPeakMB)
	} else {
		add("peak RSS", "not measured", fmt.Sprintf("< %d MB", MaxRSSPeakMB), false)
	}
	return cs
}

// Assess applies Criteria; reasons lists every failed criterion (empty when pass).
func Assess(r Result, s Scenario) (pass bool, reasons []string) {
	for _, c := range Criteria(r, s) {
		if !c.OK {
			reasons = append(reasons, c.String())
		}
	}
	return len(reasons) == 0, reasons
}

// serverCPU is the server's CPU seconds, or "-" when it was not measured (a server of --addr: not ours).
func serverCPU(s float64) string {
	if s == 0 {
		return "- (not measured: --addr)"
	}
	return strconv.FormatFloat(s, 'f', -1, 64)
}
