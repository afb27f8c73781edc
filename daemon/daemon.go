package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/metrics"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
	"github.com/gofrs/flock"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
)

// Daemon is one running coordinator for one workspace.
type Daemon struct {
	// beforeFinalExport, when set (tests), runs at shutdown just before the export that follows the
	// scheduler's stop.
	beforeFinalExport func()

	cfg     Config
	log     *slog.Logger
	lock    *flock.Flock
	db      *store.DB
	engine  *coord.Engine
	syncer  *beads.Syncer
	server  *rpc.Server
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	out     *outbox
	issues  *issueService
	token   string
	sync    syncState

	listeners []net.Listener
	httpSrv   *http.Server
	httpLn    net.Listener
	created   []string // files this start created (store, token): removed if it fails before serving
	pruned    pruneState
	// modern is whether bd v1's readiness rules are applied (modernSet: decided once the profile was known)
	modern, modernSet atomic.Bool
}

// Open prepares a coordinator: it takes the workspace lock, opens the store and rebuilds the scheduler
// from it. Nothing is served until Run.
func Open(ctx context.Context, cfg Config) (_ *Daemon, err error) {
	if err := cfg.Merge.Validate(); err != nil {
		return nil, fmt.Errorf("merge queue configuration: %w", err)
	}
	cfg = cfg.withDefaults()
	bd := cfg.BeadsDir()
	if st, serr := os.Stat(bd); serr != nil || !st.IsDir() {
		if serr == nil || errors.Is(serr, fs.ErrNotExist) {
			return nil, fmt.Errorf("no .beads directory in %s: run `gtc init` there, or pass --dir to a workspace", cfg.Dir)
		}
		return nil, fmt.Errorf("open workspace %s: %w", cfg.Dir, serr)
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			d.closeAll()
			d.removeCreated()
		}
	}()
	d.lock = flock.New(filepath.Join(bd, "gtc.lock"))
	ok, lerr := d.lock.TryLock()
	if lerr != nil {
		return nil, fmt.Errorf("lock workspace %s: %w", bd, lerr)
	}
	if !ok {
		return nil, fmt.Errorf("another gtc is serving %s (lock %s is held): stop it first, or use its socket", cfg.Dir, d.lock.Path())
	}
	if err := EnsureGitignore(bd); err != nil {
		d.log.Warn("could not keep gtc's files out of git; add them to .beads/.gitignore yourself", "err", err)
	}

	d.reg = cfg.Registry
	if d.reg == nil {
		d.reg = prometheus.NewRegistry()
		d.metrics = metrics.New(d.reg, metrics.WithRuntimeCollectors(), metrics.WithMethods(rpc.Methods()...))
	} else {
		d.metrics = metrics.New(d.reg, metrics.WithMethods(rpc.Methods()...))
	}

	if _, serr := os.Stat(cfg.DB); errors.Is(serr, fs.ErrNotExist) {
		// the files this start creates, not those already there: a WAL left without its gtc.db holds
		// commits (store.Open refuses it, and the failed start must not delete it: a trial lost it so)
		for _, f := range []string{cfg.DB, cfg.DB + "-wal", cfg.DB + "-shm"} {
			if _, err := os.Lstat(f); errors.Is(err, fs.ErrNotExist) {
				d.created = append(d.created, f)
			}
		}
	}
	d.db, err = store.Open(ctx, cfg.DB, store.Options{Observer: storeObserver{d.metrics}})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", cfg.DB, err)
	}
	if m := d.db.Migrated(); len(m) > 0 && len(d.created) == 0 {
		d.log.Info("gtc.db upgraded to this gtc's schema", "path", cfg.DB, "migrations", strings.Join(m, ", "))
	}
	snap, err := d.db.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state from %s: %w", cfg.DB, err)
	}
	d.out = newOutbox(d, cfg.Pushers)
	ccfg := withLoopMetric(cfg.Coord, d.metrics)
	if ccfg.OnPause == nil {
		ccfg.OnPause = func(p time.Duration) {
			d.metrics.SchedulerPaused(p)
			d.log.Warn("the scheduler did not take requests for a while (the process was stopped or starved, or one step ran that long): lease deadlines moved by it, the workers' silence meanwhile does not count",
				"paused", p.Round(time.Millisecond))
		}
	}
	d.engine, err = coord.NewEngine(ccfg, cfg.Clock, d.db, snap, d.out)
	if err != nil {
		return nil, fmt.Errorf("rebuild scheduler: %w", err)
	}
	d.issues = newIssueService(d)
	d.syncer = beads.NewSyncer(cfg.JSONLPath(), syncBackend{DB: d.db, engine: d.engine, fresh: &d.issues.fresh}, d.log)
	d.syncer.Observe(func(imported bool, took time.Duration) {
		dir := metrics.DirectionExport
		if imported {
			dir = metrics.DirectionImport
		}
		d.metrics.ObserveSync(dir, took)
	})

	if cfg.Listen != "" || cfg.HTTP != "" {
		d.token = cfg.Token
		if d.token == "" {
			if _, serr := os.Stat(cfg.TokenFile); errors.Is(serr, fs.ErrNotExist) {
				d.created = append(d.created, cfg.TokenFile)
			}
			if d.token, err = rpc.LoadOrCreateToken(cfg.TokenFile); err != nil {
				return nil, fmt.Errorf("token: %w", err)
			}
		}
	}
	d.server = rpc.NewServer(&backend{d: d}, rpc.Options{
		Token: d.token, Version: cfg.Version, MaxMessageBytes: cfg.MaxMessageBytes, MaxConns: cfg.MaxConns,
		IdleTimeout: cfg.IdleTimeout, WriteTimeout: cfg.WriteTimeout, AckTimeout: ackTimeout(cfg.Coord),
		Observer: rpcObserver{d.metrics}, Logger: d.log,
	})
	// a subscription before the first event of this run still says where the stored log ends
	last, err := d.db.LastEventSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the audit log of %s: %w", cfg.DB, err)
	}
	d.server.NoteEventSeq(last)
	return d, nil
}

