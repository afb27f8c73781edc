package loadtest

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/metrics"
)

func TestPercentile(t *testing.T) {
	vs := make([]float64, 100)
	for i := range vs {
		vs[i] = float64(i)
	}
	rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
	if got := Percentile(vs, 0.95); got != 95 {
		t.Errorf("P95 of 0..99 = %v, want sorted[95] = 95", got)
	}
	if got := Percentile(vs, 0.99); got != 99 {
		t.Errorf("P99 = %v, want 99", got)
	}
	if got := Percentile(vs[:10], 0.95); got != slices.Max(vs[:10]) {
		t.Errorf("P95 of 10 = %v, want the max (index 9)", got)
	}
	if got := Percentile(nil, 0.95); got != 0 {
		t.Errorf("P95 of none = %v", got)
	}
	if slices.IsSorted(vs) {
		t.Error("Percentile sorted its input in place")
	}
}

func TestBottleneckTriggers(t *testing.T) {
	tests := []struct {
		name string
		s    ProfileSummary
		area string // "" = no bottleneck
		sev  string
	}{
		{"loop at 100", ProfileSummary{P95LoopMs: 100}, "", ""},
		{"loop above 100", ProfileSummary{P95LoopMs: 100.1}, AreaCoordinator, SeverityMedium},
		{"loop at 200", ProfileSummary{P95LoopMs: 200}, AreaCoordinator, SeverityMedium},
		{"loop above 200", ProfileSummary{P95LoopMs: 200.1}, AreaCoordinator, SeverityHigh},
		{"loop at 500", ProfileSummary{P95LoopMs: 500}, AreaCoordinator, SeverityHigh},
		{"loop above 500", ProfileSummary{P95LoopMs: 500.1}, AreaCoordinator, SeverityCritical},
		{"read at 50", ProfileSummary{AvgBeadsReadMs: 50}, "", ""},
		{"read above 50", ProfileSummary{AvgBeadsReadMs: 50.1}, AreaBeads, SeverityMedium},
		{"write at 100", ProfileSummary{AvgBeadsWriteMs: 100}, "", ""},
		{"write above 100", ProfileSummary{AvgBeadsWriteMs: 100.1}, AreaBeads, SeverityMedium},
		{"write at 200", ProfileSummary{AvgBeadsWriteMs: 200}, AreaBeads, SeverityMedium},
		{"write above 200", ProfileSummary{AvgBeadsWriteMs: 200.1}, AreaBeads, SeverityHigh},
		{"slow read fast write", ProfileSummary{AvgBeadsReadMs: 300, AvgBeadsWriteMs: 1}, AreaBeads, SeverityMedium},
		{"growth at 100", ProfileSummary{MemoryGrowthMB: 100}, "", ""},
		{"growth above 100", ProfileSummary{MemoryGrowthMB: 100.1}, AreaMemory, SeverityMedium},
		{"growth above 200", ProfileSummary{MemoryGrowthMB: 200.1}, AreaMemory, SeverityHigh},
		{"growth above 500", ProfileSummary{MemoryGrowthMB: 500.1}, AreaMemory, SeverityCritical},
		{"lag at 100", ProfileSummary{MaxEventLoopLagMs: 100}, "", ""},
		{"lag above 100", ProfileSummary{MaxEventLoopLagMs: 100.1}, AreaEventLoop, SeverityMedium},
		{"lag at 500", ProfileSummary{MaxEventLoopLagMs: 500}, AreaEventLoop, SeverityMedium},
		{"lag above 500", ProfileSummary{MaxEventLoopLagMs: 500.1}, AreaEventLoop, SeverityHigh},
		{"assign at 50", ProfileSummary{P95AssignmentMs: 50}, "", ""},
		{"assign above 50", ProfileSummary{P95AssignmentMs: 50.1}, AreaWorkerManagement, SeverityMedium},
		{"assign at 100", ProfileSummary{P95AssignmentMs: 100}, AreaWorkerManagement, SeverityMedium},
		{"assign above 100", ProfileSummary{P95AssignmentMs: 100.1}, AreaWorkerManagement, SeverityHigh},
		{"avg loop is not a trigger", ProfileSummary{AvgLoopMs: 1000}, "", ""},
	}
	for _, tt := range tests {
		got := IdentifyBottlenecks(tt.s)
		if tt.area == "" {
			if len(got) != 0 {
				t.Errorf("%s: %+v, want none", tt.name, got)
			}
			continue
		}
		if len(got) != 1 || got[0].Area != tt.area || got[0].Severity != tt.sev || got[0].Description == "" || got[0].Recommendation == "" {
			t.Errorf("%s: %+v, want one %s/%s", tt.name, got, tt.area, tt.sev)
		}
	}
	all := IdentifyBottlenecks(ProfileSummary{P95LoopMs: 101, AvgBeadsWriteMs: 101, MemoryGrowthMB: 101, MaxEventLoopLagMs: 101, P95AssignmentMs: 51})
	var areas []string
	for _, b := range all {
		areas = append(areas, b.Area)
	}
	if want := []string{AreaCoordinator, AreaBeads, AreaMemory, AreaEventLoop, AreaWorkerManagement}; !slices.Equal(areas, want) {
		t.Errorf("order %v, want %v", areas, want)
	}
}

