package coord

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Outbox delivers effects to worker sessions and event subscribers; every method must not block.
type Outbox interface {
	// Push sends an assignment to a worker's session.
	Push(worker string, session uint64, a Assignment)
	// Cancel tells a worker's session that it lost a lease.
	Cancel(worker string, session uint64, leaseID string, epoch int64, issueID, reason string)
	// Publish sends an audit event to subscribers (Seq is 0: the store numbers events).
	Publish(ev Event)
	// PushMerge hands a merge slot (the request with its epoch) to a refinery's session.
	PushMerge(worker string, session uint64, m MergeRequest)
	// CancelMerge tells a refinery's session that the request it was pushed (m.ID at m.Epoch) was
	// cancelled (reason in m.Error): it should stop merging it.
	CancelMerge(worker string, session uint64, m MergeRequest)
}

// DrainNotifier is an Outbox that can also tell a worker's session that an operator drained it or undid
// the drain (coord.drain), and a worker connecting that a drain is in force.
type DrainNotifier interface {
	Drain(worker string, session uint64, draining bool, by string)
}

// DiscardOutbox is an Outbox that drops everything: an engine run without workers to reach (tools, tests).
type DiscardOutbox struct{}

// Push drops the assignment.
func (DiscardOutbox) Push(string, uint64, Assignment) {}

// Cancel drops the cancel.
func (DiscardOutbox) Cancel(string, uint64, string, int64, string, string) {}

// Publish drops the event.
func (DiscardOutbox) Publish(Event) {}

// PushMerge drops the merge slot.
func (DiscardOutbox) PushMerge(string, uint64, MergeRequest) {}

// CancelMerge drops the merge cancel.
func (DiscardOutbox) CancelMerge(string, uint64, MergeRequest) {}

// Engine runs the scheduler core on one goroutine (Run). Every mutating call returns after its
// decision is committed through the Persister; effects are delivered only after that commit.
// Requests that arrive together are applied as one batch and committed with one Commit (group commit).
// If a Commit fails, the batch's callers get EUnavailable and the core is rebuilt from the last
// durable state, so no undurable decision survives: reloaded from the Persister when it is also a
// Loader (the store: nothing is held twice in memory), else from a fold of every committed change.
// Every call, read-only ones included, is served by Run: start Run before calling.
type Engine struct {
	cfg  Config
	clk  Clock
	p    Persister
	out  Outbox
	reqs chan *request

	stopped chan struct{}
	runOnce sync.Once

	// owned by the Run goroutine
	core      *core
	loader    Loader // rebuilds the durable state after a failed commit; nil: durable is kept instead
	durable   *fold
	stale     error             // a rebuild failed: the core may hold undurable decisions, so requests are refused
	sessions  map[string]uint64 // durable connected workers and their session
	waiters   map[uint64]chan claimReply
	abandoned map[uint64]bool // claims whose caller left while their match was being committed
	kick      bool            // finish changed the core: apply (and commit) again even without input
	retryAt   time.Time       // after a failed commit, timer-driven steps wait until then
	// redispatch: the core was rebuilt; at retryAt it dispatches even if no timer is due and no
	// request comes (the rebuilt core may hold ready work and idle workers, and no timer for them)
	redispatch bool
	// probe: storage is failing (Health); at retryAt a commit must show it works again, so an idle
	// engine commits a storage_check event then (an idle server would otherwise report the failure
	// until something else changed).
	probe bool
	// failing: the last commit failed. While it does, the workers' clocks are held (holdClocks: lease
	// deadlines, reconnect graces): their heartbeats and hello are refused, so the time the storage
	// fails is not counted against them. frozenTo is the time up to which the core's clocks are held;
	// held is how far they have been moved in all, and heldDurable the part of it the durable lease
	// deadlines include (every batch with changes writes the live leases while held is ahead of it:
	// pending.hold).
	failing     bool
	stalled     bool // failing because a commit has run for stallHold (no error yet): held up to now
	stalledLong bool // the commit has run for commitStall: client hellos are refused (read-only sessions)
	// commits counts the commits begun; suspect is the one last seen running for stallHold, at
	// suspectAt: a stall is noted only at a second look, stallConfirm later (see noteStall)
	commits, suspect      uint64
	suspectAt             time.Time
	stalledNow, longStall atomic.Bool // stalled and stalledLong, for readers on other goroutines
	frozenTo              time.Time
	// pulseAt is when the loop wakes at the latest while it has deadlines (armPulse); ranAt is when it
	// last armed its wake-up and wakeBy when it should run again at the latest, by Config.Monotonic
	pulseAt, ranAt, wakeBy time.Time
	wokeAt                 time.Time     // when the loop last woke from its wait, by Config.Monotonic
	paused                 time.Duration // a pause noticed (notePause), to hold the clocks for at the next apply
	held                   time.Duration
	heldDurable            time.Duration
	// releasing: leases handed to claims whose caller left, to give back; applied with the next batch,
	// and again after a failed commit that lost them (the claim's caller is gone: nobody else would)
	releasing []Lease
	// spare: finished batches kept for reuse, their buffers and arena emptied (recycle)
	spare []*pending

	// commitStart is when the commit under way began, as 1 + nanoseconds since base (0: none): a
	// duration from a clock reading, so that a step of the wall clock is not taken for a stall
	commitStart atomic.Int64
	base        time.Time

	mu          sync.Mutex
	health      error
	healthSince time.Time // when health last went from nil to an error
	lastFailure time.Time // when a commit last failed
}

type request struct {
	apply func(c *core, now time.Time) error
	after func() // runs on the loop after a successful commit
	err   error
	done  chan struct{}   // closed when err is final (nil for a request with cb)
	cb    func(err error) // an asynchronous request's outcome, run on the loop
	op    *leaseOp        // instead of apply and cb: a worker's lease operation (leaseop.go)
	look  bool            // a read of the core (Engine.read): answered at once while a commit hangs
	// client: a client's hello (Engine.Connect), refused once a commit has hung for commitStall, as
	// while commits fail, so that the server opens a read-only session instead of waiting for it
	client bool
}

// run applies the request to the core.
func (r *request) run(c *core, now time.Time) error {
	if r.op != nil {
		return r.op.apply(c, now)
	}
	return r.apply(c, now)
}