// ackTimeout is how long the transport waits for an assign reply: the scheduler's ack timeout.
func ackTimeout(c coord.Config) time.Duration {
	if c.AckTimeout > 0 {
		return c.AckTimeout
	}
	return 10 * time.Second
}

// Engine returns the scheduler engine (for tests and the profiler).
func (d *Daemon) Engine() *coord.Engine { return d.engine }

// Store returns the SQLite store.
func (d *Daemon) Store() *store.DB { return d.db }

// Metrics returns the metrics the daemon records.
func (d *Daemon) Metrics() *metrics.Metrics { return d.metrics }

// Token returns the TCP/HTTP token ("" when neither is served).
func (d *Daemon) Token() string { return d.token }

// SocketPath returns the Unix socket path ("" when disabled).
func (d *Daemon) SocketPath() string {
	if d.cfg.Socket == "-" {
		return ""
	}
	return d.cfg.Socket
}

// Addrs returns the bound TCP and HTTP addresses (useful with port 0), once Run has started listening.
func (d *Daemon) Addrs() (tcp, httpAddr string) {
	for _, l := range d.listeners {
		if l.Addr().Network() == "tcp" {
			tcp = l.Addr().String()
		}
	}
	if d.httpLn != nil {
		httpAddr = d.httpLn.Addr().String()
	}
	return tcp, httpAddr
}

// Listen binds the configured socket and addresses; Run calls it when it was not called before. If
// one fails, those bound before it are closed (the socket file removed: clients are told there is no
// coordinator instead of being refused by a socket nobody serves).
func (d *Daemon) Listen() (err error) {
	if len(d.listeners) > 0 || d.httpLn != nil {
		return nil
	}
	defer func() {
		if err != nil {
			for _, l := range d.listeners {
				_ = l.Close()
			}
			d.listeners = nil
		}
	}()
	if d.cfg.Socket != "-" {
		l, err := rpc.ListenUnix(d.cfg.Socket)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", d.cfg.Socket, err)
		}
		d.listeners = append(d.listeners, l)
	}
	if d.cfg.Listen != "" {
		l, err := net.Listen("tcp", d.cfg.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", d.cfg.Listen, err)
		}
		d.listeners = append(d.listeners, l)
	}
	if d.cfg.HTTP != "" {
		l, err := net.Listen("tcp", d.cfg.HTTP)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", d.cfg.HTTP, err)
		}
		d.httpLn = l
	}
	return nil
}