func TestScoreArithmetic(t *testing.T) {
	small := ProfileConfig{TargetAgents: 19}
	big := ProfileConfig{TargetAgents: 20}
	tests := []struct {
		name    string
		cfg     ProfileConfig
		s       ProfileSummary
		score   int
		reasons int
		conf    float64
		improve string
	}{
		{"nothing", small, ProfileSummary{}, 0, 0, 0, "Minimal (<2x)"},
		{"agents ≥ 20 only", big, ProfileSummary{}, 10, 1, 0.10, "Minimal (<2x)"},
		// loop 101: medium bottleneck + 20.
		{"loop medium", small, ProfileSummary{P95LoopMs: 101}, 20, 1, 0.20, "Minimal (<2x)"},
		// loop 201: high (15) + 20.
		{"loop high", small, ProfileSummary{P95LoopMs: 201}, 35, 2, 0.35, "Minimal (<2x)"},
		// loop 501: critical (40) + 20, plus 10 for the scale = 70.
		{"loop critical big", big, ProfileSummary{P95LoopMs: 501}, 70, 3, 0.70, "Moderate (2-5x for hot paths)"},
		// write 51: no bottleneck (needs > 100) but + 15.
		{"write over 50", small, ProfileSummary{AvgBeadsWriteMs: 51}, 15, 1, 0.15, "Minimal (<2x)"},
		// write 201: high beads (15) + 15.
		{"write high", small, ProfileSummary{AvgBeadsWriteMs: 201}, 30, 2, 0.30, "Minimal (<2x)"},
		// lag 501: high (15) + 10.
		{"lag high", small, ProfileSummary{MaxEventLoopLagMs: 501}, 25, 2, 0.25, "Minimal (<2x)"},
		// memory adds only through severity: medium adds nothing, critical adds 40.
		{"memory medium", small, ProfileSummary{MemoryGrowthMB: 150}, 0, 0, 0, "Minimal (<2x)"},
		{"memory critical", small, ProfileSummary{MemoryGrowthMB: 600}, 40, 1, 0.40, "Incremental (1.5-2x for specific operations)"},
		// two high bottlenecks (memory 300, assign 150) = 30, + 10 scale.
		{"two high", big, ProfileSummary{MemoryGrowthMB: 300, P95AssignmentMs: 150}, 40, 2, 0.40, "Incremental (1.5-2x for specific operations)"},
		// everything: critical loop & memory (40 once), high write, lag, assign (3×15=45), loop 20, write 15, lag 10, scale 10 = 140 → capped.
		{"everything", big, ProfileSummary{P95LoopMs: 600, AvgBeadsWriteMs: 300, MemoryGrowthMB: 600, MaxEventLoopLagMs: 600, P95AssignmentMs: 200},
			140, 6, 1.0, "Significant (5-10x for coordinator, 2-5x for SQLite)"},
		// 50 exactly: critical (40) + 10 → recommended.
		{"threshold 0.5", big, ProfileSummary{MemoryGrowthMB: 501}, 50, 2, 0.50, "Incremental (1.5-2x for specific operations)"},
		// 60 exactly: critical 40 + loop... use memory critical + write over 50 (15) = 55 +... construct 60: critical(40)+lag medium(10)+scale(10).
		{"threshold 0.6", big, ProfileSummary{MemoryGrowthMB: 501, MaxEventLoopLagMs: 101}, 60, 3, 0.60, "Moderate (2-5x for hot paths)"},
		// 80: loop critical (40) + loop 20 + lag 10 + scale 10.
		{"threshold 0.8", big, ProfileSummary{P95LoopMs: 501, MaxEventLoopLagMs: 101}, 80, 4, 0.80, "Significant (5-10x for coordinator, 2-5x for SQLite)"},
	}
	for _, tt := range tests {
		bn := IdentifyBottlenecks(tt.s)
		score, reasons := Score(tt.cfg, tt.s, bn)
		rec := Recommend(tt.cfg, tt.s, bn)
		if score != tt.score || len(reasons) != tt.reasons || math.Abs(rec.Confidence-tt.conf) > 1e-12 ||
			rec.Recommended != (tt.conf >= 0.5) || rec.EstimatedImprovement != tt.improve {
			t.Errorf("%s: score %d reasons %q rec %+v; want score %d, %d reasons, confidence %v, %q",
				tt.name, score, reasons, rec, tt.score, tt.reasons, tt.conf, tt.improve)
		}
	}
}