// resolve hands the request's final outcome to whoever waits for it. The request must not be used
// afterwards (a lease operation goes back to its pool).
func (r *request) resolve() {
	switch {
	case r.op != nil:
		r.op.resolve(r.err)
	case r.cb != nil:
		r.cb(r.err)
	default:
		close(r.done)
	}
}

type claimReply struct {
	a   *Assignment
	err error
}

// NewEngine builds an engine from a snapshot (nil = empty); it does not start it (see Run).
func NewEngine(cfg Config, clk Clock, p Persister, snap *Snapshot, out Outbox) (*Engine, error) {
	if clk == nil || p == nil || out == nil {
		return nil, errors.New("new engine: clock, persister and outbox are required")
	}
	now := clk.Now()
	cfg = cfg.withDefaults(now)
	c := newCore(cfg, snap, now)
	if c.initErr != nil {
		return nil, fmt.Errorf("new engine: %w", c.initErr)
	}
	if _, ok := clk.(RealClock); ok && cfg.Monotonic == nil {
		cfg.Monotonic = time.Now
	}
	e := &Engine{
		cfg: cfg, clk: clk, p: p, out: out, base: now,
		reqs:      make(chan *request, cfg.BatchMax),
		stopped:   make(chan struct{}),
		core:      c,
		sessions:  map[string]uint64{},
		waiters:   map[uint64]chan claimReply{},
		abandoned: map[uint64]bool{},
	}
	if l, ok := p.(Loader); ok {
		e.loader = l
	} else {
		e.durable = newFold(snap)
	}
	return e, nil
}

// Health returns nil, or the last Commit error while storage is failing, or an error saying a commit
// has run for commitStall or longer.
func (e *Engine) Health() error {
	err, _ := e.StorageFailing()
	return err
}

// LastStorageFailure returns when a commit last failed (zero: never).
func (e *Engine) LastStorageFailure() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastFailure
}

// commitStall is how long a commit may run before health reports the storage stalled (a frozen file
// system, a hung disk: no error comes, and every change waits).
const commitStall = 10 * time.Second

// StorageFailing returns the Commit error while storage fails, with when the failure began, or a
// stalled commit's error and start (nil, zero while it works).
func (e *Engine) StorageFailing() (error, time.Time) {
	e.mu.Lock()
	h, since := e.health, e.healthSince
	e.mu.Unlock()
	if h != nil {
		return h, since
	}
	// the scheduler's own verdict (noteStall: a second look at the same commit), not clock arithmetic
	// here: a clock that jumps during a commit of a moment must not turn health unhealthy
	if t := e.commitStart.Load(); t != 0 && e.longStall.Load() {
		start := e.base.Add(time.Duration(t - 1))
		// the same text for the whole stall: the log says it once
		return fmt.Errorf("commit: running since %s (over %s): the storage is stalled (a frozen or hung disk?)",
			start.UTC().Format(time.RFC3339), commitStall), start
	}
	return nil, time.Time{}
}

func (e *Engine) setHealth(err error) {
	e.mu.Lock()
	if err != nil && e.health == nil {
		e.healthSince = time.Now()
	}
	if err != nil {
		e.lastFailure = time.Now()
	}
	e.health = err
	e.mu.Unlock()
}

// Run owns the core until ctx ends (after a failed commit, timers are retried after 1s); it returns nil on a clean stop. Call it once.
//
// Commits are pipelined: while one batch is being committed, the requests that arrive meanwhile are
// applied to the core and gathered into the next batch, which is committed as soon as the first
// commit returns. Nothing of a batch (replies, pushes, events) leaves before that batch is durable,
// and a failed commit fails both the batch in flight and the one applied on top of it.
func (e *Engine) Run(ctx context.Context) error {
	ran := false
	e.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("engine: Run called twice")
	}
	defer close(e.stopped)
	var (
		timerC     <-chan time.Time
		timerAt    time.Time
		wake       wakeTimer
		inflight   *pending // being committed
		next       *pending // applied to the core, waiting for inflight to finish
		commitDone = make(chan error, 1)
	)
	defer wake.stop()
	recv := make([]*request, 0, e.cfg.BatchMax)
	for {
		t, ok := e.core.nextDeadline()
		if e.stale != nil {
			t, ok = e.retryAt, true // the next try to rebuild from the store
		} else if (e.redispatch || e.probe) && (!ok || e.retryAt.Before(t)) {
			t, ok = e.retryAt, true // a core rebuilt after a failed commit hands out its work, timer due or not
		}
		if at, stalls := e.stallAt(); stalls && (!ok || at.Before(t) || e.suspecting()) {
			// the commit under way counts as stalled then: holds begin, reads are answered; while a stall
			// is suspected the core's timers wait for the confirming look (no wake-up for a past deadline)
			t, ok = at, true
		}
		if ok {
			now := e.clk.Now()
			t = e.armPulse(t, now)
			if timerC == nil || !t.Equal(timerAt) {
				timerAt, timerC = t, wake.after(e.clk, t.Sub(now))
			}
		} else {
			timerC = nil
			e.wakeBy, e.wokeAt = time.Time{}, time.Time{} // an idle wait, as long as it takes: no pause
		}
		recv = recv[:0]
		ticked := false
		select {
		case <-ctx.Done():
			if inflight != nil && e.finish(inflight, <-commitDone, next) {
				next = nil
			}
			if next != nil {
				e.fail(next, Errorf(EUnavailable, "coordinator shutting down"))
			}
			e.failWaiters(Errorf(EUnavailable, "coordinator shutting down"))
			return nil
		case err := <-commitDone:
			e.commitStart.Store(0)
			failed := e.finish(inflight, err, next)
			inflight = nil
			if failed {
				next = nil
			}
		case r := <-e.reqs:
			recv = append(recv, r)
		drain:
			for len(recv) < e.cfg.BatchMax {
				select {
				case r := <-e.reqs:
					recv = append(recv, r)
				default:
					break drain
				}
			}
		case <-timerC:
			timerC = nil
			ticked = true
		}
		e.notePause()
		if len(recv) > 0 || ticked || e.kick {
			e.kick = false
			stalled, long := e.stalled, e.stalledLong
			next = e.apply(next, recv)
			if e.stalled && !stalled || e.stalledLong && !long {
				// the commit under way has just been found stalled: the requests already waiting that
				// need not wait for it are answered, in its own batch and in the next one
				for _, p := range [...]*pending{inflight, next} {
					if p != nil {
						p.batch = e.answerOnStall(p.batch)
					}
				}
			}
		}
		if inflight == nil && next != nil {
			if len(next.changes) == 0 {
				e.finish(next, nil, nil)
			} else {
				inflight = next
				e.commits++
				e.commitStart.Store(1 + int64(e.clk.Now().Sub(e.base)))
				// A commit under way is finished even when ctx ends: its outcome decides the replies.
				if ap, ok := e.p.(AsyncPersister); ok {
					ap.CommitAsync(context.WithoutCancel(ctx), inflight.changes, commitDone)
				} else {
					go func(changes []Change) { commitDone <- e.p.Commit(context.WithoutCancel(ctx), changes) }(inflight.changes)
				}
			}
			next = nil
		}
	}
}

