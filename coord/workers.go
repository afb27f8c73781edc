package coord

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// worker is the in-memory state of one named worker.
type worker struct {
	row            WorkerRow
	session        uint64
	connected      bool
	disconnectedAt time.Time
	stalled        bool      // missed an ack or heartbeat deadline; no pushes until it shows life
	beatAt         time.Time // a refinery's last heartbeat in this session (zero: none yet; see refinerySilent)
	beatsOften     bool      // two of its heartbeats in this session came within the heartbeat timeout
	draining       bool
	drainSession   uint64 // a drain the worker asked for itself: it ends when this session does (0: an operator's, durable)
	selfDrain      uint64 // the session that drained itself (shutting down), also under an operator's drain (0: none)
	inQ            bool
	leases         map[string]*Lease
	miss           uint64 // 1 + added.gen at its last push search that found nothing (0: none since)
	claimMiss      uint64 // the same for its claims with filters claimF
	claimF         Filters
	waiters        []*waiter       // its parked claims, oldest first; answered ones until the next append
	rejKey         string          // names this session in issue.rejectedBy (see rejectKey)
	forgetArmed    bool            // a timerForget for it is pending (one at a time: see armForget)
	resumed        map[string]bool // the leases its hello resumed from an earlier session (nil: none)
	// others are the live sessions of a client name besides session: CLI commands share a name, and
	// one that ends must not take the name's connection from another still running (a gtc watch)
	others map[uint64]struct{}
}

// workerOf is the worker name in a search's rejKey: the name itself for a pull, its session's
// rejectKey for a push.
func workerOf(rejKey string) string {
	name, _, _ := strings.Cut(rejKey, "\x00")
	return name
}

// rejectKey names a worker's session for the issues it rejected: an issue is not pushed again to the
// session that refused it, but a reconnect (a restarted worker) may take it again — with the name
// alone, an issue only that worker could take sat ready for good beside it.
func rejectKey(name string, session uint64) string {
	return name + "\x00" + strconv.FormatUint(session, 36)
}

// nameHoldKey holds an issue from every session of the worker name: an operator's cancel takes the work
// away from the worker, not from one connection of it (a worker reconnecting when its lease was
// cancelled got the issue straight back).
func nameHoldKey(name string) string { return name + "\x00*" }

// heldFrom reports whether an issue last rejected by key is kept from the session rejKey.
func heldFrom(key, rejKey string) bool {
	return key != "" && (key == rejKey || key == nameHoldKey(workerOf(rejKey)))
}

// waiter is a parked claim.
type waiter struct {
	id       uint64
	worker   string
	filters  Filters
	deadline time.Time
	miss     uint64 // see worker.miss
	done     bool   // answered or withdrawn: out of the queue
	prev     *waiter
	next     *waiter
}

// waitQueue lists the parked claims, oldest first: a doubly linked list through the waiters.
type waitQueue struct {
	head, tail *waiter
	n          int
}

func (q *waitQueue) push(wt *waiter) {
	wt.prev = q.tail
	if q.tail != nil {
		q.tail.next = wt
	} else {
		q.head = wt
	}
	q.tail = wt
	q.n++
}

func (q *waitQueue) remove(wt *waiter) {
	if wt.prev != nil {
		wt.prev.next = wt.next
	} else {
		q.head = wt.next
	}
	if wt.next != nil {
		wt.next.prev = wt.prev
	} else {
		q.tail = wt.prev
	}
	wt.prev, wt.next = nil, nil
	q.n--
}

// unpark takes a parked claim out of the queue (its worker's list drops it later).
func (c *core) unpark(wt *waiter) {
	c.waiters.remove(wt)
	delete(c.waiterByID, wt.id)
	wt.done = true
}

// workerState derives the reported state of a worker.
func (c *core) workerState(w *worker) string {
	switch {
	case !w.connected:
		return WorkerGone
	case w.draining:
		// before stalled (the drain itself is kept by row.Draining, an operator's, or by reattach, the session's own)
		return WorkerDraining
	case w.stalled:
		return WorkerStalled
	case len(w.leases) > 0 || c.holdsMergeSlot(w):
		return WorkerBusy
	}
	return WorkerIdle
}

// holdsMergeSlot reports whether w is a refinery merging a request.
func (c *core) holdsMergeSlot(w *worker) bool {
	return w.row.Role == RoleRefinery && c.mq != nil && len(c.mq.Merging(w.row.Name)) > 0
}

