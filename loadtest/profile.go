package loadtest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gastown/gtc/metrics"
)

// ProfileConfig is the harness's profile configuration (same JSON names).
type ProfileConfig struct {
	TargetAgents     int   `json:"targetAgents"`
	TargetIssues     int   `json:"targetIssues"`
	DurationMs       int64 `json:"durationMs"` // window profiled; 0 = everything since the server started
	SampleIntervalMs int64 `json:"sampleIntervalMs"`
	Verbose          bool  `json:"verbose"`
}

// DefaultProfileConfig is the harness default: 20 agents, 100 issues, 1 s sampling.
func DefaultProfileConfig() ProfileConfig {
	return ProfileConfig{TargetAgents: 20, TargetIssues: 100, SampleIntervalMs: 1000}
}

// ProfileMetrics is the raw series of a profile (same JSON names as the harness; times in ms, memory in MiB).
type ProfileMetrics struct {
	CoordinatorLoopMs  []float64 `json:"coordinatorLoopMs"`  // scheduler loop iterations
	WorkerAssignmentMs []float64 `json:"workerAssignmentMs"` // assignment push → ack
	BeadsReadMs        []float64 `json:"beadsReadMs"`        // SQLite reads
	BeadsWriteMs       []float64 `json:"beadsWriteMs"`       // SQLite commits (durable writes)
	CheckpointMs       []float64 `json:"checkpointMs"`       // JSONL exports
	HeapUsedMB         []float64 `json:"heapUsedMB"`         // Go heap in use, oldest first
	HeapTotalMB        []float64 `json:"heapTotalMB"`        // not sampled by gtc (empty)
	ExternalMB         []float64 `json:"externalMB"`         // not sampled by gtc (empty)
	RSS                []float64 `json:"rss"`                // resident size in MiB when sampled
	EventLoopLagMs     []float64 `json:"eventLoopLagMs"`     // sampler wake-up delay
	LoopIterations     int64     `json:"loopIterations"`
	WorkerAssignments  int64     `json:"workerAssignments"`
	BeadsReads         int64     `json:"beadsReads"`
	BeadsWrites        int64     `json:"beadsWrites"`
	Checkpoints        int64     `json:"checkpoints"`
}

// ProfileSummary is the harness's summary (same JSON names).
type ProfileSummary struct {
	AvgLoopMs            float64 `json:"avgLoopMs"`
	P95LoopMs            float64 `json:"p95LoopMs"`
	P99LoopMs            float64 `json:"p99LoopMs"`
	LoopsPerSecond       float64 `json:"loopsPerSecond"`
	AvgAssignmentMs      float64 `json:"avgAssignmentMs"`
	P95AssignmentMs      float64 `json:"p95AssignmentMs"`
	AssignmentsPerSecond float64 `json:"assignmentsPerSecond"`
	AvgBeadsReadMs       float64 `json:"avgBeadsReadMs"`
	AvgBeadsWriteMs      float64 `json:"avgBeadsWriteMs"`
	BeadsOpsPerSecond    float64 `json:"beadsOpsPerSecond"`
	PeakHeapMB           float64 `json:"peakHeapMB"`
	AvgHeapMB            float64 `json:"avgHeapMB"`
	MemoryGrowthMB       float64 `json:"memoryGrowthMB"`
	AvgEventLoopLagMs    float64 `json:"avgEventLoopLagMs"`
	MaxEventLoopLagMs    float64 `json:"maxEventLoopLagMs"`
}