// wakeTimer is the engine's wake-up for its next deadline. With the real clock it is one timer, reset
// for each new deadline: time.After allocated a timer and its channel whenever the deadline moved (a
// timer reset since Go 1.23 never delivers a value of its earlier setting). Other clocks are asked.
type wakeTimer struct{ t *time.Timer }

// after returns a channel that receives once d has passed; an earlier channel of w may not receive.
func (w *wakeTimer) after(clk Clock, d time.Duration) <-chan time.Time {
	if _, ok := clk.(RealClock); !ok {
		return clk.After(d)
	}
	if w.t == nil {
		w.t = time.NewTimer(d)
	} else {
		w.t.Reset(d)
	}
	return w.t.C
}

// stop stops the timer, if any.
func (w *wakeTimer) stop() {
	if w.t != nil {
		w.t.Stop()
	}
}

// pending is a batch applied to the core whose changes are not committed yet.
type pending struct {
	batch    []*request
	changes  []Change
	effects  []outEffect
	releases []Lease       // abandoned claims' leases given back in this batch (see Engine.releasing)
	start    time.Time     // when its first request was applied (for OnStep)
	hold     bool          // it writes the live leases with their deadlines held by heldAt (Engine.held)
	heldAt   time.Duration // Engine.held when it was applied
	arena    *batchArena   // the values changes and effects point to
}

// probeOnly says the batch's only change is the storage check an idle engine commits after a failure.
func (p *pending) probeOnly() bool {
	if len(p.changes) != 1 || len(p.releases) > 0 {
		return false
	}
	ev, ok := eventOf(p.changes[0])
	return ok && ev.Kind == storageCheck
}

// eventOf returns the audit event of an EventAppend change (the core's are pointers, its
// sub-components' values).
func eventOf(ch Change) (*Event, bool) {
	switch x := ch.(type) {
	case *EventAppend:
		return &x.Event, true
	case EventAppend:
		return &x.Event, true
	}
	return nil, false
}

// maxSpare is the number of finished batches the engine keeps for reuse: one being committed, one
// applied meanwhile, one spare.
const maxSpare = 3

// newPending returns an empty batch, reusing a finished one's buffers when there is one.
func (e *Engine) newPending(start time.Time) *pending {
	if n := len(e.spare); n > 0 {
		// the oldest first: every spare is used and reset in turn, so each one's arena shrinks again
		// after a burst (taking the newest left the others holding the burst's chunks)
		p := e.spare[0]
		copy(e.spare, e.spare[1:])
		e.spare[n-1] = nil
		e.spare = e.spare[:n-1]
		p.start = start
		return p
	}
	return &pending{start: start, arena: new(batchArena)}
}

// recycle empties a batch whose commit succeeded and whose replies and effects were delivered, and
// keeps it for reuse. The Persister no longer holds its changes (Commit returned, or CommitAsync sent
// the outcome), so the values they point to can be reused.
func (e *Engine) recycle(p *pending) {
	if len(e.spare) >= maxSpare || cap(p.changes) > maxRecycledChanges {
		return
	}
	clear(p.batch)
	clear(p.changes)
	clear(p.effects)
	clear(p.releases)
	p.batch, p.changes, p.effects, p.releases = p.batch[:0], p.changes[:0], p.effects[:0], p.releases[:0]
	p.hold, p.heldAt = false, 0
	p.arena.reset()
	e.spare = append(e.spare, p)
}

// maxRecycledChanges bounds the change buffer of a batch kept for reuse (an import of many issues is
// not kept).
const maxRecycledChanges = 1 << 14

// storageCheck is the kind of the audit event an idle engine commits to check the storage.
const storageCheck = "storage_check"

// apply runs requests (and the timers due) against the core and adds the outcome to p (nil: a new batch).
func (e *Engine) apply(p *pending, batch []*request) *pending {
	start := time.Now()
	now := e.clk.Now()
	if e.stale != nil && !now.Before(e.retryAt) {
		e.rebuild(now)
	}
	if e.stale != nil {
		uerr := &Error{Code: EUnavailable, Message: storageFailedMsg, Err: e.stale}
		for _, r := range batch {
			r.err = uerr
			r.resolve()
		}
		return p
	}
	if p == nil {
		p = e.newPending(start)
	}
	c := e.core
	// the core appends to the batch's buffers and takes its values from the batch's arena
	c.changes, c.effects, c.arena = p.changes, p.effects, p.arena
	if d := e.paused; d > 0 {
		// before the timers: the deadlines that passed while the process was stopped move first
		e.paused = 0
		c.holdClocks(d)
		e.held += d
		if e.failing {
			e.frozenTo = e.frozenTo.Add(d) // the failure's hold does not count the pause again
		}
		if t := e.commitStart.Load(); t != 0 {
			// nor does a stall of the commit under way: the pause is not the storage's time
			e.commitStart.Store(min(t+int64(d), 1+int64(now.Sub(e.base))))
		}
	}
	e.noteStall(now)
	e.holdClocks(now)
	e.redispatch = false // the dispatch below is the one a rebuild asked for
	if !e.suspecting() {
		// a deadline due while a stall is suspected waits for the look that confirms it (the hold then
		// moves it first) or dismisses it: the hold covers that time once confirmed
		c.tick(now)
	}
	for _, r := range batch {
		if r.client && e.stalledLong {
			r.err = stallRefusal()
			r.resolve()
			continue
		}
		r.err = r.run(c, now)
		if r.look && e.stalled {
			r.resolve() // see Engine.read
			continue
		}
		p.batch = append(p.batch, r)
	}
	for _, l := range e.releasing {
		_, _ = c.release(now, l.Worker, l.ID, l.Epoch, "claim abandoned") // refused when it has ended since
	}
	p.releases = append(p.releases, e.releasing...)
	e.releasing = nil
	c.dispatch(now)
	c.dispatchMerges(now)
	if e.held > e.heldDurable && len(c.changes) > 0 && !p.hold {
		// whatever this batch writes carries the held deadlines: all of them go with it, so that the
		// durable state includes exactly the hold of the last such batch committed (a storage check
		// alone stays one: it is added below, to a batch with no other change)
		for _, l := range c.leases {
			c.emitLease(l)
		}
		if c.mq != nil {
			for _, r := range c.mq.List("") {
				if r.State == "merging" && r.Deadline != nil {
					c.emit(MergePut{Request: r})
				}
			}
		}
		p.hold, p.heldAt = true, e.held
	}
	if e.probe && !now.Before(e.retryAt) {
		e.probe = false // this batch's commit tells: a failure sets it again (rollback)
		// c.changes holds the whole batch so far, the applies before this one included
		if len(c.changes) == 0 {
			c.event(storageCheck, "", "", "", "commit after a storage failure")
		}
	}
	p.changes, p.effects = c.take()
	c.reuseEnded()
	if e.cfg.OnStep != nil {
		e.cfg.OnStep(time.Since(start), len(batch))
	}
	return p
}

