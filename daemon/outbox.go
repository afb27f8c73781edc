package daemon

import (
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/gastown/gtc/metrics"
	"github.com/gastown/gtc/rpc"
)

// outbox delivers the engine's effects. The engine calls it from its own goroutine, so Push only
// queues: pusher goroutines load the issue body from the store and hand the frame to the transport.
// Each worker's pushes and cancels go through one pusher (chosen by the worker's name), so a cancel
// never overtakes the assign it cancels.
type outbox struct {
	d       *Daemon
	queues  []chan *pushJob // pointers: a 64k-slot buffer of values would pin ~15 MB
	wg      sync.WaitGroup
	pushed  sync.Map // lease id → time the push was handed to the transport (for push→ack latency)
	started bool
}

// pushJob is an assignment to push, or (cancel or drain set) a notification to send.
type pushJob struct {
	worker  string
	session uint64
	a       coord.Assignment
	cancel  *rpc.CancelParams
	drain   *rpc.DrainNotice
}

func newOutbox(d *Daemon, n int) *outbox {
	o := &outbox{d: d, queues: make([]chan *pushJob, n)}
	for i := range o.queues {
		o.queues[i] = make(chan *pushJob, (1<<16)/n)
	}
	return o
}

// queue is the pusher of worker.
func (o *outbox) queue(worker string) chan *pushJob {
	h := fnv.New32a()
	_, _ = h.Write([]byte(worker))
	return o.queues[h.Sum32()%uint32(len(o.queues))]
}

// start launches the pushers; stop closes the queues and waits for them.
func (o *outbox) start() {
	o.started = true
	for _, q := range o.queues {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			for j := range q {
				if j.cancel != nil {
					_ = o.d.server.Cancel(j.worker, j.session, *j.cancel)
					continue
				}
				if j.drain != nil {
					_ = o.d.server.Drain(j.worker, j.session, *j.drain)
					continue
				}
				o.push(j)
			}
		}()
	}
}

func (o *outbox) stop() {
	if o.started {
		for _, q := range o.queues {
			close(q)
		}
		o.wg.Wait()
		o.started = false
	}
}

// Push implements coord.Outbox. The push of an issue just created through the protocol is rendered
// already (freshPushes): it is sent from here, without the hop to a pusher goroutine, since handing a
// frame to the transport never blocks (rpc.Server.Push). Its order against the worker's queued pushes
// does not matter: a cancel always follows the push it cancels, because it is queued after it or, for
// a fresh push, sent after this returns.
func (o *outbox) Push(worker string, session uint64, a coord.Assignment) {
	if o.started {
		if p, ok := o.d.issues.fresh.take(a.Lease.IssueID); ok {
			o.deliver(worker, session, a, pushRender{record: p.record, prompt: p.prompt})
			return
		}
	}
	o.queue(worker) <- &pushJob{worker: worker, session: session, a: a}
}

func (o *outbox) push(j *pushJob) {
	r, err := o.d.issues.renderPush(j.a.Lease.IssueID)
	if err != nil {
		o.d.log.Error("load issue for push; the lease's ack deadline will requeue it", "issue", j.a.Lease.IssueID, "err", err)
		return
	}
	o.deliver(j.worker, j.session, j.a, r)
}

// deliver hands a rendered assignment to the transport.
func (o *outbox) deliver(worker string, session uint64, a coord.Assignment, r pushRender) {
	since := a.Lease.CreatedAt
	if a.ReadySince != 0 {
		since = time.Unix(0, a.ReadySince)
	}
	o.d.metrics.ObserveAssign(metrics.StageReadyToPush, time.Since(since))
	o.pushed.Store(a.Lease.ID, time.Now())
	if err := o.d.server.Push(worker, session, rpc.AssignPayload{Lease: a.Lease, Issue: r.record, Prompt: r.prompt, PromptJSON: r.promptJSON}); err != nil {
		o.pushed.Delete(a.Lease.ID)
		o.d.log.Debug("push not delivered; the lease's ack deadline will requeue it", "worker", worker, "lease", a.Lease.ID, "err", err)
	}
}

