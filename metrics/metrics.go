// Package metrics holds gtc's Prometheus instruments and in-process sample rings for the profile report.
//
// Every method is safe on a nil *Metrics, so adapters can run without metrics.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values for the stage, kind and direction labels.
const (
	StageReadyToPush = "ready_to_push" // issue ready (since it last entered the ready queue) → assignment written to the worker
	StagePushToAck   = "push_to_ack"   // assignment written → worker's ack received

	KindRead   = "read"   // SQLite query
	KindWrite  = "write"  // the statements of one group commit, BEGIN up to COMMIT
	KindCommit = "commit" // one whole group commit: its statements and the COMMIT

	DirectionImport = "import" // JSONL → store
	DirectionExport = "export" // store → JSONL

	// OtherLabel replaces label values outside the known set, bounding cardinality.
	OtherLabel = "other"
)

// LatencyBuckets resolves microseconds: 10µs … 10s in 1-2.5-5 steps, in seconds.
var LatencyBuckets = []float64{
	10e-6, 25e-6, 50e-6,
	100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3,
	10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

// WaitBuckets extends LatencyBuckets to an hour, for waits that include time with no free worker.
var WaitBuckets = append(append([]float64(nil), LatencyBuckets...), 30, 60, 120, 300, 600, 1800, 3600)

// BatchBuckets covers commit batch sizes from 1 to 4096 operations.
var BatchBuckets = prometheus.ExponentialBuckets(1, 2, 13)

// IssueStates are the gtc_issues state label values always exported (missing ones read 0); "other"
// counts the rest (retry backoff, deferred, a reject's hold, workflow types), so the states add up to
// the total.
var IssueStates = []string{"ready", "leased", "blocked", "closed", "dead_lettered", "other"}

// WorkerStates are the gtc_workers state label values always exported (missing ones read 0).
var WorkerStates = []string{"idle", "busy", "draining", "stalled", "gone"}

// WorkerRoles are the gtc_workers role label values: agents taking issues, and refineries merging.
var WorkerRoles = []string{"worker", "refinery"}

// PrunedTables are the gtc_store_pruned_rows_total table label values.
var PrunedTables = []string{"events", "leases", "merge_requests"}

// Metrics is the set of gtc instruments plus recent-sample rings; build it with New.
type Metrics struct {
	loop        prometheus.Histogram
	assign      *prometheus.HistogramVec
	rpcDur      *prometheus.HistogramVec
	rpcReqs     *prometheus.CounterVec
	sqlite      *prometheus.HistogramVec
	batch       prometheus.Histogram
	sync        *prometheus.HistogramVec
	workers     *prometheus.GaugeVec
	issues      *prometheus.GaugeVec
	mergeDepth  prometheus.Gauge
	leasesExp   prometheus.Counter
	reassigned  prometheus.Counter
	mergeExp    prometheus.Counter
	paused      prometheus.Counter
	staleEpoch  prometheus.Counter
	syncFails   prometheus.Counter
	syncFailing prometheus.Gauge
	syncOK      prometheus.Gauge
	conns       prometheus.Gauge
	connsTotal  prometheus.Counter
	pruned      *prometheus.CounterVec
	methods     map[string]bool
	assignStage observers
	sqliteKind  observers
	syncDir     observers

	gaugeMu   sync.Mutex
	issueSeen map[string]bool
	rings     *rings
}

// Option configures New.
type Option func(*options)

type options struct {
	runtime  bool
	capacity int
	now      func() time.Time
	methods  []string
}

// WithRuntimeCollectors also registers the Go runtime and process collectors.
func WithRuntimeCollectors() Option { return func(o *options) { o.runtime = true } }

// WithMethods names the RPC methods that get their own method label (the server's method table);
// requests for any other name are counted as "other", bounding cardinality.
func WithMethods(names ...string) Option { return func(o *options) { o.methods = names } }

// WithSampleCapacity sets how many samples each ring keeps per resolution (default 8192; see ring).
func WithSampleCapacity(n int) Option { return func(o *options) { o.capacity = n } }

// WithClock sets the clock used to timestamp samples (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New builds the instruments and registers them on reg (nothing is registered when reg is nil).
// It panics if a name is already registered on reg, like prometheus.MustRegister.
func New(reg prometheus.Registerer, opts ...Option) *Metrics {
	o := options{capacity: 8192, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.capacity < 1 {
		o.capacity = 1
	}
	m := &Metrics{
		loop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gtc_scheduler_loop_seconds", Help: "Duration of one scheduler loop iteration: a batch of requests and due timers applied and dispatched, in memory (the group commit that follows is gtc_sqlite_operation_seconds).",
			Buckets: LatencyBuckets,
		}),
		assign: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gtc_assignment_latency_seconds", Help: "Assignment latency by stage: ready_to_push from the issue entering the ready queue (waiting for a free worker included) to its assignment being written to the worker, push_to_ack from there to the worker's ack.",
			Buckets: WaitBuckets,
		}, []string{"stage"}),
		rpcDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gtc_rpc_duration_seconds", Help: "Duration of handled JSON-RPC requests by method; a claim with wait_ms includes its wait for an issue.",
			Buckets: LatencyBuckets,
		}, []string{"method"}),
		rpcReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gtc_rpc_requests_total", Help: "JSON-RPC requests by method and result code (0 = success).",
		}, []string{"method", "code"}),
		sqlite: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gtc_sqlite_operation_seconds", Help: "SQLite operation duration by kind: read (one query), write (the statements of one group commit, up to its COMMIT), commit (one whole group commit, statements and COMMIT).",
			Buckets: LatencyBuckets,
		}, []string{"kind"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gtc_sqlite_commit_batch_size", Help: "Operations per SQLite group commit.",
			Buckets: BatchBuckets,
		}),
		sync: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gtc_jsonl_sync_seconds", Help: "JSONL sync duration by direction (import, export), for the passes that read or wrote the file (an unchanged file on both sides is not timed).",
			Buckets: LatencyBuckets,
		}, []string{"direction"}),
		workers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gtc_workers", Help: "Worker and refinery sessions by role and state (CLI sessions left out); gone counts every name the coordinator has seen that is not connected now.",
		}, []string{"role", "state"}),
		issues: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gtc_issues", Help: "Issues by scheduler state; other is the rest (retry backoff, deferred, held after a reject, workflow types), so the states add up to every issue.",
		}, []string{"state"}),
		mergeDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gtc_merge_queue_depth", Help: "Live merge requests in the merge queue: pending and merging.",
		}),
		leasesExp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_leases_expired_total", Help: "Leases that expired: an ack or heartbeat deadline missed, or the holder gone past the grace.",
		}),
		mergeExp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_merge_slots_expired_total", Help: "Merge slots taken back from their refinery: its heartbeats stopped past the deadline, or it left and stayed away past the grace (the request goes back to pending, or fails when out of attempts).",
		}),
		paused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_scheduler_paused_seconds_total", Help: "Time the scheduler did not run because its process was stopped or starved (woken 3 s or more late); the lease clocks were held for it.",
		}),
		reassigned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_reassignments_total", Help: "Leases that ended without completion and put their issue back in the queue: failed or expired attempts (not dead-lettered), ack timeouts, releases, rejects, operators' cancels.",
		}),
		staleEpoch: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_stale_epoch_refusals_total", Help: "Requests (heartbeat, complete, fail, release, merge.report, ...) refused because they named a lease epoch that has moved on; an ack arriving after its lease ended is not counted.",
		}),
		syncFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_jsonl_sync_failures_total", Help: "JSONL syncs that failed (the file left as it is: conflict markers, a bad line).",
		}),
		syncFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gtc_jsonl_sync_failing", Help: "1 while the JSONL sync fails (since the last one that succeeded), else 0.",
		}),
		syncOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gtc_jsonl_last_sync_success_timestamp_seconds", Help: "Unix time of the last JSONL sync pass that succeeded (0: none yet).",
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gtc_connections_open", Help: "Open client connections.",
		}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gtc_connections_total", Help: "Client connections accepted since start.",
		}),
		pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gtc_store_pruned_rows_total", Help: "History rows deleted from gtc.db for being older than the retention (--retain), by table: events, leases (ended), merge_requests (finished).",
		}, []string{"table"}),
		methods:   make(map[string]bool, len(o.methods)),
		issueSeen: make(map[string]bool),
		rings:     newRings(o.capacity, o.now),
	}
	for _, name := range o.methods {
		m.methods[name] = true
	}
	m.assignStage = newObservers(m.assign, StageReadyToPush, StagePushToAck)
	m.sqliteKind = newObservers(m.sqlite, KindRead, KindWrite, KindCommit)
	m.syncDir = newObservers(m.sync, DirectionImport, DirectionExport)
	for _, s := range IssueStates {
		m.issues.WithLabelValues(s).Set(0)
		m.issueSeen[s] = true
	}
	for _, tb := range PrunedTables {
		m.pruned.WithLabelValues(tb)
	}
	for _, r := range WorkerRoles {
		for _, s := range WorkerStates {
			m.workers.WithLabelValues(r, s).Set(0)
		}
	}
	if reg != nil {
		reg.MustRegister(m.loop, m.assign, m.rpcDur, m.rpcReqs, m.sqlite, m.batch, m.sync,
			m.workers, m.issues, m.mergeDepth, m.leasesExp, m.mergeExp, m.paused, m.reassigned, m.staleEpoch, m.syncFails, m.syncFailing, m.syncOK, m.conns, m.connsTotal, m.pruned)
		if o.runtime {
			reg.MustRegister(collectors.NewGoCollector(),
				collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		}
	}
	return m
}