// Run imports the JSONL, serves until ctx ends, then shuts down: stop accepting, tell the workers,
// flush and export the JSONL. It returns nil after a clean shutdown.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeAll()
	engCtx, stopEngine := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	engDone := make(chan error, 1)
	wg.Add(1)
	d.out.start() // before the engine, which reads whether the pushers run (outbox.Push)
	if memoryGoverned(d.cfg.MemoryTarget) {
		memCtx, stopMem := context.WithCancel(context.Background())
		memDone := make(chan struct{})
		go func() { defer close(memDone); governMemory(memCtx, d.cfg.MemoryTarget, memoryCheckEvery) }()
		defer func() { stopMem(); <-memDone }()
	}
	defer holdGCFloor(d.cfg.GCFloor)()
	go func() { defer wg.Done(); engDone <- d.engine.Run(engCtx) }()
	defer func() {
		stopEngine()
		wg.Wait()
		d.out.stop()
	}()

	importAt := time.Now()
	_, importErr := d.syncer.Import(ctx)
	if importErr != nil {
		// A file that does not parse is never imported nor rewritten; the server still serves
		// what the store holds, and the sync loop retries every tick.
		d.log.Error("initial import failed; serving the stored state, retrying each sync tick", "err", importErr)
	}
	if ctx.Err() == nil {
		// the first sync is this import: status and the gauges say how it went from the start, not only
		// from the first tick (trial: status showed no sync line for 2 s, nor a file it could not read)
		d.sync.done(time.Now(), importErr)
		d.metrics.SyncDone(importErr)
	}
	d.followProfile(ctx) // before anything is served: the first pushes follow the file's bd
	if err := d.Listen(); err != nil {
		return err
	}
	for _, l := range d.listeners {
		l := l
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.server.Serve(l); err != nil && !errors.Is(err, rpc.ErrServerClosed) {
				d.log.Error("listener stopped", "addr", l.Addr().String(), "err", err)
			}
		}()
		d.log.Info("listening", "network", l.Addr().Network(), "addr", l.Addr().String())
	}
	if d.httpLn != nil {
		// Bounded like the socket listeners: a request must arrive in time, an idle kept-alive connection
		// is closed, and connections over the cap wait to be accepted (they cannot use up descriptors).
		d.httpSrv = &http.Server{Handler: d.httpMux(), ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout: d.cfg.HTTPReadTimeout, IdleTimeout: d.cfg.HTTPIdleTimeout}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.httpSrv.Serve(netutil.LimitListener(d.httpLn, d.cfg.HTTPMaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("http stopped", "err", err)
			}
		}()
		d.log.Info("http listening", "addr", d.httpLn.Addr().String(), "paths", "/rpc /metrics /healthz")
	}

	loopCtx, stopLoops := context.WithCancel(ctx)
	wg.Add(3)
	go func() { defer wg.Done(); d.syncLoop(loopCtx, importAt, importErr) }()
	go func() { defer wg.Done(); d.gaugeLoop(loopCtx) }()
	go func() { defer wg.Done(); d.pruneLoop(loopCtx) }()

	var runErr error
	engineDone := false
	select {
	case <-ctx.Done():
	case runErr = <-engDone:
		engineDone = true
		if runErr != nil {
			runErr = fmt.Errorf("scheduler stopped: %w", runErr)
		}
	}
	stopLoops()
	why := "the scheduler stopped"
	if !engineDone {
		why = context.Cause(ctx).Error()
	}
	d.log.Info("shutting down", "why", why)
	shCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.httpSrv != nil {
		_ = d.httpSrv.Shutdown(shCtx)
	}
	if err := d.server.Shutdown(shCtx, "server shutting down"); err != nil {
		d.log.Warn("rpc shutdown", "err", err)
	}
	// The final export gets its own time: a slow drain of the connections must not starve it. It runs
	// while the scheduler still does, since a file changed outside gtc is imported first (through the
	// scheduler); then the scheduler stops (finishing a commit under way) and a second export writes
	// what its timers decided meanwhile, so no decision follows the last export.
	exCtx, exCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer exCancel()
	if _, err := d.syncer.Export(exCtx); err != nil {
		d.log.Error("final export failed", "err", err)
		if runErr == nil {
			runErr = fmt.Errorf("final export of %s: %w", d.syncer.Path(), err)
		}
	}
	stopEngine()
	if !engineDone {
		if err := <-engDone; err != nil && runErr == nil {
			runErr = fmt.Errorf("scheduler stopped: %w", err)
		}
	}
	if d.beforeFinalExport != nil {
		d.beforeFinalExport()
	}
	if _, err := d.syncer.Export(exCtx); err != nil {
		// e.g. the file changed again in between and would need an import: the records stay marked
		// in SQLite and are exported at the next start
		d.log.Warn("export after the scheduler stopped failed; the next start exports what it missed", "err", err)
	}
	return runErr
}