// saveWorker records the worker row if its state changed (or always when force).
func (c *core) saveWorker(w *worker, force bool) {
	st := c.workerState(w)
	durable := w.draining && w.drainSession == 0
	if st == w.row.State && durable == w.row.Draining && !force {
		return
	}
	w.row.Draining = durable
	// Idle and busy follow from the worker's leases, which are durable themselves: flipping between
	// them is not written (it would cost two writes per assignment on the hot path).
	quiet := !force && (st == WorkerIdle || st == WorkerBusy) && (w.row.State == WorkerIdle || w.row.State == WorkerBusy)
	w.row.State = st
	if !quiet {
		c.emit(WorkerPut{Worker: w.row})
	}
}

// pushable reports whether w may be pushed one more issue.
func (c *core) pushable(w *worker) bool {
	return w.connected && !w.stalled && !w.draining && (w.row.Role == "" || w.row.Role == "worker") &&
		len(w.leases) < w.row.Capacity
}

// enqueue puts w at the end of the free queue if it can take a push.
func (c *core) enqueue(w *worker) {
	if !w.inQ && c.pushable(w) {
		w.inQ = true
		c.freeQ = append(c.freeQ, w)
		c.needDispatch = true
	}
}

// seen marks activity from a worker: it is no longer stalled.
func (c *core) seen(w *worker) {
	w.row.LastSeen = c.now
	if w.stalled {
		w.stalled = false
		c.enqueue(w)
		if w.row.Role == RoleRefinery {
			c.needMerge = true
		}
	}
}

// connect registers or reconnects a worker and returns its live leases.
func (c *core) connect(now time.Time, h Hello, session uint64) ([]Assignment, error) {
	c.advance(now)
	if h.Name == "" {
		return nil, Errorf(EInvalid, "hello needs a worker name")
	}
	if h.Capacity < 0 {
		return nil, Errorf(EInvalid, "capacity must not be negative")
	}
	if h.Role == "" {
		h.Role = "worker"
	}
	if h.Capacity == 0 && h.Role != "client" { // clients are never pushed work: their capacity stays 0
		h.Capacity = 1
	}
	w := c.workers[h.Name]
	if w == nil {
		w = &worker{row: WorkerRow{Name: h.Name, FirstSeen: now}, leases: make(map[string]*Lease)}
		c.workers[h.Name] = w
	}
	switch {
	case h.Role == "client" && w.row.Role == "client" && w.connected && w.session != session:
		if w.others == nil {
			w.others = map[uint64]struct{}{}
		}
		w.others[w.session] = struct{}{}
	case h.Role != "client":
		w.others = nil // a worker's name has one connection (the server refuses a second)
	}
	w.row.Role, w.row.Capacity, w.row.Filters, w.row.LastSeen = h.Role, h.Capacity, h.Filters, now
	c.noteRole(w)
	if w.drainSession != 0 { // the worker's own drain ended with its session
		w.draining, w.drainSession = false, 0
	}
	w.selfDrain = 0
	w.session, w.connected, w.stalled = session, true, false // an operator's drain outlives the connection
	w.beatAt, w.beatsOften = time.Time{}, false              // a new session shows its own heartbeats
	w.rejKey = rejectKey(h.Name, session)
	w.miss = 0 // its filters may have changed
	var out []Assignment
	w.resumed = nil
	for _, l := range sortedLeases(w.leases) {
		if w.resumed == nil {
			w.resumed = make(map[string]bool, len(w.leases))
		}
		w.resumed[l.ID] = true
		if l.State == LeasePushed {
			l.AckDeadline = now.Add(c.cfg.AckTimeout)
		}
		// Renewed, not only extended: a deadline read back from the store is wall time, and after
		// the wall clock stepped back while the server was down it would lie far in the future.
		l.Deadline = now.Add(c.cfg.HeartbeatTimeout)
		c.emitLease(l)
		c.addTimer(c.leaseDue(l), timerLease, l.ID)
		out = append(out, Assignment{Lease: *l})
	}
	c.saveWorker(w, true)
	if !quietClient(w) {
		c.event("worker_connected", "", "", h.Name, strconv.Itoa(len(out))+" leases resumed")
	}
	if w.draining && h.Role != "client" {
		c.effect(drainNote{Worker: h.Name, Session: session, Draining: true}) // an operator's drain outlives the connection
	}
	c.enqueue(w)
	c.needDispatch = true // a worker already queued (reconnecting with other filters) is not enqueued again
	c.mergeConnected(w)
	return out, nil
}

