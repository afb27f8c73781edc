package coord

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Lease rules:
//   - ack timeout (pushed, not acked in time): requeued with no attempt penalty (the issue is not at
//     fault), the worker is marked stalled and gets no pushes until it shows life;
//   - reject, release, cancel: requeued with no penalty (a rejected issue is not pushed to the same
//     worker again, but it may still claim it);
//   - heartbeat expiry, or disconnect without reconnect within the grace: attempt+1, requeued after an
//     exponential backoff with jitter; after MaxAttempts failed attempts the issue is dead-lettered
//     (status blocked + FailedLabel, last error in the event log);
//   - fail and the failure, partial and context_overflow outcomes count as failed attempts too;
//   - while the holder is disconnected (also right after a restart) only the grace counts: ack and
//     heartbeat deadlines are suspended, and a reconnect renews them.

// leaseID names the lease of an epoch.
func leaseID(epoch int64) string { return "L-" + strconv.FormatInt(epoch, 10) }

// LeaseEpoch parses the epoch out of a lease id the scheduler made ("L-<epoch>").
func LeaseEpoch(id string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "L-"), 10, 64)
	return n, err == nil && strings.HasPrefix(id, "L-")
}

func sortedLeases(m map[string]*Lease) []*Lease {
	out := make([]*Lease, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Epoch < out[j].Epoch })
	return out
}

// attemptDetails are the details of the first attempts' assigned and claimed events, made once.
var attemptDetails = [...]string{"attempt 0", "attempt 1", "attempt 2", "attempt 3", "attempt 4", "attempt 5",
	"attempt 6", "attempt 7", "attempt 8", "attempt 9"}

// attemptDetail is "attempt n".
func attemptDetail(n int) string {
	if n >= 0 && n < len(attemptDetails) {
		return attemptDetails[n]
	}
	return "attempt " + strconv.Itoa(n)
}

// outcomeDetail is a completed event's detail, "<outcome>: <detail>" (no new string for a bare success).
func outcomeDetail(outcome, detail string) string {
	if detail == "" {
		switch outcome {
		case OutcomeSuccess:
			return OutcomeSuccess + ": "
		case OutcomeCodeComplete:
			return OutcomeCodeComplete + ": "
		}
	}
	return outcome + ": " + detail
}

// leaseDue is when a live lease's timer must fire next.
func (c *core) leaseDue(l *Lease) time.Time {
	if l.State == LeasePushed && l.AckDeadline.Before(l.Deadline) {
		return l.AckDeadline
	}
	return l.Deadline
}

// newLease leases it to w (acked for claims, pushed otherwise).
func (c *core) newLease(it *issue, w *worker, acked bool) *Lease {
	c.maxEpoch++
	var l *Lease
	if n := len(c.freeLeases); n > 0 {
		l = c.freeLeases[n-1]
		c.freeLeases[n-1] = nil
		c.freeLeases = c.freeLeases[:n-1]
	} else {
		l = new(Lease)
	}
	*l = Lease{ID: leaseID(c.maxEpoch), IssueID: it.id, Worker: w.row.Name, Epoch: c.maxEpoch,
		State: LeasePushed, Attempt: it.attempts() + 1, CreatedAt: c.now,
		AckDeadline: c.now.Add(c.cfg.AckTimeout), Deadline: c.now.Add(c.cfg.HeartbeatTimeout)}
	// an issue assigned to this worker before (bd's assignee) stays its own when the lease ends
	l.Reserved = c.str(it.assignee) == w.row.Name
	if l.Reserved {
		it.flags |= fReserved
	} else {
		it.flags &^= fReserved
	}
	status, kind := c.st.hooked, "assigned"
	if acked {
		l.State, status, kind = LeaseAcked, c.st.inProgress, "claimed"
		c.markStarted(it, c.now)
	}
	it.lease = l
	it.setRejectedBy("", time.Time{})
	c.leases[l.ID] = l
	w.leases[l.ID] = l
	c.emitLease(l)
	c.event(kind, it.id, l.ID, w.row.Name, attemptDetail(l.Attempt))
	c.setStatus(it, status, w.row.Name)
	c.addTimer(c.leaseDue(l), timerLease, l.ID)
	c.saveWorker(w, false)
	return l
}