// acked records the push→ack latency of a lease.
func (o *outbox) acked(leaseID string) {
	if v, ok := o.pushed.LoadAndDelete(leaseID); ok {
		o.d.metrics.ObserveAssign(metrics.StagePushToAck, time.Since(v.(time.Time)))
	}
}

// rejected forgets a push the worker refused (a reject is not an ack: no latency is recorded).
func (o *outbox) rejected(leaseID string) { o.pushed.Delete(leaseID) }

// sweep drops the push times older than before: a lease that ended while its push was still queued
// (cancelled, expired) left its time behind, and no ack will take it.
func (o *outbox) sweep(before time.Time) {
	o.pushed.Range(func(k, v any) bool {
		if v.(time.Time).Before(before) {
			o.pushed.Delete(k)
		}
		return true
	})
}

// Cancel implements coord.Outbox: queued behind the worker's pushes.
func (o *outbox) Cancel(worker string, session uint64, leaseID string, epoch int64, issueID, reason string) {
	o.pushed.Delete(leaseID)
	o.queue(worker) <- &pushJob{worker: worker, session: session,
		cancel: &rpc.CancelParams{LeaseID: leaseID, Epoch: epoch, IssueID: issueID, Reason: reason}}
}

// Drain implements coord.DrainNotifier: queued behind the worker's pushes.
func (o *outbox) Drain(worker string, session uint64, draining bool, by string) {
	o.queue(worker) <- &pushJob{worker: worker, session: session, drain: &rpc.DrainNotice{Draining: draining, By: by}}
}

// logged reports whether the coordinator's log also records events of kind (a switch: Publish runs for
// every event, three a completion).
func logged(kind string) bool {
	switch kind {
	case "expired", "ack_timeout", "dead_lettered", "cancelled", "reopened", "status_changed", "merge_failed":
		return true
	}
	return false
}

// fromFile reports whether ev records a change an import took from issues.jsonl: the import logs those
// as one line with its counts (a checkout of another branch changes many issues at once).
func fromFile(ev coord.Event) bool {
	return ev.Actor == "issues.jsonl" || ev.Kind == "reopened" && strings.HasPrefix(ev.Detail, "issue changed outside gtc")
}

// Publish implements coord.Outbox.
func (o *outbox) Publish(ev coord.Event) {
	switch ev.Kind {
	case "ack_timeout", "expired", "cancelled":
		o.pushed.Delete(ev.LeaseID) // the lease was taken back: no ack will come for it
		// A worker's own end of the lease (completed, failed, released) keeps the push time: its ack
		// may still be on the way (a quick session's complete can overtake the reply that acks the
		// push), and the assignment counts once it comes; sweep drops it if it never does.
	}
	switch ev.Kind {
	case "expired", "ack_timeout": // both deadlines (gtc_leases_expired_total's help says so)
		o.d.metrics.LeaseExpired()
	case mergeq.EventExpired:
		o.d.metrics.MergeSlotExpired()
	}
	switch {
	case ev.Kind == "requeued", ev.Kind == "ack_timeout", ev.Kind == "released", ev.Kind == "rejected": // back in the queue ("expired" and "failed" are followed by "requeued" unless dead-lettered)
		o.d.metrics.Reassigned()
	case ev.Kind == "cancelled" && ev.Actor != "gtc":
		// an operator's cancel (its session is the actor) puts the issue back in the queue; gtc's own
		// cancels end a lease whose issue was closed or changed outside gtc (observability trial)
		o.d.metrics.Reassigned()
	}
	if logged(ev.Kind) && !fromFile(ev) {
		// what an operator looks for in the log: work taken back from silent workers, work given up on,
		// and the hands that changed issues (the rest is in gtc events / gtc watch)
		o.d.log.Info("event", "kind", ev.Kind, "issue", ev.IssueID, "lease", ev.LeaseID, "worker", ev.Worker,
			"actor", ev.Actor, "detail", ev.Detail, "seq", ev.Seq)
	}
	o.d.server.Publish(ev)
}