// fail answers every request of p with err.
func (e *Engine) fail(p *pending, err error) {
	for _, r := range p.batch {
		r.err = err
		r.resolve()
	}
}

// finish completes a batch after its commit: on success it records the changes as durable, delivers
// the effects, then replies (the afters run first: they prepare what the pushes send); on failure it
// fails p and next (applied on top of p) and rebuilds the core from the durable state. It reports
// whether the commit failed.
//
// Pushes go before replies because both are written on this goroutine: a new issue's push waited for
// its create's reply to be encoded and written. The protocol lets a push overtake the reply of the
// request that caused it (an assign may precede hello's reply, or a complete's reply).
func (e *Engine) finish(p *pending, err error, next *pending) bool {
	if err != nil && p.probeOnly() {
		// Only the storage check failed: the core decided nothing that was lost, so it needs no
		// rebuild (a full reload every second of an outage); the check is tried again a second later.
		e.setHealth(fmt.Errorf("commit: %w", err))
		e.retryAt, e.probe = e.clk.Now().Add(time.Second), true
		e.storageFailed(e.clk.Now())
		p.changes, err = nil, nil // the event was not written: not recorded, not published
	}
	if err != nil {
		e.rollback(e.clk.Now(), err)
		// the gives-back of abandoned claims went with the lost batches: they are applied again
		e.releasing = append(e.releasing, p.releases...)
		if next != nil {
			e.releasing = append(e.releasing, next.releases...)
		}
		uerr := &Error{Code: EUnavailable, Message: storageFailedMsg, Err: err}
		e.fail(p, uerr)
		if next != nil {
			e.fail(next, uerr)
		}
		return true
	}
	if len(p.changes) > 0 {
		if e.durable != nil {
			e.durable.apply(p.changes)
		}
		e.setHealth(nil)
		e.probe = false // this commit showed the storage works
		e.failing, e.stalled, e.stalledLong = false, false, false
		e.stalledNow.Store(false)
		e.longStall.Store(false)
		if p.hold && p.heldAt > e.heldDurable {
			e.heldDurable = p.heldAt
		}
	}
	for _, r := range p.batch {
		if r.err == nil && r.after != nil {
			r.after()
		}
	}
	for _, ef := range p.effects {
		switch x := ef.(type) {
		case *pushEffect:
			e.out.Push(x.Worker, x.Session, x.A)
		case *outcomeEffect:
			if e.core.hw != nil {
				e.core.hw.Record(x.at, x.outcome)
			}
		case pushEffect:
			e.out.Push(x.Worker, x.Session, x.A)
		case cancelNote:
			e.out.Cancel(x.Worker, x.Session, x.LeaseID, x.Epoch, x.IssueID, x.Reason)
		case drainNote:
			if dn, ok := e.out.(DrainNotifier); ok {
				dn.Drain(x.Worker, x.Session, x.Draining, x.By)
			}
		case mergePush:
			e.out.PushMerge(x.Worker, x.Session, x.Req)
		case mergeCancelNote:
			e.out.CancelMerge(x.Worker, x.Session, x.Req)
		case outcomeEffect:
			if e.core.hw != nil {
				e.core.hw.Record(x.at, x.outcome)
			}
		case claimEffect:
			if ch := e.waiters[x.waiter]; ch != nil {
				delete(e.waiters, x.waiter)
				if e.abandoned[x.waiter] {
					delete(e.abandoned, x.waiter)
					if x.a != nil { // nobody waits for it any more: give it back (with the next batch)
						e.releasing = append(e.releasing, x.a.Lease)
						e.kick = true
					}
					continue
				}
				ch <- claimReply{a: x.a}
			}
		}
	}
	for _, r := range p.batch {
		r.resolve()
	}
	for _, ch := range p.changes {
		if ev, ok := eventOf(ch); ok {
			e.out.Publish(*ev)
		}
	}
	e.recycle(p)
	return false
}

// rollback drops every undurable decision: the core is rebuilt from the durable state and the
// still-open sessions are re-attached; parked claims are answered with EUnavailable.
func (e *Engine) rollback(now time.Time, err error) {
	e.setHealth(fmt.Errorf("commit: %w", err))
	e.retryAt, e.probe = now.Add(time.Second), true
	e.storageFailed(now)
	clear(e.abandoned)
	e.failWaiters(&Error{Code: EUnavailable, Message: storageFailedMsg, Err: err})
	e.rebuild(now)
}

// storageFailed notes a failed commit at now: the workers' clocks are held from then on.
func (e *Engine) storageFailed(now time.Time) {
	if !e.failing {
		e.failing, e.frozenTo = true, now
	}
	e.stalled, e.stalledLong = false, false
	e.stalledNow.Store(false)
	e.longStall.Store(false)
}

