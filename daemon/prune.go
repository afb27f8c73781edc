package daemon

import (
	"context"
	"os"
	"sync"
	"time"

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

// pruneLoop deletes gtc.db's history older than Retain: a minute after the start (or PruneEvery, if
// shorter), then every PruneEvery, until ctx ends. A negative Retain keeps everything.
func (d *Daemon) pruneLoop(ctx context.Context) {
	if d.cfg.Retain < 0 {
		d.log.Info("gtc.db keeps all its history (--retain 0)")
		return
	}
	first := min(time.Minute, d.cfg.PruneEvery)
	d.log.Info("gtc.db prunes its history", "older_than", d.cfg.Retain, "first_in", first, "then_every", d.cfg.PruneEvery)
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