// observers pre-resolves one child per known label value; a value outside them is counted as "other",
// whose series appears only once used.
type observers struct {
	vec   *prometheus.HistogramVec
	known map[string]prometheus.Observer
}

func newObservers(v *prometheus.HistogramVec, values ...string) observers {
	o := observers{vec: v, known: make(map[string]prometheus.Observer, len(values))}
	for _, val := range values {
		o.known[val] = v.WithLabelValues(val)
	}
	return o
}

func (o observers) pick(key string) prometheus.Observer {
	if ob, ok := o.known[key]; ok {
		return ob
	}
	return o.vec.WithLabelValues(OtherLabel)
}

// Handler serves g (usually the registry given to New) in the Prometheus exposition format.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// ObserveRPC records one handled request: its duration and a count by method and code (0 = success).
func (m *Metrics) ObserveRPC(method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	if !m.methods[method] {
		method = OtherLabel
	}
	m.rpcDur.WithLabelValues(method).Observe(d.Seconds())
	m.rpcReqs.WithLabelValues(method, strconv.Itoa(code)).Inc()
}

// ObserveLoop records one scheduler loop iteration.
func (m *Metrics) ObserveLoop(d time.Duration) {
	if m == nil {
		return
	}
	m.loop.Observe(d.Seconds())
	m.rings.loop.add(int64(d))
}

