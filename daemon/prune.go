package daemon

import (
	"context"
	"time"

	"github.com/gastown/gtc/store"
)

// pruneLoop deletes gtc.db's history older than Retain: a minute after the start (or PruneEvery, if
// shorter), then every PruneEvery, until ctx ends. A negative Retain keeps everything.
func (d *Daemon) pruneLoop(ctx context.Context) {
	if d.cfg.Retain < 0 {
		return
	}
	t := time.NewTimer(min(time.Minute, d.cfg.PruneEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, _ = d.prune(ctx)
		t.Reset(d.cfg.PruneEvery)
	}
}

// prune deletes the history older than Retain by the scheduler's clock, counts it in the metrics and
// logs what it did.
func (d *Daemon) prune(ctx context.Context) (store.Pruned, error) {
	start, now := time.Now(), d.cfg.Clock.Now()
	before := now.Add(-d.cfg.Retain)
	p, err := d.db.Prune(ctx, before, now)
	d.metrics.Pruned("events", p.Events)
	d.metrics.Pruned("leases", p.Leases)
	d.metrics.Pruned("merge_requests", p.MergeRequests)
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.Warn("pruning the history failed; retrying at the next prune", "err", err, "older_than", before)
	case p.Total() > 0:
		d.log.Info("pruned history", "older_than", before, "events", p.Events, "leases", p.Leases,
			"merge_requests", p.MergeRequests, "took", time.Since(start).Round(time.Millisecond))
	}
	return p, err
}
