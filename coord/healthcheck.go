package coord

import (
	"time"

	"github.com/gastown/gtc/coord/health"
)

// newHealthWindow returns the window of recent session outcomes health is computed over.
func newHealthWindow(cfg Config) *health.Window { return health.NewWindow(cfg.Health) }

// recordOutcome feeds one session outcome (completion, failure, lease expiry) to the health window.
func (c *core) recordOutcome(outcome string) {
	if c.hw != nil {
		// counted once the decision is durable (Engine.finish): a batch whose commit fails is rolled
		// back, and its retry must not count the same outcome twice
		oe := c.arena.outcome()
		*oe = outcomeEffect{at: c.now, outcome: outcome}
		c.effect(oe)
	}
}

// outcomeEffect is a session outcome for the health window, recorded after the commit.
type outcomeEffect struct {
	at      time.Time
	outcome string
}

func (outcomeEffect) isEffect() {}

// healthReport classifies the coordinator at now with the harness rules (package health).
func (c *core) healthReport(now time.Time, storageFailing bool) health.Report {
	c.advance(now)
	var ws []health.Worker
	for _, w := range c.workers {
		missed := w.connected && w.stalled
		if len(w.leases) == 0 && !missed {
			continue
		}
		hw := health.Worker{Name: w.row.Name, Busy: len(w.leases) > 0, LastHeartbeat: w.row.LastSeen, Missed: missed}
		for _, l := range w.leases {
			if l.CreatedAt.After(hw.BusySince) {
				hw.BusySince = l.CreatedAt
			}
		}
		ws = append(ws, hw)
	}
	r := health.Evaluate(c.cfg.Health, c.now, c.hw, ws, storageFailing)
	if r.Stalled == nil {
		r.Stalled = []string{}
	}
	return r
}

// HealthReport classifies the coordinator: unhealthy if storage is failing, the success rate of recent
// sessions is below Health.UnhealthyBelow (0.5) or more than Health.MaxStalledDegraded (2) workers are
// stalled (busy with no heartbeat or progress for Health.StallTimeout, 10m, or past a lease deadline:
// the STALLED state of `gtc workers`); degraded if the rate is
// below Health.DegradedBelow (0.8) or any worker is stalled; healthy otherwise.
func (e *Engine) HealthReport() health.Report {
	failing := e.Health() != nil
	r := health.Classify(e.cfg.Health, health.Input{SuccessRate: 1, StorageFailing: failing})
	e.read(func(c *core) { r = c.healthReport(e.clk.Now(), failing) })
	return r
}