// liveLease returns the live lease id, or the error naming it gets: stale epoch for a lease that has
// ended, not found for one never made.
func (c *core) liveLease(id string) (*Lease, error) {
	if l := c.leases[id]; l != nil {
		return l, nil
	}
	if n, ok := LeaseEpoch(id); ok && n <= c.maxEpoch {
		return nil, Errorf(EStaleEpoch, "lease %s has ended", id)
	}
	return nil, Errorf(ENotFound, "no lease %s", id)
}

// epochErr is the error for live lease l named with epoch: nil when it is l's, else stale epoch.
func epochErr(l *Lease, epoch int64) error {
	if l.Epoch != epoch {
		return Errorf(EStaleEpoch, "lease %s has epoch %d, not %d", l.ID, l.Epoch, epoch)
	}
	return nil
}

// check finds the live lease a worker names; errors: not found, stale epoch, not holder.
func (c *core) check(name, id string, epoch int64) (*Lease, *worker, error) {
	l, err := c.liveLease(id)
	if err != nil {
		return nil, nil, err
	}
	if l.Worker != name {
		return nil, nil, Errorf(ENotHolder, "lease %s is held by another worker", id)
	}
	if err := epochErr(l, epoch); err != nil {
		return nil, nil, err
	}
	w := c.workers[name]
	if w != nil {
		c.seen(w)
	}
	return l, w, nil
}

// endLease closes a live lease and frees its worker slot; the issue's status is the caller's job.
func (c *core) endLease(l *Lease, outcome, errMsg string) {
	t := c.arena.time() // valid while the batch is: the engine reuses an ended lease before its arena
	*t = c.now
	l.State, l.EndedAt, l.Outcome, l.Error = LeaseEnded, t, outcome, errMsg
	c.emitLease(l)
	if c.leases[l.ID] == l && len(c.ended) < maxFreeLeases {
		c.ended = append(c.ended, l) // once: a lease ends once
	}
	delete(c.leases, l.ID)
	if it := c.issues[l.IssueID]; it != nil && it.lease == l {
		it.lease = nil
	}
	if w := c.workers[l.Worker]; w != nil {
		delete(w.leases, l.ID)
		c.saveWorker(w, false)
		c.enqueue(w)
	}
}

// maxFreeLeases bounds the ended leases the core keeps for reuse (and, without an engine calling
// reuseEnded, the ones it tracks).
const maxFreeLeases = 1024

// reuseEnded hands the leases ended since its last call to newLease. The engine calls it between
// batches: within a decision an ended lease is still read (its id, attempt, holder), and nothing holds
// one after (the maps drop it; changes, effects and replies hold copies).
func (c *core) reuseEnded() {
	for i, l := range c.ended {
		*l = Lease{}
		if len(c.freeLeases) < maxFreeLeases {
			c.freeLeases = append(c.freeLeases, l)
		}
		c.ended[i] = nil
	}
	c.ended = c.ended[:0]
}

// cancelEffect tells the holder of l (if connected) that it lost the lease.
func (c *core) cancelEffect(l *Lease, reason string) {
	if w := c.workers[l.Worker]; w != nil && w.connected {
		c.effect(cancelNote{Worker: w.row.Name, Session: w.session, LeaseID: l.ID, Epoch: l.Epoch,
			IssueID: l.IssueID, Reason: reason})
	}
}

// requeue puts an issue back to open with no penalty.
func (c *core) requeue(it *issue) { c.setStatus(it, c.st.open, c.keepAssignee(it)) }