// Bottleneck areas and severities, as in the harness.
const (
	AreaCoordinator      = "coordinator"
	AreaBeads            = "beads"
	AreaMemory           = "memory"
	AreaEventLoop        = "event-loop"
	AreaWorkerManagement = "worker-management"

	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Bottleneck is one threshold the profile crossed.
type Bottleneck struct {
	Area           string `json:"area"`
	Severity       string `json:"severity"`
	Description    string `json:"description"`
	Recommendation string `json:"recommendation"`
}

// RustRecommendation is the harness's port score, kept for parity.
type RustRecommendation struct {
	Recommended          bool     `json:"recommended"`
	Confidence           float64  `json:"confidence"`
	Reasons              []string `json:"reasons"`
	EstimatedImprovement string   `json:"estimatedImprovement"`
}

// ProfileReport is the harness's profile report (same JSON names).
type ProfileReport struct {
	Config             ProfileConfig      `json:"config"`
	DurationMs         float64            `json:"durationMs"`
	Metrics            ProfileMetrics     `json:"metrics"`
	Summary            ProfileSummary     `json:"summary"`
	Bottlenecks        []Bottleneck       `json:"bottlenecks"`
	RustRecommendation RustRecommendation `json:"rustRecommendation"`
	Report             string             `json:"report"`
	// CommitBatchAvg is gtc's addition: mean operations per SQLite group commit since the server started.
	CommitBatchAvg float64 `json:"commitBatchAvg,omitempty"`
	// PlanTargets is gtc's addition: the plan's thresholds and whether each is crossed (the verdict the
	// report's text ends with).
	PlanTargets []TargetCheck `json:"planTargets"`
}

// Render sets the text report and the plan targets from the figures (again after they changed).
func (r *ProfileReport) Render() {
	r.PlanTargets = PlanTargets(*r)
	r.Report = FormatProfile(*r)
}

// ProfileInput is what a profile is built from: server-side samples and counts.
type ProfileInput struct {
	Config     ProfileConfig
	Duration   time.Duration   // wall time covered; 0 = Config.DurationMs
	Loop       []time.Duration // scheduler loop iterations
	Assignment []time.Duration // assignment push → ack
	Read       []time.Duration // SQLite reads
	Write      []time.Duration // SQLite durable writes (commits)
	Checkpoint []time.Duration // JSONL exports
	HeapBytes  []uint64        // heap-in-use samples, oldest first
	RSSBytes   []uint64        // resident-size samples, oldest first (optional)
	Lag        []time.Duration // scheduling-lag samples
	// Operation counts; 0 means len of the matching slice (counts exceed lengths when samples were capped).
	LoopIterations, Assignments, Reads, Writes, Checkpoints int64
}

// ProfileInputFromSamples maps metrics.Samples onto a ProfileInput: writes are the commits when any
// were observed (a commit is the durable write), else the write statements.
func ProfileInputFromSamples(s metrics.Samples, cfg ProfileConfig) ProfileInput {
	write := s.Commit
	if write.Count == 0 {
		write = s.Write
	}
	return ProfileInput{
		Config: cfg, Duration: s.Span,
		Loop: s.Loop.Values, Assignment: s.Assign.Values, Read: s.Read.Values, Write: write.Values,
		Checkpoint: s.Export.Values, HeapBytes: s.HeapBytes, RSSBytes: s.RSSBytes, Lag: s.Lag,
		LoopIterations: s.Loop.Count, Assignments: s.Assign.Count, Reads: s.Read.Count,
		Writes: write.Count, Checkpoints: s.Export.Count,
	}
}

func msSlice(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d) / 1e6
	}
	return out
}

func mbSlice(bs []uint64) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = float64(b) / (1 << 20)
	}
	return out
}

func count(n int64, l int) int64 {
	if n > 0 {
		return n
	}
	return int64(l)
}

// BuildProfile computes the summary, bottlenecks, score and text report from in.
func BuildProfile(in ProfileInput) ProfileReport {
	dur := in.Duration
	if dur <= 0 {
		dur = time.Duration(in.Config.DurationMs) * time.Millisecond
	}
	pm := ProfileMetrics{
		CoordinatorLoopMs:  msSlice(in.Loop),
		WorkerAssignmentMs: msSlice(in.Assignment),
		BeadsReadMs:        msSlice(in.Read),
		BeadsWriteMs:       msSlice(in.Write),
		CheckpointMs:       msSlice(in.Checkpoint),
		HeapUsedMB:         mbSlice(in.HeapBytes),
		HeapTotalMB:        []float64{},
		ExternalMB:         []float64{},
		RSS:                mbSlice(in.RSSBytes),
		EventLoopLagMs:     msSlice(in.Lag),
		LoopIterations:     count(in.LoopIterations, len(in.Loop)),
		WorkerAssignments:  count(in.Assignments, len(in.Assignment)),
		BeadsReads:         count(in.Reads, len(in.Read)),
		BeadsWrites:        count(in.Writes, len(in.Write)),
		Checkpoints:        count(in.Checkpoints, len(in.Checkpoint)),
	}
	durMs := float64(dur) / 1e6
	sum := SummarizeProfile(pm, durMs)
	bn := IdentifyBottlenecks(sum)
	rep := ProfileReport{
		Config:             in.Config,
		DurationMs:         durMs,
		Metrics:            pm,
		Summary:            sum,
		Bottlenecks:        bn,
		RustRecommendation: Recommend(in.Config, sum, bn),
	}
	rep.Render()
	return rep
}

