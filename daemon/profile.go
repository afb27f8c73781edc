package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/loadtest"
	"github.com/gastown/gtc/metrics"
	"github.com/gastown/gtc/rpc"
)

// withLoopMetric chains the scheduler's per-step observer with metrics.ObserveLoop.
func withLoopMetric(c coord.Config, m *metrics.Metrics) coord.Config {
	prev := c.OnStep
	c.OnStep = func(d time.Duration, batch int) {
		m.ObserveLoop(d)
		if prev != nil {
			prev(d, batch)
		}
	}
	return c
}

// commitBatchName is the Prometheus histogram of operations per group commit.
const commitBatchName = "gtc_sqlite_commit_batch_size"

// commitBatchAvg is the mean group-commit size since the server started (0 before the first commit).
func (d *Daemon) commitBatchAvg() float64 {
	fams, err := d.reg.Gather()
	if err != nil {
		return 0
	}
	for _, f := range fams {
		if f.GetName() != commitBatchName {
			continue
		}
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				return h.GetSampleSum() / float64(h.GetSampleCount())
			}
		}
	}
	return 0
}

// Profile builds the harness-shaped profile report of the last window (≤ 0: since start) from the
// server's sample rings.
func (d *Daemon) Profile(window time.Duration, targetAgents, targetIssues int) loadtest.ProfileReport {
	cfg := loadtest.DefaultProfileConfig()
	cfg.DurationMs = window.Milliseconds()
	if targetAgents > 0 {
		cfg.TargetAgents = targetAgents
	}
	if targetIssues > 0 {
		cfg.TargetIssues = targetIssues
	}
	cfg.SampleIntervalMs = 100 // the daemon's runtime sampler tick
	d.metrics.SampleRSS()      // the resident size now, so a window shorter than a tick has one
	rep := loadtest.BuildProfile(loadtest.ProfileInputFromSamples(d.metrics.Samples(window), cfg))
	rep.CommitBatchAvg = d.commitBatchAvg()
	return rep
}

func (b *backend) CoordProfile(_ context.Context, _ *rpc.Session, p rpc.ProfileParams) (*rpc.ProfileResult, error) {
	window, agents, issues, err := p.Settings()
	if err != nil {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: %v", err)
	}
	if window > math.MaxInt64/int64(time.Millisecond) {
		window = 0 // longer than a Duration holds: since the server started, as any window longer than its life
	}
	rep := b.d.Profile(time.Duration(window)*time.Millisecond, agents, issues)
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("encode profile report: %w", err)
	}
	return &rpc.ProfileResult{RawMessage: raw}, nil
}