// While the engine has deadlines it wakes at least every pulseEvery; woken pauseMin or more later than
// that (by Config.Monotonic), the process was stopped or starved meanwhile, and the workers' heartbeats
// waited unread in their sockets: the lease clocks are held for the time since the engine last ran.
// Before, a coordinator stopped for longer than the heartbeat timeout (SIGSTOP for 22 s, a trial)
// expired every live lease when it went on, each as a failed attempt.
const (
	pulseEvery = time.Second
	pauseMin   = 3 * time.Second
)

// armPulse returns when the loop, with deadlines, wakes next: at t, or sooner to pulse (pulseEvery at the
// latest, with Config.Monotonic), never before retryAt (after a failed commit timer-driven steps wait until
// then). With Config.Monotonic it notes by when the loop should have run again (wakeBy) and when it was
// armed (ranAt); the step just done counts as a pause too when it took pauseMin or more (the process
// stopped while the loop worked, not while it waited: nothing was read meanwhile either).
func (e *Engine) armPulse(t, now time.Time) time.Time {
	if e.cfg.Monotonic != nil {
		if !now.Before(e.pulseAt) {
			e.pulseAt = now.Add(pulseEvery)
		}
		if e.pulseAt.Before(t) {
			t = e.pulseAt
		}
	}
	if t.Before(e.retryAt) {
		t = e.retryAt
	}
	if e.cfg.Monotonic == nil {
		return t
	}
	e.ranAt = e.cfg.Monotonic()
	if !e.wokeAt.IsZero() {
		if d := e.ranAt.Sub(e.wokeAt); d >= pauseMin {
			e.addPause(d)
		}
		e.wokeAt = time.Time{}
	}
	e.wakeBy = e.ranAt.Add(max(t.Sub(now), 0))
	return t
}

// notePause notes, at each wake-up of the loop, whether it woke pauseMin or more later than it was due
// to (see pulseEvery): the time since it last ran is then added to paused, which the next apply holds
// the lease clocks for.
func (e *Engine) notePause() {
	if e.cfg.Monotonic == nil || e.wakeBy.IsZero() {
		return
	}
	mono := e.cfg.Monotonic()
	late, d := mono.Sub(e.wakeBy), mono.Sub(e.ranAt)
	e.wakeBy, e.wokeAt = time.Time{}, mono // the step from here is measured by the next armPulse
	if late >= pauseMin {
		e.addPause(d)
	}
}

// addPause adds d to the pause the next apply holds the clocks for, and says so (Config.OnPause).
func (e *Engine) addPause(d time.Duration) {
	e.paused += d
	if e.cfg.OnPause != nil {
		e.cfg.OnPause(d)
	}
}

// stallHold is how long a commit may run before the workers' clocks are held as for a failure: a hung
// commit (a frozen file system) holds up their heartbeats and reconnects the same way.
const stallHold = 2 * time.Second

// noteStall notes how long the commit under way has run: from stallHold on the clocks are held as
// for a failure (after a failed commit too: a dying disk fails, then hangs) and reads are answered at
// once; from commitStall on client hellos are refused. A stall is noted at the second look at the
// same commit, stallConfirm after the first that found it running for stallHold: a clock that jumps
// (a test's fake one, moved hours at once while a commit of a millisecond runs) must not make a stall
// of it.
func (e *Engine) noteStall(now time.Time) {
	t := e.commitStart.Load()
	if t == 0 {
		return
	}
	start := e.base.Add(time.Duration(t - 1))
	if now.Sub(start) < stallHold {
		return
	}
	if !e.stalled {
		if e.suspect != e.commits {
			e.suspect, e.suspectAt = e.commits, now
			return
		}
		if now.Sub(e.suspectAt) < stallConfirm {
			return
		}
		if !e.failing {
			e.frozenTo = start.Add(stallHold)
		}
		e.failing, e.stalled = true, true
		e.stalledNow.Store(true)
	}
	if now.Sub(start) >= commitStall && !e.stalledLong {
		e.stalledLong = true
		e.longStall.Store(true)
	}
}

// suspecting says a stall of the commit under way is suspected, not yet confirmed or dismissed.
func (e *Engine) suspecting() bool {
	return e.commitStart.Load() != 0 && !e.stalled && e.suspect == e.commits
}

// stallConfirm is how long after a first look a commit must still run to count as stalled.
const stallConfirm = 100 * time.Millisecond

// stallRefusal is the error a client's hello gets once a commit has hung for commitStall.
func stallRefusal() error {
	return &Error{Code: EUnavailable, Message: storageFailedMsg, Err: fmt.Errorf("a commit has run for over %v", commitStall)}
}

// CommitStalledSince returns when the commit under way began if it has run for 2 s or more (changes
// wait for it, lease clocks are held, reads do not wait; from 10 s on client sessions are read-only and
// Health is unhealthy).
func (e *Engine) CommitStalledSince() (time.Time, bool) {
	t := e.commitStart.Load()
	if t == 0 || !e.stalledNow.Load() {
		return time.Time{}, false
	}
	return e.base.Add(time.Duration(t - 1)), true
}

// stallAt is when the commit under way next crosses a threshold of noteStall, if one runs.
func (e *Engine) stallAt() (time.Time, bool) {
	t := e.commitStart.Load()
	if t == 0 {
		return time.Time{}, false
	}
	start := e.base.Add(time.Duration(t - 1))
	switch {
	case !e.stalled && e.suspect == e.commits:
		return e.suspectAt.Add(stallConfirm), true
	case !e.stalled:
		return start.Add(stallHold), true
	case !e.stalledLong:
		return start.Add(commitStall), true
	}
	return time.Time{}, false
}

// answerOnStall answers the requests of batch that do not wait for a hung commit and returns the
// others: reads (they have run; see Engine.read) once it has run for stallHold, client hellos (refused;
// the session they registered ends when its connection does) once it has run for commitStall.
func (e *Engine) answerOnStall(batch []*request) []*request {
	rest := batch[:0]
	for _, r := range batch {
		switch {
		case r.look && e.stalled:
		case r.client && e.stalledLong:
			r.err = stallRefusal()
		default:
			rest = append(rest, r)
			continue
		}
		r.resolve()
	}
	clear(batch[len(rest):])
	return rest
}