// syncLoop runs the JSONL sync on its ticker and records its duration. A failing sync (a file that
// does not parse, conflict markers, a full disk) is logged when it starts failing, then at most once
// a minute while it keeps failing, and once when it recovers, the start's import (at importAt, failed
// with importErr) counted as its first.
func (d *Daemon) syncLoop(ctx context.Context, importAt time.Time, importErr error) {
	t := time.NewTimer(d.cfg.SyncInterval)
	defer t.Stop()
	var (
		failingSince time.Time
		logged       = map[string]time.Time{} // the failure reasons logged, when (while failing)
	)
	if importErr != nil { // the start's import failed (and said so): its recovery is logged too
		failingSince = importAt
		logged[importErr.Error()] = importAt
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start, waited, dbWaited := time.Now(), beads.LockWaited(), d.db.LockWaited()
		err := d.syncer.Sync(ctx) // its passes are observed by direction (Syncer.Observe, set in Open)
		d.followProfile(ctx)
		if ctx.Err() == nil {
			d.sync.done(time.Now(), err)
			d.metrics.SyncDone(err)
		}
		// the sync's own work: without its waits for bd's lock and SQLite's (another process holding
		// either must not stretch the tick); a sync during which a commit failed (the lock held past
		// the busy timeout, a full disk) says nothing of its cost: the next comes at the tick
		work := time.Since(start) - (beads.LockWaited() - waited) - (d.db.LockWaited() - dbWaited)
		stalled := d.engine.LastStorageFailure().After(start)
		t.Reset(nextSyncWait(d.cfg.SyncInterval, work, err != nil || stalled))
		switch {
		case err != nil && failingSince.IsZero():
			failingSince = start
			logged[err.Error()] = start
			d.log.Error("jsonl sync failed; the file is left as it is and the sync retries every tick", "err", err)
		case err != nil && start.Sub(logged[err.Error()]) >= time.Minute:
			// each reason once a minute, a new one at once: a transient first failure (the file seen
			// half-written) must not hide the one that stays (the line it cannot parse), and a file
			// flipping between two reasons must not log every tick
			if len(logged) >= 64 {
				clear(logged)
			}
			logged[err.Error()] = start
			d.log.Error("jsonl sync still failing", "since", failingSince.Format(time.RFC3339), "err", err)
		case err == nil && !failingSince.IsZero():
			d.log.Info("jsonl sync recovered", "failed_for", time.Since(failingSince).Round(time.Second).String())
			failingSince = time.Time{}
			clear(logged)
		}
	}
}

// syncDuty bounds the share of time the JSONL sync takes: the wait after a sync is at least
// syncDuty-1 times what it took. A 100,000-issue workspace under a full drain exports in ~0.3 s, so
// its tick stretches from 2 to ~3 s; a small one keeps the configured interval.
const syncDuty = 10

// maxSyncStretch caps the stretched wait (with 10 intervals, if longer): a sync's time includes waiting
// for bd's lock, and that wait must not keep the file stale for minutes.
const maxSyncStretch = 30 * time.Second

// followProfile applies the readiness rules of the bd that writes the workspace's file: bd v1's for a
// modern file, classic bd's otherwise (coord.Config.ModernReady); unknown before the first sync.
func (d *Daemon) followProfile(ctx context.Context) {
	p, ok := d.syncer.Profile()
	if !ok || d.modern.Load() == p.Modern() && d.modernSet.Load() {
		return
	}
	if err := d.engine.SetModernReady(ctx, p.Modern()); err != nil {
		return // stopping: the next sync tries again
	}
	d.modern.Store(p.Modern())
	d.modernSet.Store(true)
	if p.Modern() {
		d.log.Info("the workspace's issues.jsonl is written by bd v1: its readiness rules apply")
	}
}

