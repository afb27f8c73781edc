// Package health classifies the coordinator as healthy, degraded or unhealthy from recent session
// outcomes, stalled workers and storage state (the harness's ScaleManager rules, with real
// heartbeats). It is pure: callers pass the current time.
package health

import (
	"fmt"
	"sort"
	"time"
)

// Status is the overall health.
type Status string

// Health statuses, best first.
const (
	Healthy   Status = "healthy"
	Degraded  Status = "degraded"
	Unhealthy Status = "unhealthy"
)

// Config holds the thresholds; the zero value of each field selects the default named in its comment.
type Config struct {
	// UnhealthyBelow: a success rate strictly below it is unhealthy. Default 0.5.
	UnhealthyBelow float64
	// DegradedBelow: a success rate strictly below it is degraded. Default 0.8.
	DegradedBelow float64
	// MaxStalledDegraded: more stalled workers than this is unhealthy; 1..this is degraded. Default 2.
	MaxStalledDegraded int
	// StallTimeout: a busy worker with no heartbeat or progress for longer than this is stalled. Default 10m.
	StallTimeout time.Duration
	// Window: how many recent outcomes the success rate is computed over. Default 100.
	Window int
	// MinSamples: the success-rate rules apply once the window holds this many outcomes; a rate over
	// fewer (a fresh start's first failure is a rate of 0) is not judged. Default 10.
	MinSamples int
	// MaxAge: outcomes older than this drop out of the window, so a fleet that went idle after failures
	// is not degraded for good; negative means no age limit. Default 1h.
	MaxAge time.Duration
}

func (c Config) withDefaults() Config {
	if c.UnhealthyBelow <= 0 {
		c.UnhealthyBelow = 0.5
	}
	if c.DegradedBelow <= 0 {
		c.DegradedBelow = 0.8
	}
	if c.MaxStalledDegraded <= 0 {
		c.MaxStalledDegraded = 2
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 10 * time.Minute
	}
	if c.Window <= 0 {
		c.Window = 100
	}
	if c.MinSamples <= 0 {
		c.MinSamples = 10
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Hour
	}
	return c
}

// Success reports whether a session outcome counts as a success (success or code_complete).
func Success(outcome string) bool { return outcome == "success" || outcome == "code_complete" }

// Window is a sliding window of recent outcomes; not safe for concurrent use.
type Window struct {
	cfg  Config
	ring []sample
	next int
	n    int
}

type sample struct {
	at time.Time
	ok bool
}

// NewWindow returns an empty window sized by cfg.Window and cfg.MaxAge.
func NewWindow(cfg Config) *Window {
	cfg = cfg.withDefaults()
	return &Window{cfg: cfg, ring: make([]sample, cfg.Window)}
}

// Record adds one session outcome observed at at.
func (w *Window) Record(at time.Time, outcome string) {
	w.ring[w.next] = sample{at: at, ok: Success(outcome)}
	w.next = (w.next + 1) % len(w.ring)
	if w.n < len(w.ring) {
		w.n++
	}
}

// Rate returns the success rate over the window at now and how many outcomes it covers; with no
// outcomes the rate is 1.0.
func (w *Window) Rate(now time.Time) (rate float64, samples int) {
	ok := 0
	for i := 0; i < w.n; i++ {
		s := w.ring[(w.next-1-i+len(w.ring))%len(w.ring)]
		if w.cfg.MaxAge > 0 && now.Sub(s.at) > w.cfg.MaxAge {
			continue
		}
		samples++
		if s.ok {
			ok++
		}
	}
	if samples == 0 {
		return 1.0, 0
	}
	return float64(ok) / float64(samples), samples
}

// Worker is what health needs to know about one worker.
type Worker struct {
	Name          string
	Busy          bool      // holds at least one live lease
	BusySince     time.Time // when its current lease started
	LastHeartbeat time.Time // zero if none yet
	LastProgress  time.Time // zero if none yet
	// Missed says the coordinator marked it stalled: a lease of it passed its ack or heartbeat deadline
	// and it has not shown life since (what `gtc workers` shows as STALLED).
	Missed bool
}

