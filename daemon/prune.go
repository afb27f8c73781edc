package daemon

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
)

// pruneState is what the prunes of this run did, for coord.status.
type pruneState struct {
	mu    sync.Mutex
	last  time.Time    // the last prune that succeeded
	total store.Pruned // rows deleted since the start
	err   string       // the last prune's failure, while it fails
}

// metaLastPrune is the meta key holding when the last prune succeeded (RFC 3339, wall clock).
const metaLastPrune = "prune.last"

// pruneSoonest is how soon after the start an overdue prune runs (a variable for tests).
var pruneSoonest = 10 * time.Second

// pruneLoop deletes gtc.db's history older than Retain every PruneEvery, until ctx ends, the first time
// when the last prune (stored, so restarts do not put it off) is PruneEvery old: at least pruneSoonest
// after the start; a minute after the start when none is on record. A negative Retain keeps everything.
func (d *Daemon) pruneLoop(ctx context.Context) {
	if d.cfg.Retain < 0 {
		d.log.Info("gtc.db keeps all its history (--retain 0)")
		return
	}
	first := d.firstPruneIn(ctx, d.cfg.PruneEvery)
	d.log.Info("gtc.db prunes its history", "older_than", d.cfg.Retain, "first_in", first.Round(time.Second), "then_every", d.cfg.PruneEvery)
	t := time.NewTimer(first)
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

// firstPruneIn is how long after the start the first prune runs: when the last one on record is every
// old (at least pruneSoonest from now), else a minute; never more than every. The record also becomes
// the last prune coord.status reports until this process prunes.
func (d *Daemon) firstPruneIn(ctx context.Context, every time.Duration) time.Duration {
	wait := time.Minute
	if v, ok, err := d.db.Meta(ctx, metaLastPrune); err == nil && ok {
		if last, err := time.Parse(time.RFC3339Nano, v); err == nil {
			wait = max(time.Until(last.Add(every)), pruneSoonest)
			d.pruned.mu.Lock()
			if d.pruned.last.IsZero() {
				d.pruned.last = last
			}
			d.pruned.mu.Unlock()
		}
	}
	return min(wait, every)
}

// prune deletes the history older than Retain by the scheduler's clock, counts it in the metrics and
// logs what it did.
func (d *Daemon) prune(ctx context.Context) (store.Pruned, error) {
	start, now := time.Now(), d.cfg.Clock.Now()
	before := now.Add(-d.cfg.Retain)
	p, err := d.db.Prune(ctx, before, now)
	d.pruned.mu.Lock()
	d.pruned.total.Events += p.Events
	d.pruned.total.Leases += p.Leases
	d.pruned.total.MergeRequests += p.MergeRequests
	if err != nil {
		d.pruned.err = err.Error()
	} else {
		d.pruned.last, d.pruned.err = time.Now(), ""
	}
	d.pruned.mu.Unlock()
	if err == nil {
		mark := []coord.Change{coord.MetaPut{Key: metaLastPrune, Value: time.Now().UTC().Format(time.RFC3339Nano)}}
		if merr := d.db.Commit(ctx, mark); merr != nil && ctx.Err() == nil {
			d.log.Warn("could not record the prune; the next start prunes again soon", "err", merr)
		}
	}
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

// storeInfo describes gtc.db for coord.status: its size on disk and its retention.
func (d *Daemon) storeInfo() *rpc.StoreInfo {
	si := &rpc.StoreInfo{Path: d.cfg.DB}
	if err, since := d.engine.StorageFailing(); err != nil {
		si.Error, si.FailingSince = err.Error(), &since
	}
	if since, ok := d.engine.CommitStalledSince(); ok {
		si.CommitStalledSince = &since
	}
	if fi, err := os.Stat(d.cfg.DB); err == nil {
		si.Bytes = fi.Size()
	}
	if fi, err := os.Stat(d.cfg.DB + "-wal"); err == nil {
		si.WALBytes = fi.Size()
	}
	if d.cfg.Retain <= 0 {
		return si
	}
	si.RetainMS = max(1, d.cfg.Retain.Milliseconds()) // 0 would say kept for good
	d.pruned.mu.Lock()
	defer d.pruned.mu.Unlock()
	if !d.pruned.last.IsZero() {
		t := d.pruned.last
		si.LastPrune = &t
	}
	si.Pruned = &rpc.Pruned{Events: d.pruned.total.Events, Leases: d.pruned.total.Leases, MergeRequests: d.pruned.total.MergeRequests}
	si.PruneError = d.pruned.err
	return si
}