// harnessExample reproduces the harness's recorded run: 25 agents, 100 issues, 10.6 s,
// loop avg 57.5 / P95 76.8 / P99 84.0 ms, P95 assignment 29.3 ms, read avg 10.1 ms, write avg 27.2 ms.
func harnessExample() ProfileInput {
	ms := func(v float64) time.Duration { return time.Duration(math.Round(v * 1e6)) }
	var loop, assign, read, write []time.Duration
	for i := 0; i < 94; i++ {
		loop = append(loop, ms(56.3))
	}
	for _, v := range []float64{57.0, 76.8, 78, 80, 82, 84.0} {
		loop = append(loop, ms(v))
	}
	for i := 0; i < 100; i++ {
		a := 20.0
		if i >= 95 {
			a = 29.3
		}
		assign = append(assign, ms(a))
		read = append(read, ms(10.1))
		write = append(write, ms(27.2))
	}
	var check []time.Duration
	for i := 0; i < 9; i++ {
		check = append(check, ms(100))
	}
	return ProfileInput{
		Config:   ProfileConfig{TargetAgents: 25, TargetIssues: 100, SampleIntervalMs: 1000},
		Duration: 10600 * time.Millisecond,
		Loop:     loop, Assignment: assign, Read: read, Write: write, Checkpoint: check,
		HeapBytes: []uint64{8 << 20, 9 << 20, 10 << 20, 9 << 20},
		Lag:       []time.Duration{ms(1.2), ms(0.8), ms(2.5)},
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestHarnessExample(t *testing.T) {
	rep := BuildProfile(harnessExample())
	s := rep.Summary
	if !near(s.AvgLoopMs, 57.5) || !near(s.P95LoopMs, 76.8) || !near(s.P99LoopMs, 84.0) ||
		!near(s.P95AssignmentMs, 29.3) || !near(s.AvgBeadsReadMs, 10.1) || !near(s.AvgBeadsWriteMs, 27.2) {
		t.Fatalf("summary %+v does not match the harness figures", s)
	}
	if !near(s.LoopsPerSecond, 100/10.6) || !near(s.BeadsOpsPerSecond, 200/10.6) || !near(s.MemoryGrowthMB, 1) ||
		!near(s.PeakHeapMB, 10) || !near(s.MaxEventLoopLagMs, 2.5) {
		t.Errorf("rates/memory/lag %+v", s)
	}
	if len(rep.Bottlenecks) != 0 {
		t.Errorf("bottlenecks %+v, want none", rep.Bottlenecks)
	}
	rr := rep.RustRecommendation
	if rr.Recommended || !near(rr.Confidence, 0.10) || rr.EstimatedImprovement != "Minimal (<2x)" || len(rr.Reasons) != 1 {
		t.Errorf("recommendation %+v, want score 10 / 0.10 / Minimal", rr)
	}
	if rep.Metrics.Checkpoints != 9 || rep.DurationMs != 10600 {
		t.Errorf("checkpoints %d duration %v", rep.Metrics.Checkpoints, rep.DurationMs)
	}
	// The plan's targets are far stricter than the harness thresholds: the TS figures cross three.
	var crossed []string
	for _, c := range PlanTargets(rep) {
		if c.Crossed {
			crossed = append(crossed, c.Name)
		}
	}
	if want := []string{"scheduler loop P95", "SQLite read avg", "SQLite write avg"}; !slices.Equal(crossed, want) {
		t.Errorf("crossed %v, want %v", crossed, want)
	}
	for _, want := range []string{
		"GASTOWN COORDINATOR PROFILE REPORT",
		"Bottlenecks: none",
		"Verdict: plan threshold crossed: scheduler loop P95, SQLite read avg, SQLite write avg",
		"confidence 10%",
		"Minimal (<2x)",
	} {
		if !strings.Contains(rep.Report, want) {
			t.Errorf("report lacks %q:\n%s", want, rep.Report)
		}
	}
	if !strings.HasPrefix(rep.Report, "GASTOWN COORDINATOR PROFILE REPORT\n") {
		t.Error("report is not headed by the title")
	}
}

func TestPlanTargetsGoodAndRSS(t *testing.T) {
	rep := BuildProfile(ProfileInput{
		Config:    DefaultProfileConfig(),
		Duration:  time.Second,
		Loop:      []time.Duration{20 * time.Microsecond},
		Read:      []time.Duration{5 * time.Microsecond},
		Write:     []time.Duration{60 * time.Microsecond},
		HeapBytes: []uint64{10 << 20},
		RSSBytes:  []uint64{30 << 20, 60 << 20},
	})
	checks := PlanTargets(rep)
	if checks[3].Name != "peak RSS" || checks[3].Value != 60 || !checks[3].Crossed {
		t.Errorf("memory check %+v, want peak RSS 60 crossed", checks[3])
	}
	for _, c := range checks[:3] {
		if c.Crossed {
			t.Errorf("%+v crossed", c)
		}
	}
	rep = BuildProfile(ProfileInput{Duration: time.Second, HeapBytes: []uint64{49 << 20}})
	if !strings.Contains(rep.Report, "Verdict: no plan threshold crossed") {
		t.Errorf("report:\n%s", rep.Report)
	}
}

func TestProfileJSONNames(t *testing.T) {
	b, err := json.Marshal(BuildProfile(ProfileInput{}))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"config", "config.targetAgents", "config.targetIssues", "config.durationMs", "config.sampleIntervalMs", "config.verbose",
		"durationMs", "metrics",
		"metrics.coordinatorLoopMs", "metrics.workerAssignmentMs", "metrics.beadsReadMs", "metrics.beadsWriteMs", "metrics.checkpointMs",
		"metrics.heapUsedMB", "metrics.heapTotalMB", "metrics.externalMB", "metrics.rss", "metrics.eventLoopLagMs",
		"metrics.loopIterations", "metrics.workerAssignments", "metrics.beadsReads", "metrics.beadsWrites", "metrics.checkpoints",
		"summary", "summary.avgLoopMs", "summary.p95LoopMs", "summary.p99LoopMs", "summary.loopsPerSecond",
		"summary.avgAssignmentMs", "summary.p95AssignmentMs", "summary.assignmentsPerSecond",
		"summary.avgBeadsReadMs", "summary.avgBeadsWriteMs", "summary.beadsOpsPerSecond",
		"summary.peakHeapMB", "summary.avgHeapMB", "summary.memoryGrowthMB", "summary.avgEventLoopLagMs", "summary.maxEventLoopLagMs",
		"bottlenecks", "rustRecommendation", "rustRecommendation.recommended", "rustRecommendation.confidence",
		"rustRecommendation.reasons", "rustRecommendation.estimatedImprovement", "report",
		"planTargets", // gtc's addition (commitBatchAvg is omitted when 0)
	}
	slices.Sort(want)
	if got := keys("", v); !slices.Equal(got, want) {
		t.Errorf("keys\n got %v\nwant %v", got, want)
	}
	// Empty series are [] (never null), and a zero duration gives zero rates, not NaN.
	if strings.Contains(string(b), "null") || strings.Contains(string(b), "NaN") {
		t.Errorf("JSON has null/NaN: %s", b)
	}
}

func TestProfileCountsAndDuration(t *testing.T) {
	rep := BuildProfile(ProfileInput{
		Config:         ProfileConfig{DurationMs: 2000},
		Loop:           []time.Duration{time.Millisecond, time.Millisecond},
		LoopIterations: 500, // more than retained samples
	})
	if rep.DurationMs != 2000 || rep.Metrics.LoopIterations != 500 || rep.Summary.LoopsPerSecond != 250 {
		t.Errorf("duration %v iterations %d rate %v", rep.DurationMs, rep.Metrics.LoopIterations, rep.Summary.LoopsPerSecond)
	}
}

func TestProfileInputFromSamples(t *testing.T) {
	m := metrics.New(nil)
	m.ObserveLoop(30 * time.Microsecond)
	m.ObserveAssign(metrics.StagePushToAck, 400*time.Microsecond)
	m.ObserveRead(5 * time.Microsecond)
	m.ObserveWrite(2 * time.Microsecond)
	m.ObserveSync(metrics.DirectionExport, 3*time.Millisecond)
	in := ProfileInputFromSamples(m.Samples(0), DefaultProfileConfig())
	if len(in.Write) != 1 || in.Write[0] != 2*time.Microsecond || in.Writes != 1 {
		t.Errorf("without commits, writes are the statements: %v (%d)", in.Write, in.Writes)
	}
	m.ObserveCommit(80*time.Microsecond, 4)
	in = ProfileInputFromSamples(m.Samples(0), DefaultProfileConfig())
	if len(in.Write) != 1 || in.Write[0] != 80*time.Microsecond {
		t.Errorf("with commits, writes are the commits: %v", in.Write)
	}
	rep := BuildProfile(in)
	if rep.Metrics.LoopIterations != 1 || rep.Metrics.WorkerAssignments != 1 || rep.Metrics.Checkpoints != 1 ||
		!near(rep.Summary.AvgLoopMs, 0.03) || !near(rep.Summary.P95AssignmentMs, 0.4) || rep.Config.TargetAgents != 20 {
		t.Errorf("profile from samples: %+v %+v", rep.Metrics, rep.Summary)
	}
}
