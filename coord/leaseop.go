package coord

import (
	"sync"
	"time"
)

// opKind names a worker's lease operation.
type opKind uint8

const (
	opAck opKind = iota
	opReject
	opComplete
	opFail
)

// leaseOp is a worker's ack, reject, complete or fail (Ack, AckAsync and the others): the request, its
// arguments and its result in one value taken from a pool, where closures and the request cost up to
// five allocations (~330 B) per completion. An asynchronous one goes back to the pool when its outcome
// is handed to the callback (resolve), a waited-for one when its caller has read the outcome (runOp):
// nothing may use it after that.
type leaseOp struct {
	req             request
	kind            opKind
	worker, leaseID string
	epoch           int64
	session         uint64        // a reject's connection (0: the worker's current one)
	text            string        // the reject reason or the failure's error
	result          SessionResult // a completion's session result
	res             Result
	errDone         func(error)         // ack, reject
	resDone         func(Result, error) // complete, fail
	waiting         bool                // a caller waits on wait instead of a callback (runOp)
	wait            chan struct{}       // kept across uses: signalled once the outcome is final
}

var leaseOps = sync.Pool{New: func() any { return new(leaseOp) }}

// newLeaseOp takes an operation from the pool, its request pointing back at it.
func newLeaseOp(kind opKind, worker, leaseID string, epoch int64) *leaseOp {
	o := leaseOps.Get().(*leaseOp)
	o.kind, o.worker, o.leaseID, o.epoch = kind, worker, leaseID, epoch
	o.req.op = o
	return o
}

// release empties o and puts it back in the pool (its wait channel, empty, stays with it).
func (o *leaseOp) release() {
	*o = leaseOp{wait: o.wait}
	leaseOps.Put(o)
}

// apply decides the operation on the core.
func (o *leaseOp) apply(c *core, now time.Time) (err error) {
	switch o.kind {
	case opAck:
		return c.ack(now, o.worker, o.leaseID, o.epoch)
	case opReject:
		return c.reject(now, o.worker, o.session, o.leaseID, o.epoch, o.text)
	case opComplete:
		o.res, err = c.complete(now, o.worker, o.leaseID, o.epoch, o.result)
	default:
		o.res, err = c.fail(now, o.worker, o.leaseID, o.epoch, o.text)
	}
	return err
}

// resolve hands the outcome over: to the waiting caller (runOp reads it from the request), or to the
// callback (the zero Result with an error), putting the operation back in the pool.
func (o *leaseOp) resolve(err error) {
	if o.waiting {
		o.wait <- struct{}{}
		return
	}
	res, errDone, resDone := o.res, o.errDone, o.resDone
	if err != nil {
		res = Result{}
	}
	o.release()
	if resDone != nil {
		resDone(res, err)
		return
	}
	errDone(err)
}