// Stalled reports whether w missed a lease deadline (Missed) or is busy with no heartbeat, progress or
// start for longer than timeout.
func Stalled(w Worker, now time.Time, timeout time.Duration) bool {
	if w.Missed {
		return true
	}
	if !w.Busy {
		return false
	}
	last := w.BusySince
	for _, t := range []time.Time{w.LastHeartbeat, w.LastProgress} {
		if t.After(last) {
			last = t
		}
	}
	return now.Sub(last) > timeout
}

// Input is one evaluation's facts.
type Input struct {
	SuccessRate    float64 // 1.0 when Samples is 0
	Samples        int
	Stalled        []string // names of stalled workers
	StorageFailing bool
}

// Report is the evaluated health with the reasons behind it.
type Report struct {
	Status         Status   `json:"status"`
	SuccessRate    float64  `json:"success_rate"`
	Samples        int      `json:"samples"`
	Stalled        []string `json:"stalled,omitempty"`
	StorageFailing bool     `json:"storage_failing,omitempty"`
	Reasons        []string `json:"reasons,omitempty"`
}

// Worse reports whether s is a worse health than t (healthy, then degraded, then unhealthy).
func (s Status) Worse(t Status) bool { return severity(s) > severity(t) }

func severity(s Status) int {
	switch s {
	case Healthy:
		return 0
	case Degraded:
		return 1
	default:
		return 2
	}
}

// workers is "1 worker" or "n workers".
func workers(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

// Classify applies the rules: unhealthy if storage is failing, the success rate is below
// UnhealthyBelow or more than MaxStalledDegraded workers are stalled; degraded if the rate is below
// DegradedBelow or any worker is stalled; otherwise healthy.
func Classify(cfg Config, in Input) Report {
	cfg = cfg.withDefaults()
	rate := in.SuccessRate
	if in.Samples == 0 {
		rate = 1.0
	}
	r := Report{Status: Healthy, SuccessRate: rate, Samples: in.Samples, Stalled: in.Stalled, StorageFailing: in.StorageFailing}
	stalled := len(in.Stalled)
	bad := func(s Status, reason string) {
		if s.Worse(r.Status) {
			r.Status = s
		}
		r.Reasons = append(r.Reasons, reason)
	}
	if in.StorageFailing {
		bad(Unhealthy, "storage failing")
	}
	switch {
	case in.Samples < cfg.MinSamples: // too few outcomes to judge the rate
	case rate < cfg.UnhealthyBelow:
		bad(Unhealthy, fmt.Sprintf("success rate %.2f below %.2f", rate, cfg.UnhealthyBelow))
	case rate < cfg.DegradedBelow:
		bad(Degraded, fmt.Sprintf("success rate %.2f below %.2f", rate, cfg.DegradedBelow))
	}
	switch {
	case stalled > cfg.MaxStalledDegraded:
		bad(Unhealthy, fmt.Sprintf("%s stalled (more than %d)", workers(stalled), cfg.MaxStalledDegraded))
	case stalled > 0:
		bad(Degraded, workers(stalled)+" stalled")
	}
	return r
}

// Evaluate gathers the facts at now (success rate from w, stalled workers) and classifies them.
func Evaluate(cfg Config, now time.Time, w *Window, workers []Worker, storageFailing bool) Report {
	cfg = cfg.withDefaults()
	in := Input{SuccessRate: 1.0, StorageFailing: storageFailing}
	if w != nil {
		in.SuccessRate, in.Samples = w.Rate(now)
	}
	for _, wk := range workers {
		if Stalled(wk, now, cfg.StallTimeout) {
			in.Stalled = append(in.Stalled, wk.Name)
		}
	}
	sort.Strings(in.Stalled)
	return Classify(cfg, in)
}