// keepAssignee is the assignee an issue keeps when its lease ends without closing it: the worker it
// was assigned to before the lease (bd's assignee, a Gas Town sling), else none — gtc's own
// assignment is undone so that any worker may take it.
func (c *core) keepAssignee(it *issue) string {
	if it.flags&fReserved == 0 {
		return ""
	}
	it.flags &^= fReserved
	return c.str(it.assignee)
}

// handsOut reports whether an issue's status lets it be handed out: open, or hooked to a worker with
// no lease of gtc's on it (Gas Town's sling puts a bead on a worker's hook that way; the worker of that
// name gets it, as an open issue assigned to it).
func (c *core) handsOut(it *issue) bool {
	return it.status == c.st.open || c.slung(it)
}

// slung reports whether an issue is on a worker's hook without a lease of gtc's: hooked, with an assignee.
func (c *core) slung(it *issue) bool {
	return it.status == c.st.hooked && it.lease == nil && c.str(it.assignee) != ""
}

// mayTake reports whether the worker named name may be given it: an open issue assigned to a worker
// (bd's claim takes only an issue whose assignee is empty) goes to that worker only.
func (c *core) mayTake(it *issue, name string) bool {
	a := c.str(it.assignee)
	return a == "" || a == name
}

// backoff is the retry delay after n failed attempts: base*2^(n-1) capped, jittered to [d/2, d].
func (c *core) backoff(n int) time.Duration {
	d := c.cfg.BackoffBase
	for i := 1; i < n && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	if d > c.cfg.BackoffMax {
		d = c.cfg.BackoffMax
	}
	half := d / 2
	return half + time.Duration(c.rnd.Int64N(int64(d-half)+1))
}

// failAttempt counts a failed attempt: backoff and requeue, or dead-letter. It reports dead-lettering.
func (c *core) failAttempt(it *issue, l *Lease, errMsg string) bool {
	if c.leaseLost(it, l) {
		return false // its branch merged meanwhile: closed
	}
	n := it.attempts() + 1
	if n >= c.cfg.MaxAttempts {
		c.deadLetter(it, n, l.ID, l.Worker, errMsg)
		return true
	}
	nb := c.now.Add(c.backoff(n))
	it.setRetry(n, nb)
	c.event("requeued", it.id, l.ID, l.Worker, "attempt "+strconv.Itoa(n)+
		" failed, retry after "+nb.Format(time.RFC3339Nano))
	c.requeue(it)
	return false
}

// deadLetter ends an issue's attempts at n: status blocked, the failed label, a dead_lettered event.
func (c *core) deadLetter(it *issue, n int, leaseID, worker, reason string) {
	it.setRetry(n, time.Time{})
	add := []string(nil)
	if !hasLabel(it.labels(), c.cfg.FailedLabel) {
		it.addLabel(c.cfg.FailedLabel)
		add = []string{c.cfg.FailedLabel}
	}
	c.setState(it, c.st.blocked, c.keepAssignee(it), "")
	c.emitState(it, &[2][]string{add, nil})
	c.event("dead_lettered", it.id, leaseID, worker, reason)
	c.recompute(c.affected(it.id, c.parentsOf(it)))
}

// leaseTimer handles an ack or heartbeat deadline.
func (c *core) leaseTimer(id string) {
	l := c.leases[id]
	if l == nil {
		return
	}
	if c.orphans[id] {
		delete(c.orphans, id)
		c.endOrphan(l)
		return
	}
	if due := c.leaseDue(l); due.After(c.now) {
		c.addTimer(due, timerLease, id)
		return
	}
	w := c.workers[l.Worker]
	if w != nil && !w.connected {
		// While its holder is disconnected a lease lives by the reconnect grace alone.
		if end := w.disconnectedAt.Add(c.cfg.Grace); end.After(c.now) {
			c.addTimer(end, timerLease, id)
			return
		}
	}
	if w != nil && !w.connected {
		c.abandon(l, "worker did not reconnect within grace")
	} else if l.State == LeasePushed && !l.AckDeadline.After(c.now) {
		c.ackTimeout(l)
	} else {
		c.expire(l, "no heartbeat before the deadline")
	}
	if w != nil && w.connected && !w.stalled {
		w.stalled = true
		c.saveWorker(w, false)
	}
}