// nextSyncWait is the wait before the next sync, after one that took took; a failed sync is retried
// after the configured interval.
func nextSyncWait(interval, took time.Duration, failed bool) time.Duration {
	// a commit's lock wait that began before the sync is subtracted from took too: never below nothing
	took = max(took, 0)
	if failed {
		return interval
	}
	stretch := min((syncDuty-1)*took, max(syncDuty*interval, maxSyncStretch))
	return max(interval-took, stretch, 0)
}

// healthLogLoop logs once a second whether the storage's health changed: failures are answered to
// callers as `unavailable`, and a stalled commit makes them wait; the log says so once per change. It
// runs apart from gaugeLoop, whose reads of the engine wait for the commit under way (a stalled commit
// held them up, and the log said nothing during a 25 s fsfreeze).
func (d *Daemon) healthLogLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last string
	for {
		h := ""
		if err := d.engine.Health(); err != nil {
			h = err.Error()
		}
		if h != last {
			if h != "" {
				d.log.Error("storage failing: changes are refused or wait until it recovers", "err", h)
			} else {
				d.log.Info("storage recovered")
			}
			last = h
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gaugeLoop refreshes the state gauges once a second.
func (d *Daemon) gaugeLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	go d.metrics.RunSampler(ctx, 100*time.Millisecond)
	go d.healthLogLoop(ctx)
	for {
		// a push not acked within twice the ack timeout never will be (its lease ended meanwhile)
		d.out.sweep(time.Now().Add(-2 * ackTimeout(d.cfg.Coord)))
		st := d.engine.Status()
		is := st.Issues
		d.metrics.SetIssueCounts(map[string]int{
			"ready": is.Ready, "leased": is.Leased, "closed": is.Closed, "dead_lettered": is.DeadLettered, "blocked": is.Blocked,
			"other": max(0, is.Total-is.Ready-is.Leased-is.Closed-is.DeadLettered-is.Blocked),
		})
		if live, err := d.engine.MergeList(""); err == nil { // live = pending or merging
			d.metrics.SetMergeQueueDepth(len(live))
		}
		counts := func(n coord.WorkerCounts) map[string]int {
			return map[string]int{coord.WorkerIdle: n.Idle, coord.WorkerBusy: n.Busy, coord.WorkerDraining: n.Draining,
				coord.WorkerStalled: n.Stalled, coord.WorkerGone: n.Gone}
		}
		w, r := st.Workers, st.Refineries
		d.metrics.SetWorkerCounts("worker", counts(coord.WorkerCounts{Idle: w.Idle - r.Idle, Busy: w.Busy - r.Busy,
			Draining: w.Draining - r.Draining, Stalled: w.Stalled - r.Stalled, Gone: w.Gone - r.Gone}))
		d.metrics.SetWorkerCounts("refinery", counts(r))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// httpMux serves /rpc (token), /metrics and /healthz.
func (d *Daemon) httpMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rpc", d.server.HTTPHandler())
	// GET (and HEAD) only: any other method gets 405 with an Allow header
	mux.Handle("GET /metrics", metrics.Handler(d.reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := d.engine.Health(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Close releases a daemon that will not Run (its Listen failed): it closes the store cleanly, removes
// the files this start created (a new store, a new token) and unlocks the workspace.
func (d *Daemon) Close() {
	d.closeAll()
	d.removeCreated()
}

// removeCreated removes the files this start created, after a start that failed before serving.
func (d *Daemon) removeCreated() {
	for _, f := range d.created {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("could not remove a file of the failed start", "file", f, "err", err)
		}
	}
	d.created = nil
}

// closeAll releases what Open acquired.
func (d *Daemon) closeAll() {
	for _, l := range d.listeners {
		_ = l.Close()
	}
	if d.httpLn != nil {
		_ = d.httpLn.Close()
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			d.log.Warn("close store", "err", err)
		}
		d.db = nil
	}
	if d.lock != nil {
		_ = d.lock.Unlock()
	}
}
