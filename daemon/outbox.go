package daemon

import (
	"sync"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/metrics"
	"github.com/gastown/gtc/rpc"
)

// outbox delivers the engine's effects. The engine calls it from its own goroutine, so Push only
// queues: pusher goroutines load the issue body from the store and hand the frame to the transport.
type outbox struct {
	d       *Daemon
	n       int
	pushes  chan *pushJob // pointers: a 64k-slot buffer of values would pin ~15 MB
	wg      sync.WaitGroup
	pushed  sync.Map // lease id → time the push was handed to the transport (for push→ack latency)
	started bool
}

type pushJob struct {
	worker  string
	session uint64
	a       coord.Assignment
}

func newOutbox(d *Daemon, n int) *outbox {
	return &outbox{d: d, n: n, pushes: make(chan *pushJob, 1<<16)}
}

// start launches the pushers; stop closes the queue and waits for them.
func (o *outbox) start() {
	o.started = true
	for i := 0; i < o.n; i++ {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			for j := range o.pushes {
				o.push(j)
			}
		}()
	}
}

func (o *outbox) stop() {
	if o.started {
		close(o.pushes)
		o.wg.Wait()
		o.started = false
	}
}

// Push implements coord.Outbox.
func (o *outbox) Push(worker string, session uint64, a coord.Assignment) {
	o.pushes <- &pushJob{worker, session, a}
}

func (o *outbox) push(j *pushJob) {
	issue, prompt, err := o.d.issues.renderPush(j.a.Lease.IssueID)
	if err != nil {
		o.d.log.Error("load issue for push; the lease's ack deadline will requeue it", "issue", j.a.Lease.IssueID, "err", err)
		return
	}
	o.d.metrics.ObserveAssign(metrics.StageReadyToPush, time.Since(j.a.Lease.CreatedAt))
	o.pushed.Store(j.a.Lease.ID, time.Now())
	if err := o.d.server.Push(j.worker, j.session, rpc.AssignPayload{Lease: j.a.Lease, Issue: issue, Prompt: prompt}); err != nil {
		o.pushed.Delete(j.a.Lease.ID)
		o.d.log.Debug("push not delivered; the lease's ack deadline will requeue it", "worker", j.worker, "lease", j.a.Lease.ID, "err", err)
	}
}

// acked records the push→ack latency of a lease.
func (o *outbox) acked(leaseID string) {
	if v, ok := o.pushed.LoadAndDelete(leaseID); ok {
		o.d.metrics.ObserveAssign(metrics.StagePushToAck, time.Since(v.(time.Time)))
	}
}

// Cancel implements coord.Outbox.
func (o *outbox) Cancel(worker string, session uint64, leaseID string, epoch int64, issueID, reason string) {
	o.pushed.Delete(leaseID)
	_ = o.d.server.Cancel(worker, session, rpc.CancelParams{LeaseID: leaseID, Epoch: epoch, IssueID: issueID, Reason: reason})
}

// Publish implements coord.Outbox.
func (o *outbox) Publish(ev coord.Event) {
	switch ev.Kind {
	case "ack_timeout", "expired", "cancelled", "released", "failed", "completed":
		o.pushed.Delete(ev.LeaseID) // the lease ended: no ack will come for it
	}
	switch ev.Kind {
	case "expired":
		o.d.metrics.LeaseExpired()
	case "requeued":
		o.d.metrics.Reassigned()
	}
	o.d.server.Publish(ev)
}
