package loadtest

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/gastown/gtc/coord/health"
)

// HealthEvery is how often a run asks the coordinator for its health (coord.health); the harness's
// scenarios check every 10 s, so this is stricter.
var HealthEvery = time.Second

// healthWatch keeps the health the coordinator reported last and worst during a run, and the most of
// the run's own workers (named with prefix; "" counts every worker) it reported stalled at once.
type healthWatch struct {
	mu          sync.Mutex
	prefix      string
	last, worst health.Report
	seen        bool
	mostStalled int
}

func (w *healthWatch) note(r health.Report) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen || r.Status.Worse(w.worst.Status) {
		w.worst = r
	}
	w.last, w.seen = r, true
	n := 0
	for _, name := range r.Stalled {
		if strings.HasPrefix(name, w.prefix) { // under --addr the fleet's own workers are not the run's
			n++
		}
	}
	w.mostStalled = max(w.mostStalled, n)
}

// checkHealth asks the coordinator once; a call that fails (a restart under --addr) is left out.
func (d *driver) checkHealth(ctx context.Context, w *healthWatch) {
	c, err := d.control(ctx)
	if err != nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r, err := c.CoordHealth(hctx); err == nil {
		w.note(*r)
	}
}

// watchHealth asks every HealthEvery until ctx ends.
func (d *driver) watchHealth(ctx context.Context, w *healthWatch) {
	t := time.NewTicker(HealthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.checkHealth(ctx, w)
		}
	}
}

// fill copies the health seen into r: the last report (the run's end), the worst, the most stalled.
func (w *healthWatch) fill(r *Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen {
		return
	}
	r.Health, r.HealthReasons = string(w.last.Status), w.last.Reasons
	r.HealthWorst = string(w.worst.Status)
	if len(w.worst.Reasons) > 0 {
		r.HealthWorst += " (" + strings.Join(w.worst.Reasons, "; ") + ")"
	}
	r.StalledMax = w.mostStalled
}