// endOrphan ends a live lease loaded on an issue that is no longer hooked or in progress for its
// worker (core.orphans), as an import that changed the issue ends one on a running server: cancelled,
// the issue left as the store holds it.
func (c *core) endOrphan(l *Lease) {
	it := c.issues[l.IssueID]
	if it == nil {
		return
	}
	why := "issue changed outside gtc while no server ran"
	c.endLease(l, "cancelled", why)
	c.cancelEffect(l, why)
	c.event("cancelled", l.IssueID, l.ID, l.Worker, why)
	if st := c.str(it.status); !c.closedStatus(st) && st != c.cfg.CodeCompleteStatus {
		c.withdrawLeaseMerge(it, l)
	}
	c.recompute(c.affected(it.id, c.parentsOf(it)))
}

// ackTimeout ends a pushed lease never acked and requeues its issue with no attempt counted.
func (c *core) ackTimeout(l *Lease) {
	c.endLease(l, "ack_timeout", "not acked in time")
	c.cancelEffect(l, "not acked in time")
	c.event("ack_timeout", l.IssueID, l.ID, l.Worker, "")
	if it := c.issues[l.IssueID]; it != nil && !c.leaseLost(it, l) {
		c.requeue(it)
	}
}

// abandon ends a lease of a worker gone past its grace: an acked one expires (an attempt counted), one
// never acked goes back with no penalty, as at its ack timeout — the worker never said it started.
func (c *core) abandon(l *Lease, why string) {
	if l.State == LeasePushed {
		c.ackTimeout(l)
		return
	}
	c.expire(l, why)
}

// expire ends a lease whose holder vanished and counts a failed attempt.
func (c *core) expire(l *Lease, why string) {
	c.endLease(l, "expired", why)
	c.cancelEffect(l, why)
	c.event("expired", l.IssueID, l.ID, l.Worker, why)
	outcome := "expired"
	if it := c.issues[l.IssueID]; it != nil {
		c.failAttempt(it, l, why)
		if it.status == c.st.closed {
			outcome = OutcomeSuccess // its branch merged during the lease (leaseLost): no failed session for health
		}
	}
	c.recordOutcome(outcome)
}

// ack accepts a pushed lease.
func (c *core) ack(now time.Time, name, id string, epoch int64) error {
	c.advance(now)
	l, _, err := c.check(name, id, epoch)
	if err != nil || l.State == LeaseAcked {
		return err
	}
	l.State, l.Deadline = LeaseAcked, now.Add(c.cfg.HeartbeatTimeout)
	c.emitLease(l)
	c.event("acked", l.IssueID, l.ID, name, "")
	it := c.issues[l.IssueID]
	c.markStarted(it, now)
	c.setStatus(it, c.st.inProgress, name)
	return nil
}

// reject refuses a pushed lease: requeued with no penalty, and not pushed again to the rejecting
// session. session names the connection the reject came on (0: the worker's current one); a reject
// read from an earlier connection after the worker reconnected is refused, as its hello resumed the
// lease for the new session.
func (c *core) reject(now time.Time, name string, session uint64, id string, epoch int64, reason string) error {
	c.advance(now)
	l, w, err := c.check(name, id, epoch)
	if err != nil {
		return err
	}
	key := ""
	if w != nil {
		key = w.rejKey
		if session != 0 && session != w.session {
			return Errorf(ENotHolder, "lease %s was resumed by a later connection of worker %q; this reject came on an earlier one", id, name)
		}
	}
	c.endLease(l, "rejected", reason)
	c.event("rejected", l.IssueID, l.ID, name, reason)
	it := c.issues[l.IssueID]
	if key != "" {
		c.holdFrom(it, key)
	}
	if !c.leaseLost(it, l) {
		c.requeue(it)
	}
	return nil
}