// disconnect marks a worker's session gone; its leases wait for the grace period.
func (c *core) disconnect(now time.Time, name string, session uint64) {
	c.advance(now)
	w := c.workers[name]
	if w == nil || !w.connected {
		return
	}
	if _, ok := w.others[session]; ok {
		delete(w.others, session) // another session of the client name goes on
		return
	}
	if w.session != session {
		return
	}
	if w.drainSession == session { // the worker's own drain ends with its session (not kept while it is gone,
		// where it read as draining and kept the worker from being forgotten)
		w.draining, w.drainSession = false, 0
	}
	w.selfDrain = 0
	for s := range w.others { // the name stays connected through another of its sessions
		delete(w.others, s)
		w.session, w.row.LastSeen = s, now
		w.rejKey = rejectKey(name, s)
		return
	}
	w.connected, w.disconnectedAt = false, now
	w.row.LastSeen = now // its last sign of life: a forgotten worker's time counts from it
	c.dropWaiters(name)
	if len(w.leases) > 0 {
		c.addTimer(now.Add(c.cfg.Grace), timerGrace, name)
	}
	c.armForget(w, now.Add(c.cfg.ForgetGone))
	c.mergeDisconnected(w)
	c.saveWorker(w, true)
	if !quietClient(w) {
		c.event("worker_disconnected", "", "", name, "")
	}
}

// quietClient reports a CLI or script session holding no lease: its comings and goings (one per
// command) are not worth an audit-log entry.
func quietClient(w *worker) bool { return w.row.Role == "client" && len(w.leases) == 0 }

// graceTimer expires the leases of a worker that did not come back in time.
func (c *core) graceTimer(name string) {
	w := c.workers[name]
	if w == nil || w.connected || c.now.Before(w.disconnectedAt.Add(c.cfg.Grace)) {
		return
	}
	for _, l := range sortedLeases(w.leases) {
		c.abandon(l, "worker did not reconnect within grace")
	}
	c.saveWorker(w, false)
}

// forgetTimer forgets a worker gone for Config.ForgetGone since its last sign of life: out of the
// worker list, its row dropped. One that still holds a lease or a merge slot, or that an operator
// drained (the drain must hold when it comes back), is looked at again after ForgetGone.
func (c *core) forgetTimer(name string) {
	w := c.workers[name]
	if w == nil {
		return
	}
	w.forgetArmed = false // this was its timer
	if w.connected {
		return // its next disconnect arms one
	}
	if due := later(w.row.LastSeen.Add(c.cfg.ForgetGone), w.disconnectedAt.Add(c.cfg.Grace)); c.now.Before(due) {
		c.armForget(w, due) // seen since this timer was set (a reconnect, a CLI call)
		return
	}
	if len(w.leases) > 0 || w.draining || c.holdsMergeSlot(w) {
		c.armForget(w, c.now.Add(c.cfg.ForgetGone))
		return
	}
	delete(c.workers, name)
	delete(c.refineries, name)
	c.emit(WorkerDelete{Name: name})
}