// ObserveAssign records assignment latency for a stage (StageReadyToPush or StagePushToAck).
func (m *Metrics) ObserveAssign(stage string, d time.Duration) {
	if m == nil {
		return
	}
	m.assignStage.pick(stage).Observe(d.Seconds())
	if stage == StagePushToAck {
		m.rings.assign.add(int64(d))
	}
}

// ObserveSQLite records one SQLite operation of kind KindRead, KindWrite or KindCommit.
func (m *Metrics) ObserveSQLite(kind string, d time.Duration) {
	if m == nil {
		return
	}
	m.sqliteKind.pick(kind).Observe(d.Seconds())
	switch kind {
	case KindRead:
		m.rings.read.add(int64(d))
	case KindWrite:
		m.rings.write.add(int64(d))
	case KindCommit:
		m.rings.commit.add(int64(d))
	}
}

// ObserveRead records one SQLite read (query).
func (m *Metrics) ObserveRead(d time.Duration) { m.ObserveSQLite(KindRead, d) }

// ObserveWrite records one SQLite write statement.
func (m *Metrics) ObserveWrite(d time.Duration) { m.ObserveSQLite(KindWrite, d) }

// ObserveCommit records one group commit: its duration and how many operations it carried.
func (m *Metrics) ObserveCommit(d time.Duration, batch int) {
	if m == nil {
		return
	}
	m.ObserveSQLite(KindCommit, d)
	m.batch.Observe(float64(batch))
}