// holdFrom keeps it from the worker session key (rejectKey) for RejectHold from now.
func (c *core) holdFrom(it *issue, key string) {
	it.setRejectedBy(key, c.now)
	c.addTimer(it.rejectedUntil(c.cfg.RejectHold), timerReject, it.id)
}

// closeDone closes an issue whose work is done (by worker, for reason): its retry state cleared, the
// rework label dropped, its dependents and parents recomputed.
func (c *core) closeDone(it *issue, worker, reason string) {
	c.setState(it, c.st.closed, worker, reason)
	it.setRetry(it.attempts(), time.Time{})
	c.emitState(it, c.closedLabels(it))
	c.recompute(c.affected(it.id, c.parentsOf(it)))
}

// rejectTimer ends the hold of an issue's last rejection once RejectHold has passed since it: the
// rejecting session may get the issue again. A ready issue goes back through the heap, so that the
// workers' searches that found nothing since see it.
func (c *core) rejectTimer(id string) {
	it := c.issues[id]
	if it == nil {
		return
	}
	until := it.rejectedUntil(c.cfg.RejectHold)
	if until.IsZero() || c.now.Before(until) {
		return // no hold, or a later rejection's (its own timer ends it)
	}
	ready, since := it.hpos >= 0, c.heap.readySince(it)
	if ready {
		c.heapDel(it)
	}
	it.setRejectedBy("", time.Time{})
	if ready {
		c.heapAdd(it, since)
	}
	c.needDispatch = true
}

// heartbeat extends one lease (or all leases of the worker when id is empty) and returns the deadline;
// a heartbeat naming a pushed lease acks it.
func (c *core) heartbeat(now time.Time, name, id string, epoch int64, progress string) (time.Time, error) {
	c.advance(now)
	dl := now.Add(c.cfg.HeartbeatTimeout)
	if id == "" {
		w := c.workers[name]
		if w == nil || !w.connected {
			return time.Time{}, Errorf(EUnauthorized, "worker %q has not said hello", name)
		}
		c.seen(w)
		for _, l := range sortedLeases(w.leases) {
			c.beat(l, dl, progress)
		}
		c.extendMerges(w, progress)
		if w.row.Role == RoleRefinery {
			if !w.beatAt.IsZero() && now.Before(w.beatAt.Add(c.cfg.HeartbeatTimeout)) {
				w.beatsOften = true
			}
			w.beatAt = now
			if w.beatsOften {
				c.addTimer(dl, timerSilence, name)
			}
		}
		return dl, nil
	}
	l, _, err := c.check(name, id, epoch)
	if err != nil {
		return time.Time{}, err
	}
	if l.State == LeasePushed {
		// The holder is working on it: a heartbeat is an ack too (after a reconnect the reply that
		// acked the push may have been lost with the old connection).
		if err := c.ack(now, name, id, epoch); err != nil {
			return time.Time{}, err
		}
	}
	c.beat(l, dl, progress)
	return dl, nil
}

func (c *core) beat(l *Lease, dl time.Time, progress string) {
	l.Deadline = dl
	if progress != "" {
		l.Progress = progress
	}
	c.emitLease(l)
}