// holdClocks keeps a storage failure from counting against the workers (see Engine.failing). While
// the storage fails, the core's clocks are moved forward by the time since frozenTo, up to retryAt
// after a failure (the storage is known to fail until then: a later commit tests it again), up to now
// while a commit hangs (stalled). The moved lease deadlines
// are written by apply (pending.hold), so a later rollback does not lose them.
func (e *Engine) holdClocks(now time.Time) {
	if !e.failing {
		return
	}
	until := now
	if !e.stalled && e.retryAt.Before(until) {
		until = e.retryAt
	}
	if d := until.Sub(e.frozenTo); d > 0 {
		e.core.holdClocks(d)
		e.held += d
		e.frozenTo = until
	}
}

// rebuild replaces the core with one built from the durable state; if that state cannot be read,
// the engine stays stale (every request refused) and tries again after retryAt.
func (e *Engine) rebuild(now time.Time) {
	snap := (*Snapshot)(nil)
	if e.durable != nil {
		snap = e.durable.snapshot()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := e.loader.Load(ctx)
		cancel()
		if err != nil {
			e.stale = fmt.Errorf("reload after a failed commit: %w", err)
			e.setHealth(e.stale)
			e.retryAt = now.Add(time.Second)
			return
		}
		snap = s
	}
	e.stale = nil
	hw, nextWaiter := e.core.hw, e.core.nextWaiter
	old := e.core
	e.core = newCore(e.cfg, snap, now)
	// The server stayed up: a disconnected worker's grace keeps the start it had (the store does not
	// hold it, and a rebuild would restart it at every failed commit, keeping a dead worker's leases).
	for name, w := range e.core.workers {
		ow := old.workers[name]
		if ow != nil && ow.row.LastSeen.After(w.row.LastSeen) {
			// last seen is written only with a state change: a worker heartbeating a lease for minutes
			// would look stalled to the health check after every rebuild
			w.row.LastSeen = ow.row.LastSeen
		}
		if ow != nil && !ow.connected && !ow.disconnectedAt.IsZero() && ow.disconnectedAt.Before(now) {
			if _, open := e.sessions[name]; !open {
				w.disconnectedAt = ow.disconnectedAt
				e.core.addTimer(ow.disconnectedAt.Add(e.cfg.Grace), timerGrace, name)
			}
		}
	}
	// the durable lease deadlines lack the part of the hold not written yet; a disconnected worker's
	// grace kept above (disconnectedAt) has all of it already
	e.core.holdLeases(e.held - e.heldDurable)
	e.core.hw, e.core.nextWaiter = hw, nextWaiter // waiter ids are never reused
	e.core.setAbsent(now, old.absentIDs())        // found by the last import, not in the store
	e.core.needMerge = true
	for name, s := range e.sessions {
		e.core.reattach(name, s, old.workers[name])
	}
	e.core.needDispatch = true
	e.redispatch = true
}

func (e *Engine) failWaiters(err error) {
	for id, ch := range e.waiters {
		ch <- claimReply{err: err}
		delete(e.waiters, id)
	}
}

// do submits a request and waits for its durable outcome. When it gives up waiting (ctx, stop) the
// engine may still run apply later: callers read what apply writes only after do returned nil.
func (e *Engine) do(ctx context.Context, apply func(c *core, now time.Time) error, after func()) error {
	return e.send(ctx, &request{apply: apply, after: after, done: make(chan struct{})})
}

// send hands r to the loop and waits for its outcome.
func (e *Engine) send(ctx context.Context, r *request) error {
	select {
	case e.reqs <- r:
	case <-ctx.Done():
		return &Error{Code: EUnavailable, Message: "request not sent", Err: ctx.Err()}
	case <-e.stopped:
		return Errorf(EUnavailable, "coordinator stopped")
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return &Error{Code: EUnavailable, Message: "gave up waiting for the decision", Err: ctx.Err()}
	case <-e.stopped:
		select {
		case <-r.done:
			return r.err
		default:
			return Errorf(EUnavailable, "coordinator stopped")
		}
	}
}

// Stopped is closed once Run has returned; a request the engine has not decided by then never will be.
func (e *Engine) Stopped() <-chan struct{} { return e.stopped }

// doAsyncThen submits a request and returns once the engine has it; after (see PutIssuesThen) runs
// once the request is durable, then cb gets the durable outcome, both on the engine's goroutine, so they
// must be quick and must not call the engine. It saves a goroutine blocked per request. cb is not run
// when the engine stops before deciding.
func (e *Engine) doAsyncThen(apply func(c *core, now time.Time) error, after func(), cb func(error)) {
	r := &request{apply: apply, after: after, cb: cb}
	select {
	case <-e.stopped: // reqs is buffered: a send after the stop could succeed and never be decided
		cb(Errorf(EUnavailable, "coordinator stopped"))
		return
	default:
	}
	select {
	case e.reqs <- r:
	case <-e.stopped:
		cb(Errorf(EUnavailable, "coordinator stopped"))
	}
}