// Percentile is the harness's percentile: sorted[min(floor(n*p), n-1)], 0 for no values; vs is not modified.
func Percentile(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	return sorted[PercentileIndex(len(sorted), p)]
}

func avg(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	var s float64
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

func maxOr0(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

// SummarizeProfile computes the harness summary of pm over durationMs (rates are 0 when durationMs is 0).
func SummarizeProfile(pm ProfileMetrics, durationMs float64) ProfileSummary {
	perSec := func(n int64) float64 {
		if durationMs <= 0 {
			return 0
		}
		return float64(n) / (durationMs / 1000)
	}
	s := ProfileSummary{
		AvgLoopMs:            avg(pm.CoordinatorLoopMs),
		P95LoopMs:            Percentile(pm.CoordinatorLoopMs, 0.95),
		P99LoopMs:            Percentile(pm.CoordinatorLoopMs, 0.99),
		LoopsPerSecond:       perSec(pm.LoopIterations),
		AvgAssignmentMs:      avg(pm.WorkerAssignmentMs),
		P95AssignmentMs:      Percentile(pm.WorkerAssignmentMs, 0.95),
		AssignmentsPerSecond: perSec(pm.WorkerAssignments),
		AvgBeadsReadMs:       avg(pm.BeadsReadMs),
		AvgBeadsWriteMs:      avg(pm.BeadsWriteMs),
		BeadsOpsPerSecond:    perSec(pm.BeadsReads + pm.BeadsWrites),
		PeakHeapMB:           maxOr0(pm.HeapUsedMB),
		AvgHeapMB:            avg(pm.HeapUsedMB),
		AvgEventLoopLagMs:    avg(pm.EventLoopLagMs),
		MaxEventLoopLagMs:    maxOr0(pm.EventLoopLagMs),
	}
	if n := len(pm.HeapUsedMB); n > 1 {
		s.MemoryGrowthMB = pm.HeapUsedMB[n-1] - pm.HeapUsedMB[0]
	}
	return s
}

// IdentifyBottlenecks applies the harness's five triggers and severities (all comparisons strict).
func IdentifyBottlenecks(s ProfileSummary) []Bottleneck {
	out := []Bottleneck{}
	if s.P95LoopMs > 100 {
		out = append(out, Bottleneck{
			Area:           AreaCoordinator,
			Severity:       tiered(s.P95LoopMs, 500, 200),
			Description:    fmt.Sprintf("scheduler loop P95 is %.1f ms", s.P95LoopMs),
			Recommendation: "find what blocks the scheduler goroutine (SQLite on the loop, lock contention, large scans)",
		})
	}
	if s.AvgBeadsReadMs > 50 || s.AvgBeadsWriteMs > 100 {
		sev := SeverityMedium
		if s.AvgBeadsWriteMs > 200 {
			sev = SeverityHigh
		}
		out = append(out, Bottleneck{
			Area:           AreaBeads,
			Severity:       sev,
			Description:    fmt.Sprintf("SQLite is slow: read avg %.1f ms, write avg %.1f ms", s.AvgBeadsReadMs, s.AvgBeadsWriteMs),
			Recommendation: "check WAL mode, synchronous=NORMAL, group-commit batch size and the disk",
		})
	}
	if s.MemoryGrowthMB > 100 {
		out = append(out, Bottleneck{
			Area:           AreaMemory,
			Severity:       tiered(s.MemoryGrowthMB, 500, 200),
			Description:    fmt.Sprintf("heap grew by %.1f MB during the profile", s.MemoryGrowthMB),
			Recommendation: "take a heap profile (pprof) and look for retained issue bodies or connections",
		})
	}
	if s.MaxEventLoopLagMs > 100 {
		sev := SeverityMedium
		if s.MaxEventLoopLagMs > 500 {
			sev = SeverityHigh
		}
		out = append(out, Bottleneck{
			Area:           AreaEventLoop,
			Severity:       sev,
			Description:    fmt.Sprintf("scheduling lag peaked at %.1f ms", s.MaxEventLoopLagMs),
			Recommendation: "the process is CPU-starved or paused by GC: check CPU load, GOMAXPROCS and allocation rate",
		})
	}
	if s.P95AssignmentMs > 50 {
		sev := SeverityMedium
		if s.P95AssignmentMs > 100 {
			sev = SeverityHigh
		}
		out = append(out, Bottleneck{
			Area:           AreaWorkerManagement,
			Severity:       sev,
			Description:    fmt.Sprintf("assignment push→ack P95 is %.1f ms", s.P95AssignmentMs),
			Recommendation: "check the per-connection send queues and slow agents; workers should ack before working",
		})
	}
	return out
}

// tiered is critical above crit, high above high, else medium.
func tiered(v, crit, high float64) string {
	switch {
	case v > crit:
		return SeverityCritical
	case v > high:
		return SeverityHigh
	default:
		return SeverityMedium
	}
}

// Score is the harness's port score before capping at 100.
func Score(cfg ProfileConfig, s ProfileSummary, bn []Bottleneck) (score int, reasons []string) {
	reasons = []string{}
	var critical, high int
	for _, b := range bn {
		switch b.Severity {
		case SeverityCritical:
			critical++
		case SeverityHigh:
			high++
		}
	}
	if critical > 0 {
		score += 40
		reasons = append(reasons, fmt.Sprintf("%d critical bottleneck(s)", critical))
	}
	if high > 0 {
		score += 15 * high
		reasons = append(reasons, fmt.Sprintf("%d high-severity bottleneck(s)", high))
	}
	if s.P95LoopMs > 100 {
		score += 20
		reasons = append(reasons, fmt.Sprintf("scheduler loop P95 %.1f ms > 100 ms", s.P95LoopMs))
	}
	if s.AvgBeadsWriteMs > 50 {
		score += 15
		reasons = append(reasons, fmt.Sprintf("SQLite write avg %.1f ms > 50 ms", s.AvgBeadsWriteMs))
	}
	if s.MaxEventLoopLagMs > 100 {
		score += 10
		reasons = append(reasons, fmt.Sprintf("scheduling lag max %.1f ms > 100 ms", s.MaxEventLoopLagMs))
	}
	if cfg.TargetAgents >= 20 {
		score += 10
		reasons = append(reasons, fmt.Sprintf("target scale is %d agents (≥ 20)", cfg.TargetAgents))
	}
	return score, reasons
}

// Recommend turns the score into the harness's recommendation: confidence = min(score,100)/100, recommended at ≥ 0.5.
func Recommend(cfg ProfileConfig, s ProfileSummary, bn []Bottleneck) RustRecommendation {
	score, reasons := Score(cfg, s, bn)
	conf := float64(min(score, 100)) / 100
	return RustRecommendation{
		Recommended:          conf >= 0.5,
		Confidence:           conf,
		Reasons:              reasons,
		EstimatedImprovement: EstimatedImprovement(conf),
	}
}

// EstimatedImprovement is the harness's text for a confidence.
func EstimatedImprovement(conf float64) string {
	switch {
	case conf >= 0.8:
		return "Significant (5-10x for coordinator, 2-5x for SQLite)"
	case conf >= 0.6:
		return "Moderate (2-5x for hot paths)"
	case conf >= 0.4:
		return "Incremental (1.5-2x for specific operations)"
	default:
		return "Minimal (<2x)"
	}
}

// TargetCheck is one of the port plan's targets and whether the profile crossed it.
type TargetCheck struct {
	Name    string  `json:"name"`  // what is measured
	Value   float64 `json:"value"` // measured figure
	Limit   float64 `json:"limit"` // the target is Value < Limit
	Unit    string  `json:"unit"`
	Crossed bool    `json:"crossed"` // Value ≥ Limit
}

// PlanTargets checks the plan's targets: loop P95 < 10 ms, SQLite read < 5 ms, write < 10 ms, memory < 50 MB
// (memory is the peak RSS when RSS was sampled, else the peak heap).
func PlanTargets(r ProfileReport) []TargetCheck {
	memName, mem := "peak heap", r.Summary.PeakHeapMB
	if len(r.Metrics.RSS) > 0 {
		memName, mem = "peak RSS", maxOr0(r.Metrics.RSS)
	}
	checks := []TargetCheck{
		{Name: "scheduler loop P95", Value: r.Summary.P95LoopMs, Limit: 10, Unit: "ms"},
		{Name: "SQLite read avg", Value: r.Summary.AvgBeadsReadMs, Limit: 5, Unit: "ms"},
		{Name: "SQLite write avg", Value: r.Summary.AvgBeadsWriteMs, Limit: 10, Unit: "ms"},
		{Name: memName, Value: mem, Limit: 50, Unit: "MB"},
	}
	for i := range checks {
		checks[i].Crossed = checks[i].Value >= checks[i].Limit
	}
	return checks
}

// FormatProfile renders the text report headed "GASTOWN COORDINATOR PROFILE REPORT".
func FormatProfile(r ProfileReport) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	s := r.Summary
	p("GASTOWN COORDINATOR PROFILE REPORT")
	p("==================================")
	p("")
	p("Configuration: %d target agents, %d target issues, window %.1f s", r.Config.TargetAgents, r.Config.TargetIssues, r.DurationMs/1000)
	p("")
	p("Scheduler loop: %d iterations, %.2f/s; avg %.3f ms, P95 %.3f ms, P99 %.3f ms",
		r.Metrics.LoopIterations, s.LoopsPerSecond, s.AvgLoopMs, s.P95LoopMs, s.P99LoopMs)
	p("Assignments (push→ack): %d, %.2f/s; avg %.3f ms, P95 %.3f ms",
		r.Metrics.WorkerAssignments, s.AssignmentsPerSecond, s.AvgAssignmentMs, s.P95AssignmentMs)
	p("SQLite: %d reads avg %.3f ms, %d writes avg %.3f ms, %.2f ops/s",
		r.Metrics.BeadsReads, s.AvgBeadsReadMs, r.Metrics.BeadsWrites, s.AvgBeadsWriteMs, s.BeadsOpsPerSecond)
	p("JSONL exports: %d, avg %.3f ms", r.Metrics.Checkpoints, avg(r.Metrics.CheckpointMs))
	p("Heap: peak %.1f MB, avg %.1f MB, growth %+.1f MB", s.PeakHeapMB, s.AvgHeapMB, s.MemoryGrowthMB)
	if len(r.Metrics.RSS) > 0 {
		p("RSS: peak %.1f MB", maxOr0(r.Metrics.RSS))
	}
	p("Scheduling lag: avg %.3f ms, max %.3f ms", s.AvgEventLoopLagMs, s.MaxEventLoopLagMs)
	p("")
	if len(r.Bottlenecks) == 0 {
		p("Bottlenecks: none (harness thresholds)")
	} else {
		p("Bottlenecks:")
		for _, bn := range r.Bottlenecks {
			p("  [%s] %s: %s", bn.Severity, bn.Area, bn.Description)
			p("      -> %s", bn.Recommendation)
		}
	}
	p("")
	checks := PlanTargets(r)
	var crossed []string
	for _, c := range checks {
		if c.Crossed {
			crossed = append(crossed, c.Name)
		}
	}
	if len(crossed) == 0 {
		p("Verdict: no plan threshold crossed")
	} else {
		p("Verdict: plan threshold crossed: %s", strings.Join(crossed, ", "))
	}
	for _, c := range checks {
		mark := "ok"
		if c.Crossed {
			mark = "CROSSED"
		}
		p("  %-20s %10.3f %s (target < %g %s)  %s", c.Name, c.Value, c.Unit, c.Limit, c.Unit, mark)
	}
	p("")
	rr := r.RustRecommendation
	verdict := "not recommended"
	if rr.Recommended {
		verdict = "recommended"
	}
	p("Port score (harness rules): %s, confidence %.0f%%, expected improvement %s", verdict, rr.Confidence*100, rr.EstimatedImprovement)
	for _, reason := range rr.Reasons {
		p("  - %s", reason)
	}
	return b.String()
}