// ObserveSync records one JSONL sync pass in a direction (DirectionImport or DirectionExport).
func (m *Metrics) ObserveSync(direction string, d time.Duration) {
	if m == nil {
		return
	}
	m.syncDir.pick(direction).Observe(d.Seconds())
	if direction == DirectionExport {
		m.rings.export.add(int64(d))
	}
}

// SetIssueCounts sets gtc_issues per state; states seen before but absent from counts are set to 0.
func (m *Metrics) SetIssueCounts(counts map[string]int) {
	if m == nil {
		return
	}
	m.setCounts(m.issues, m.issueSeen, counts)
}

// SetWorkerCounts sets gtc_workers of one role (WorkerRoles) per state (WorkerStates); a state absent
// from counts reads 0.
func (m *Metrics) SetWorkerCounts(role string, counts map[string]int) {
	if m == nil {
		return
	}
	for _, s := range WorkerStates {
		m.workers.WithLabelValues(role, s).Set(float64(counts[s]))
	}
}

func (m *Metrics) setCounts(v *prometheus.GaugeVec, seen map[string]bool, counts map[string]int) {
	m.gaugeMu.Lock()
	defer m.gaugeMu.Unlock()
	for s := range seen {
		if _, ok := counts[s]; !ok {
			v.WithLabelValues(s).Set(0)
		}
	}
	for s, n := range counts {
		seen[s] = true
		v.WithLabelValues(s).Set(float64(n))
	}
}

// SetMergeQueueDepth sets gtc_merge_queue_depth.
func (m *Metrics) SetMergeQueueDepth(n int) {
	if m == nil {
		return
	}
	m.mergeDepth.Set(float64(n))
}

// ConnOpened counts an accepted connection.
func (m *Metrics) ConnOpened() {
	if m == nil {
		return
	}
	m.conns.Inc()
	m.connsTotal.Inc()
}

// ConnClosed counts a closed connection.
func (m *Metrics) ConnClosed() {
	if m == nil {
		return
	}
	m.conns.Dec()
}

// LeaseExpired counts an expired lease.
func (m *Metrics) LeaseExpired() {
	if m == nil {
		return
	}
	m.leasesExp.Inc()
}

// SchedulerPaused counts a pause of the scheduler's process (coord.Config.OnPause).
func (m *Metrics) SchedulerPaused(d time.Duration) {
	if m == nil {
		return
	}
	m.paused.Add(d.Seconds())
}

// MergeSlotExpired counts a merge slot taken back from its refinery.
func (m *Metrics) MergeSlotExpired() {
	if m == nil {
		return
	}
	m.mergeExp.Inc()
}

// Reassigned counts a lease that ended without completion and put its issue back in the queue.
func (m *Metrics) Reassigned() {
	if m == nil {
		return
	}
	m.reassigned.Inc()
}

// SyncDone records the outcome of one JSONL sync (gtc_jsonl_sync_failures_total, gtc_jsonl_sync_failing).
func (m *Metrics) SyncDone(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.syncFails.Inc()
		m.syncFailing.Set(1)
		return
	}
	m.syncFailing.Set(0)
	m.syncOK.Set(float64(m.rings.now().UnixNano()) / 1e9)
}

// StaleEpoch counts a request refused for a stale lease epoch.
func (m *Metrics) StaleEpoch() {
	if m == nil {
		return
	}
	m.staleEpoch.Inc()
}

// Pruned counts n history rows of table deleted for being older than the retention.
func (m *Metrics) Pruned(table string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.pruned.WithLabelValues(table).Add(float64(n))
}