// complete ends a lease with the worker's session result.
func (c *core) complete(now time.Time, name, id string, epoch int64, r SessionResult) (Result, error) {
	c.advance(now)
	switch r.Outcome {
	case "", OutcomeSuccess, OutcomeCodeComplete, OutcomeFailure, OutcomePartial, OutcomeContextOverflow:
	default:
		return Result{}, Errorf(EInvalid, "unknown outcome %q", r.Outcome)
	}
	if r.Outcome == "" {
		r.Outcome = OutcomeSuccess
	}
	l, _, err := c.check(name, id, epoch)
	if err != nil {
		return Result{}, err
	}
	it := c.issues[l.IssueID]
	res := Result{IssueID: it.id, Outcome: r.Outcome, Attempt: l.Attempt}
	detail := r.Summary
	if r.GitCommit != "" {
		detail += " (commit " + r.GitCommit + ")"
	}
	c.recordOutcome(r.Outcome)
	switch r.Outcome {
	case OutcomeSuccess, OutcomeCodeComplete:
		if detail != "" {
			l.Progress = detail // the attempt history's last word: issue show reports it
		}
		c.endLease(l, r.Outcome, "")
		c.event("completed", it.id, l.ID, name, outcomeDetail(r.Outcome, detail))
		if r.Outcome == OutcomeCodeComplete && c.cfg.CodeCompleteStatus != "" {
			c.setStatus(it, c.st.codeComplete, name)
		} else {
			reason := "completed"
			if r.Outcome == OutcomeCodeComplete {
				reason = "code complete"
			}
			c.closeDone(it, name, reason)
		}
		if r.Outcome == OutcomeCodeComplete {
			c.mergeDecidedDuring(it, l)
		}
	default:
		msg := r.Error
		if msg == "" {
			msg = r.Outcome
		}
		c.endLease(l, r.Outcome, msg)
		c.event("failed", it.id, l.ID, name, r.Outcome+": "+msg)
		res.DeadLettered = c.failAttempt(it, l, msg)
	}
	res.Status = c.str(it.status)
	return res, nil
}

// fail ends a lease as a failed attempt.
func (c *core) fail(now time.Time, name, id string, epoch int64, errMsg string) (Result, error) {
	return c.complete(now, name, id, epoch, SessionResult{Outcome: OutcomeFailure, Error: errMsg})
}

// release gives a lease back with no penalty.
func (c *core) release(now time.Time, name, id string, epoch int64, reason string) (Result, error) {
	c.advance(now)
	l, w, err := c.check(name, id, epoch)
	if err != nil {
		return Result{}, err
	}
	it := c.issues[l.IssueID]
	c.endLease(l, "released", reason)
	c.event("released", it.id, l.ID, name, reason)
	if w != nil && w.rejKey != "" && w.row.Role != "client" && !w.resumed[l.ID] {
		// not pushed straight back to the session it was pushed to, as after a reject: a worker that
		// releases what it cannot do now got the same issue again at once, thousands of times a
		// second (a TypeScript handler throwing ReleaseLease); others may take it at once. A lease its
		// hello resumed is given back by a restarted worker that no longer runs it: that one comes
		// back at once, to take the work afresh.
		c.holdFrom(it, w.rejKey)
	}
	if !c.leaseLost(it, l) {
		c.requeue(it)
	}
	return Result{IssueID: it.id, Status: c.str(it.status), Outcome: "released", Attempt: l.Attempt}, nil
}

// cancelLease takes a lease away (operator action): the worker is told, the issue requeued with no
// penalty and kept from that worker, every session of it, for RejectHold (pushed straight back to the
// same idle worker, or to it reconnecting, a cancel did not move the work anywhere).
func (c *core) cancelLease(now time.Time, id, reason, actor string) error {
	c.advance(now)
	l := c.leases[id]
	if l == nil {
		return Errorf(ENotFound, "no live lease %s", id)
	}
	c.endLease(l, "cancelled", reason)
	c.cancelEffect(l, reason)
	c.eventAs(actor, "cancelled", l.IssueID, l.ID, l.Worker, reason)
	it := c.issues[l.IssueID]
	if it != nil {
		c.holdFrom(it, nameHoldKey(l.Worker))
	}
	if !c.leaseLost(it, l) {
		c.requeue(it)
	}
	return nil
}

// lease returns a live lease.
func (c *core) lease(id string) (Lease, bool) {
	if l := c.leases[id]; l != nil {
		return *l, true
	}
	return Lease{}, false
}