// armForget schedules w's forget check at t unless one is pending already: that one fires first and,
// finding the worker seen since, schedules the next (a name coming and going every second would
// otherwise hold a ForgetGone's worth of timers).
func (c *core) armForget(w *worker, t time.Time) {
	if w.forgetArmed {
		return
	}
	w.forgetArmed = true
	c.addTimer(t, timerForget, w.row.Name)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// drain stops new pushes to a worker (undo: resumes them); its current leases run to their end. An
// operator's drain holds while the worker is gone, across its reconnects and the coordinator's restarts,
// until undone; one the worker asks for itself for its session (session != 0, a worker shutting down)
// ends when that session does, so the restarted worker takes work again.
func (c *core) drain(now time.Time, name string, undo bool, session uint64, actor string) error {
	c.advance(now)
	w := c.workers[name]
	if w == nil {
		return Errorf(ENotFound, "no worker %q", name)
	}
	if session != 0 && (session != w.session || !w.connected) {
		return nil // that session is gone, and its drain with it
	}
	if session != 0 && !undo {
		w.selfDrain = session
	}
	if undo && session == 0 && w.draining && w.connected && w.selfDrain == w.session {
		// the operator's drain ends, but the worker drains itself (it is shutting down): that drain goes on
		// until its session ends (review: the undo pushed work to a worker exiting, which left the lease
		// to its ack timeout)
		if w.drainSession == 0 {
			w.drainSession = w.session
			c.saveWorker(w, true)
			c.eventAs(actor, "undrained", "", "", name, "the worker's own drain of its session goes on")
		}
		return nil
	}
	// an operator's drain on top of the worker's own makes it durable, and is recorded and told like any other
	overOwn := !undo && session == 0 && w.draining && w.drainSession != 0
	if w.draining != undo && !overOwn {
		return nil // nothing changes
	}
	w.draining, w.drainSession = !undo, 0
	if !undo && session != 0 {
		w.drainSession = session // the worker's own (session is its live one: checked above)
	}
	c.saveWorker(w, true)
	if undo {
		c.eventAs(actor, "undrained", "", "", name, "")
		c.enqueue(w)
	} else {
		c.eventAs(actor, "draining", "", "", name, "")
	}
	if w.connected && session == 0 && w.row.Role != "client" {
		// an operator's drain or undo: the worker is told (its own drain it knows of)
		c.effect(drainNote{Worker: name, Session: w.session, Draining: !undo, By: actor})
	}
	return nil
}

// matches reports whether an issue passes a worker's filters.
func (c *core) matches(it *issue, f *Filters) bool {
	for _, l := range f.Labels {
		if !hasLabel(it.labels(), l) {
			return false
		}
	}
	if f.Convoy != "" && f.ConvoyOnly && !c.inConvoy(it, f.Convoy) {
		return false
	}
	if len(f.Types) > 0 {
		ok := false
		typ := c.str(it.itype)
		for _, t := range f.Types {
			if typ == t {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Prefixes) > 0 {
		ok := false
		for _, p := range f.Prefixes {
			if strings.HasPrefix(it.id, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// best returns the highest-ranked ready issue matching f that the session rejKey may take (a pull
// takes issues its worker rejected too).
func (c *core) best(rejKey string, f *Filters, pull bool) *issue {
	h := &c.heap
	for _, l := range f.Labels {
		if lh := c.labelHeap(l); lh.Len() < h.Len() {
			h = lh
		}
	}
	name := workerOf(rejKey)
	ok := func(it *issue) bool {
		return (pull || !heldFrom(it.rejectedBy(), rejKey)) && c.mayTake(it, name) && c.matches(it, f)
	}
	if f.Convoy != "" {
		// Convoy-first: the convoy's own ready issues, then (unless ConvoyOnly) everything else.
		var it *issue
		if its, gt := c.trackedIssues(f.Convoy); gt {
			it = c.bestAmong(its, ok) // a Gas Town convoy: the few issues its bead tracks
		} else {
			it = c.labelHeap(ConvoyLabelPrefix + f.Convoy).walk(ok)
		}
		if it != nil || f.ConvoyOnly {
			return it
		}
	}
	if len(f.Prefixes)+len(f.Types) == 0 {
		return h.walk(ok)
	}
	// a filter on id prefixes or types: the global heap (or a label heap) while the first match comes
	// early, else the heaps of the filter's alternatives, the best of their first matches
	alts := c.usedAltHeaps(f)
	if alts == nil {
		it, cut := h.walkN(ok, altWalkBudget)
		if !cut {
			return it
		}
		alts = c.altHeapsOf(f)
	}
	n := 0
	for _, a := range alts {
		n += a.Len()
	}
	if n >= h.Len() {
		return h.walk(ok)
	}
	var top *issue
	for _, a := range alts {
		if it := a.walk(ok); it != nil && (top == nil || c.heap.less(it, top)) {
			top = it
		}
	}
	return top
}

// usedAltHeaps returns the heaps of f's alternatives when every one exists already (nil otherwise).
func (c *core) usedAltHeaps(f *Filters) []*readyHeap {
	kind, alts := altsOf(f)
	for _, s := range alts {
		if c.altHeaps[altKey{kind, s}] == nil {
			return nil
		}
	}
	return c.altHeapsOf(f)
}

// bestMarked is best for a search that keeps, in *miss, when it last found nothing: no ready issue
// matched then, and an issue's labels, type and rejection change only while it is out of the ready
// heap or before a refresh, which puts it back; so only the issues added since can match, and with
// none added there is nothing to find. The answer is best's.
func (c *core) bestMarked(miss *uint64, rejKey string, f *Filters, pull bool) *issue {
	var it *issue
	if *miss == 0 {
		it = c.best(rejKey, f, pull)
	} else if gen := *miss - 1; gen != c.added.gen {
		if added, ok := c.added.since(gen); ok && len(added) < c.heap.Len() {
			it = c.bestOf(added, rejKey, f, pull)
		} else {
			it = c.best(rejKey, f, pull)
		}
	}
	if it == nil {
		*miss = c.added.gen + 1
	} else {
		*miss = 0
	}
	return it
}

// bestAmong is the highest-ranked of its that is ready and passes ok.
func (c *core) bestAmong(its []*issue, ok func(*issue) bool) *issue {
	var top *issue
	for _, it := range its {
		if it.hpos >= 0 && ok(it) && (top == nil || c.heap.less(it, top)) {
			top = it
		}
	}
	return top
}

// bestOf is best among the given issues, those of them still ready.
func (c *core) bestOf(its []*issue, rejKey string, f *Filters, pull bool) *issue {
	var top, topConvoy *issue
	name := workerOf(rejKey)
	for _, it := range its {
		if it.hpos < 0 || !pull && heldFrom(it.rejectedBy(), rejKey) || !c.mayTake(it, name) || !c.matches(it, f) {
			continue
		}
		if f.Convoy != "" && c.inConvoy(it, f.Convoy) && (topConvoy == nil || c.heap.less(it, topConvoy)) {
			topConvoy = it
		}
		if top == nil || c.heap.less(it, top) {
			top = it
		}
	}
	if f.Convoy != "" && (topConvoy != nil || f.ConvoyOnly) {
		return topConvoy
	}
	return top
}

// claimBest is best for a claim of w with filters f.
func (c *core) claimBest(w *worker, f *Filters) *issue {
	if w.claimMiss != 0 && !sameFilters(&w.claimF, f) {
		w.claimMiss = 0
	}
	it := c.bestMarked(&w.claimMiss, w.row.Name, f, true)
	if it == nil {
		w.claimF = *f
	}
	return it
}

func sameFilters(a, b *Filters) bool {
	return a.Convoy == b.Convoy && a.ConvoyOnly == b.ConvoyOnly && slices.Equal(a.Labels, b.Labels) &&
		slices.Equal(a.Types, b.Types) && slices.Equal(a.Prefixes, b.Prefixes)
}

// dispatch hands ready issues to parked claims first (oldest first), then pushes to free workers
// (longest idle first, round robin over capacity). No-op while paused. A lease it makes can make other
// issues ready (a conditional-blocks edge holds only while its blocker is open): it then goes round
// again, so that a parked claim passed over before gets them now rather than at some later request.
func (c *core) dispatch(now time.Time) {
	c.advance(now)
	for !c.paused && c.needDispatch {
		c.needDispatch = false
		c.dispatchOnce()
	}
}

// dispatchOnce is one round of dispatch.
func (c *core) dispatchOnce() {
	for wt, next := c.waiters.head, (*waiter)(nil); wt != nil && c.heap.Len() > 0; wt = next {
		next = wt.next
		it := c.bestMarked(&wt.miss, wt.worker, &wt.filters, true)
		if it == nil {
			continue
		}
		c.unpark(wt)
		l := c.newLease(it, c.workers[wt.worker], true)
		c.effect(claimEffect{waiter: wt.id, a: &Assignment{Lease: *l}})
	}
	for progress := true; progress && c.heap.Len() > 0 && len(c.freeQ) > 0; {
		progress = false
		q := c.freeQ
		var head, tail []*worker
		i := 0
		for ; i < len(q) && c.heap.Len() > 0; i++ {
			w := q[i]
			w.inQ = false
			if !c.pushable(w) {
				continue
			}
			it := c.bestMarked(&w.miss, w.rejKey, &w.row.Filters, false)
			if it == nil {
				w.inQ = true
				head = append(head, w)
				continue
			}
			since := c.heap.readySince(it)
			l := c.newLease(it, w, false)
			pe := c.arena.push()
			*pe = pushEffect{Worker: w.row.Name, Session: w.session, A: Assignment{Lease: *l, ReadySince: since}}
			c.effect(pe)
			progress = true
			if c.pushable(w) {
				w.inQ = true
				tail = append(tail, w)
			}
		}
		rest := q[i:]
		nq := make([]*worker, 0, len(head)+len(rest)+len(tail))
		nq = append(nq, head...)
		nq = append(nq, rest...)
		c.freeQ = append(nq, tail...)
	}
}

// claim gives name the best matching ready issue as an acked lease; with wait it parks the claim
// and returns its waiter id (0 = not parked).
func (c *core) claim(now time.Time, name string, f *Filters, wait time.Duration) (*Assignment, uint64, error) {
	c.advance(now)
	w := c.workers[name]
	if w == nil || !w.connected {
		return nil, 0, Errorf(EUnauthorized, "worker %q has not said hello", name)
	}
	if c.paused {
		return nil, 0, Errorf(EPaused, "coordinator is paused; retry after resume")
	}
	c.seen(w)
	if f == nil {
		f = &w.row.Filters
	}
	if it := c.claimBest(w, f); it != nil {
		l := c.newLease(it, w, true)
		return &Assignment{Lease: *l}, 0, nil
	}
	if wait <= 0 {
		return nil, 0, nil
	}
	c.nextWaiter++
	wt := &waiter{id: c.nextWaiter, worker: name, filters: *f, deadline: now.Add(wait), miss: w.claimMiss}
	c.waiters.push(wt)
	if c.waiterByID == nil {
		c.waiterByID = map[uint64]*waiter{}
	}
	c.waiterByID[wt.id] = wt
	if len(w.waiters) == cap(w.waiters) {
		w.waiters = slices.DeleteFunc(w.waiters, func(x *waiter) bool { return x.done })
	}
	w.waiters = append(w.waiters, wt)
	c.addTimer(wt.deadline, timerWaiter, strconv.FormatUint(wt.id, 10))
	return nil, wt.id, nil
}

// waiterTimer answers a parked claim whose wait ran out.
func (c *core) waiterTimer(key string) {
	id, _ := strconv.ParseUint(key, 10, 64)
	if c.removeWaiter(id) {
		c.effect(claimEffect{waiter: id})
	}
}

// removeWaiter drops a parked claim; false if it is no longer parked.
func (c *core) removeWaiter(id uint64) bool {
	wt := c.waiterByID[id]
	if wt == nil {
		return false
	}
	c.unpark(wt)
	return true
}

// dropWaiters answers every parked claim of a worker with nothing.
func (c *core) dropWaiters(name string) {
	w := c.workers[name]
	if w == nil {
		return
	}
	for _, wt := range w.waiters {
		if !wt.done {
			c.effect(claimEffect{waiter: wt.id})
			c.unpark(wt)
		}
	}
	clear(w.waiters)
	w.waiters = w.waiters[:0]
}

// workerStatuses lists workers by name.
func (c *core) workerStatuses() []WorkerStatus {
	out := make([]WorkerStatus, 0, len(c.workers))
	for _, w := range c.workers {
		ws := WorkerStatus{Name: w.row.Name, Role: w.row.Role, Capacity: w.row.Capacity, State: c.workerState(w), Draining: w.draining,
			Connected: w.connected, LastSeen: w.row.LastSeen, Leases: []Lease{}}
		for _, l := range sortedLeases(w.leases) {
			ws.Leases = append(ws.Leases, *l)
		}
		out = append(out, ws)
	}
	sortWorkers(out)
	return out
}

// reattach marks a worker connected on session without recording anything (engine rollback:
// the connection is still open, only undurable decisions were dropped). What the session's hello and its
// own drain decided, never written (the leases hello resumed, a drain that ends with the session), is
// taken from old, the worker in the core replaced, when it names the same session.
func (c *core) reattach(name string, session uint64, old *worker) {
	if w := c.workers[name]; w != nil {
		w.session, w.connected = session, true
		w.rejKey = rejectKey(name, session)
		if old != nil && old.session == session {
			w.resumed, w.selfDrain = old.resumed, old.selfDrain
			// selfDrain, not drainSession: under an operator's drain (drainSession 0) that the rollback
			// dropped, the worker still drains itself
			if old.selfDrain == session && !w.draining {
				w.draining, w.drainSession = true, session
			}
		}
		w.row.State = c.workerState(w)
		c.enqueue(w)
	}
}