// Connect registers (or reconnects) a worker on a session and returns its live leases.
func (e *Engine) Connect(ctx context.Context, h Hello, session uint64) ([]Assignment, error) {
	client := h.Role == "client"
	if client && e.longStall.Load() {
		// an operator's session would wait for the hung commit: refused at once, as while commits fail,
		// the server serves its reads (rpc.HelloResult.ReadOnly), which a stall does not hold up (read)
		return nil, stallRefusal()
	}
	var out []Assignment
	err := e.send(ctx, &request{apply: func(c *core, now time.Time) (err error) {
		out, err = c.connect(now, h, session)
		return err
	}, after: func() { e.sessions[h.Name] = session }, client: client, done: make(chan struct{})})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Disconnect marks the worker's session closed; a stale session (after a reconnect) is ignored.
func (e *Engine) Disconnect(ctx context.Context, name string, session uint64) error {
	return e.do(ctx, func(c *core, now time.Time) error {
		c.disconnect(now, name, session)
		return nil
	}, func() {
		if e.sessions[name] == session {
			delete(e.sessions, name)
		}
	})
}

// Ack accepts a pushed lease.
func (e *Engine) Ack(ctx context.Context, worker, leaseID string, epoch int64) error {
	_, err := e.runOp(ctx, newLeaseOp(opAck, worker, leaseID, epoch))
	return err
}

// AckAsync is Ack without waiting: done gets its outcome on the engine's goroutine (see doAsyncThen).
func (e *Engine) AckAsync(worker, leaseID string, epoch int64, done func(error)) {
	o := newLeaseOp(opAck, worker, leaseID, epoch)
	o.errDone = done
	e.submitOp(o)
}

// RejectAsync is Reject without waiting, for the reject read on the worker's connection session (0:
// its current one); done gets its outcome on the engine's goroutine (see doAsyncThen).
func (e *Engine) RejectAsync(worker string, session uint64, leaseID string, epoch int64, reason string, done func(error)) {
	o := newLeaseOp(opReject, worker, leaseID, epoch)
	o.session, o.text, o.errDone = session, reason, done
	e.submitOp(o)
}

// Reject refuses a pushed lease; the issue is requeued with no penalty.
func (e *Engine) Reject(ctx context.Context, worker, leaseID string, epoch int64, reason string) error {
	o := newLeaseOp(opReject, worker, leaseID, epoch)
	o.text = reason
	_, err := e.runOp(ctx, o)
	return err
}

// Heartbeat extends a lease (every lease of the worker when leaseID is empty) and returns the new deadline.
func (e *Engine) Heartbeat(ctx context.Context, worker, leaseID string, epoch int64, progress string) (time.Time, error) {
	var dl time.Time
	r := &request{done: make(chan struct{})}
	r.apply = func(c *core, now time.Time) (err error) {
		// A heartbeat that only moves deadlines is answered like a read once a commit is found stalled
		// (look): the lease clocks are held meanwhile, and a restart gives every lease the reconnect
		// grace whatever deadline was written, so its reply needs no commit. Before, heartbeats waited
		// for the hung commit until the worker's call timed out (10 s in gtc worker) and it reconnected, over and over
		// for as long as the storage hung. One that acks a pushed lease waits (the ack is a state change),
		// and so does a refusal: the lease may have ended in the hung batch, which could still fail.
		acks := false
		if l := c.leases[leaseID]; l != nil {
			acks = l.State == LeasePushed
		}
		dl, err = c.heartbeat(now, worker, leaseID, epoch, progress)
		r.look = err == nil && !acks
		return err
	}
	if err := e.send(ctx, r); err != nil {
		return time.Time{}, err
	}
	return dl, nil
}

// CompleteAsync is Complete without waiting: done gets the result on the engine's goroutine (see doAsyncThen).
func (e *Engine) CompleteAsync(worker, leaseID string, epoch int64, r SessionResult, done func(Result, error)) {
	o := newLeaseOp(opComplete, worker, leaseID, epoch)
	o.result, o.resDone = r, done
	e.submitOp(o)
}

// FailAsync is Fail without waiting: done gets the result on the engine's goroutine (see doAsyncThen).
func (e *Engine) FailAsync(worker, leaseID string, epoch int64, errMsg string, done func(Result, error)) {
	o := newLeaseOp(opFail, worker, leaseID, epoch)
	o.text, o.resDone = errMsg, done
	e.submitOp(o)
}

// submitOp is doAsyncThen for a lease operation.
func (e *Engine) submitOp(o *leaseOp) {
	r := &o.req
	select {
	case <-e.stopped: // reqs is buffered: a send after the stop could succeed and never be decided
		r.err = Errorf(EUnavailable, "coordinator stopped")
		r.resolve()
		return
	default:
	}
	select {
	case e.reqs <- r:
	case <-e.stopped:
		r.err = Errorf(EUnavailable, "coordinator stopped")
		r.resolve()
	}
}

// Complete ends a lease with a session result (success closes; see Config.CodeCompleteStatus; other outcomes retry).
func (e *Engine) Complete(ctx context.Context, worker, leaseID string, epoch int64, r SessionResult) (Result, error) {
	o := newLeaseOp(opComplete, worker, leaseID, epoch)
	o.result = r
	return e.runOp(ctx, o)
}

// Fail ends a lease as a failed attempt (requeued with backoff, or dead-lettered after MaxAttempts).
func (e *Engine) Fail(ctx context.Context, worker, leaseID string, epoch int64, errMsg string) (Result, error) {
	o := newLeaseOp(opFail, worker, leaseID, epoch)
	o.text = errMsg
	return e.runOp(ctx, o)
}

// runOp is do for a lease operation: it submits o and waits for its durable outcome (the zero Result
// with an error). o goes back to the pool once its outcome is read; one whose caller gave up waiting
// is left to the collector (the engine may still decide it).
func (e *Engine) runOp(ctx context.Context, o *leaseOp) (Result, error) {
	o.waiting = true
	if o.wait == nil {
		o.wait = make(chan struct{}, 1)
	}
	select {
	case e.reqs <- &o.req:
	case <-ctx.Done():
		o.release()
		return Result{}, &Error{Code: EUnavailable, Message: "request not sent", Err: ctx.Err()}
	case <-e.stopped:
		o.release()
		return Result{}, Errorf(EUnavailable, "coordinator stopped")
	}
	select {
	case <-o.wait:
	case <-ctx.Done():
		return Result{}, &Error{Code: EUnavailable, Message: "gave up waiting for the decision", Err: ctx.Err()}
	case <-e.stopped:
		select {
		case <-o.wait:
		default:
			return Result{}, Errorf(EUnavailable, "coordinator stopped")
		}
	}
	res, err := o.res, o.req.err
	o.release()
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Release gives a lease back with no penalty.
func (e *Engine) Release(ctx context.Context, worker, leaseID string, epoch int64, reason string) (Result, error) {
	var res Result
	err := e.do(ctx, func(c *core, now time.Time) (err error) {
		res, err = c.release(now, worker, leaseID, epoch, reason)
		return err
	}, nil)
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Claim leases the best ready issue matching f (nil = the worker's own filters) to worker, already
// acked; with wait > 0 it long-polls up to wait. It returns nil when nothing came.
func (e *Engine) Claim(ctx context.Context, worker string, f *Filters, wait time.Duration) (*Assignment, error) {
	var (
		a  *Assignment
		id uint64
		ch = make(chan claimReply, 1)
	)
	// The claim itself is always seen through (a lease handed to a caller that stopped waiting would
	// otherwise be held by nobody); only the long-poll below follows ctx.
	err := e.do(context.WithoutCancel(ctx), func(c *core, now time.Time) (err error) {
		a, id, err = c.claim(now, worker, f, wait)
		if id != 0 {
			e.waiters[id] = ch
		}
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	if a != nil && ctx.Err() != nil {
		_ = e.do(context.WithoutCancel(ctx), func(c *core, now time.Time) error {
			e.releasing = append(e.releasing, a.Lease) // given back in this batch, and again if it is lost
			return nil
		}, nil)
		return nil, &Error{Code: EUnavailable, Message: "claim abandoned", Err: ctx.Err()}
	}
	if id == 0 {
		return a, nil
	}
	select {
	case r := <-ch:
		return r.a, r.err
	case <-ctx.Done():
	}
	// The caller is gone: unpark the claim, or give back what it was handed meanwhile.
	_ = e.do(context.WithoutCancel(ctx), func(c *core, now time.Time) error {
		if c.removeWaiter(id) {
			delete(e.waiters, id)
			return nil
		}
		select {
		case r := <-ch:
			if r.a != nil {
				e.releasing = append(e.releasing, r.a.Lease) // given back in this batch, and again if it is lost
			}
		default:
			// Matched in a batch whose commit is still under way: finish releases it when it lands.
			e.abandoned[id] = true
		}
		return nil
	}, nil)
	return nil, &Error{Code: EUnavailable, Message: "claim abandoned", Err: ctx.Err()}
}

// PutIssues creates, updates or imports issues and updates the ready set; a leased issue closed or
// reassigned outside gtc loses its lease (the worker is told).
func (e *Engine) PutIssues(ctx context.Context, puts []IssuePut) error {
	return e.PutIssuesThen(ctx, puts, nil)
}

// PutIssuesThen is PutIssues that runs after (on the engine's goroutine: keep it short) once the puts
// are durable, before any push they caused is handed to the outbox.
func (e *Engine) PutIssuesThen(ctx context.Context, puts []IssuePut, after func()) error {
	return e.do(ctx, func(c *core, now time.Time) error { return c.putIssues(now, puts) }, after)
}

// PutIssuesAsync is PutIssuesThen without waiting: done gets the outcome on the engine's goroutine
// (see doAsyncThen), after has run.
func (e *Engine) PutIssuesAsync(puts []IssuePut, after func(), done func(error)) {
	e.doAsyncThen(func(c *core, now time.Time) error { return c.putIssues(now, puts) }, after, done)
}

// SetModernReady switches to bd v1's readiness rules (true) or classic bd's (Config.ModernReady) and
// re-evaluates every issue; a no-op when they apply already.
func (e *Engine) SetModernReady(ctx context.Context, modern bool) error {
	return e.do(ctx, func(c *core, now time.Time) error { c.setModernReady(now, modern); return nil }, nil)
}

// Pause stops new assignments (claims get EPaused) until Resume; actor (the session that asked) is
// named in the audit log's event, as by every operator action below.
func (e *Engine) Pause(ctx context.Context, actor string) error {
	return e.do(ctx, func(c *core, now time.Time) error { c.pause(now, true, actor); return nil }, nil)
}

// Resume lifts a Pause.
func (e *Engine) Resume(ctx context.Context, actor string) error {
	return e.do(ctx, func(c *core, now time.Time) error { c.pause(now, false, actor); return nil }, nil)
}

// Drain stops pushes to a worker; its current leases run to their end.
func (e *Engine) Drain(ctx context.Context, worker, actor string) error {
	return e.do(ctx, func(c *core, now time.Time) error { return c.drain(now, worker, false, 0, actor) }, nil)
}

// DrainSession is the worker's own drain of its session (it shuts down): it ends when the session does.
func (e *Engine) DrainSession(ctx context.Context, worker string, session uint64) error {
	return e.do(ctx, func(c *core, now time.Time) error { return c.drain(now, worker, false, session, worker) }, nil)
}

// Undrain ends a drain: the worker is pushed work again.
func (e *Engine) Undrain(ctx context.Context, worker, actor string) error {
	return e.do(ctx, func(c *core, now time.Time) error { return c.drain(now, worker, true, 0, actor) }, nil)
}

// CancelLease takes a live lease away (the worker is told); the issue is requeued with no penalty.
func (e *Engine) CancelLease(ctx context.Context, leaseID, reason, actor string) error {
	return e.do(ctx, func(c *core, now time.Time) error { return c.cancelLease(now, leaseID, reason, actor) }, nil)
}

// read runs a read-only function on the loop; it returns false if the engine is not running. It sees
// the changes applied so far, and is answered once they are durable, except while a commit hangs
// (stalled): then at once, so that an operator can look (gtc status, the gauges) during a frozen
// file system, at a state that may include changes not yet committed.
func (e *Engine) read(fn func(c *core)) bool {
	r := &request{apply: func(c *core, _ time.Time) error { fn(c); return nil }, look: true, done: make(chan struct{})}
	return e.send(context.Background(), r) == nil
}

// Ready lists up to limit ready issue ids in assignment order (limit <= 0: all).
func (e *Engine) Ready(limit int) []string {
	var ids []string
	e.read(func(c *core) { ids = c.readyIDs(limit) })
	return ids
}

// Status counts issues and workers.
func (e *Engine) Status() Status {
	var s Status
	e.read(func(c *core) { s = c.status() })
	return s
}

// StatusForOperator is Status with, read at the same moment, how many of the ready issues are assigned to
// a worker that is not connected (they wait for it): one pass over the ready issues, for coord.status.
func (e *Engine) StatusForOperator() (s Status, readyForAbsent int) {
	e.read(func(c *core) { s, readyForAbsent = c.status(), c.readyForAbsent() })
	return s, readyForAbsent
}

// Workers lists workers by name with their live leases.
func (e *Engine) Workers() []WorkerStatus {
	var ws []WorkerStatus
	e.read(func(c *core) { ws = c.workerStatuses() })
	return ws
}

// Lease returns a live lease by id.
func (e *Engine) Lease(id string) (Lease, bool) {
	var (
		l  Lease
		ok bool
	)
	e.read(func(c *core) { l, ok = c.lease(id) })
	return l, ok
}
