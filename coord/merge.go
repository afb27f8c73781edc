package coord

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// This file drives the merge queue from the core: submissions, slot pushes to connected refinery
// workers, reports, slot expiry (timer at MergeQueue.NextDeadline) and abandonment when a refinery
// stays away past the reconnect grace. The queue itself is package mergeq (coord cannot import it:
// mergeq imports coord), plugged in through Config.MergeQueue = mergeq.Factory(cfg).

// MergeSubmit is a worker's request to have the branch of an issue merged.
type MergeSubmit struct {
	IssueID string   `json:"issue_id"`
	Branch  string   `json:"branch"`
	Commit  string   `json:"commit,omitempty"`
	Target  string   `json:"target,omitempty"` // empty: the queue's default target
	Files   []string `json:"files,omitempty"`  // paths the change touches; empty never conflicts
	// LeaseID and Epoch, when set, name the live lease of the issue the work was done under: the
	// request is filed under that lease's worker, and refused (stale epoch) once the lease has ended —
	// an agent left running after its lease was taken away cannot queue its late work.
	LeaseID string `json:"lease_id,omitempty"`
	Epoch   int64  `json:"epoch,omitempty"`
}

// MergeSubmitted is the queued request plus the live requests sharing files with it.
type MergeSubmitted struct {
	Request          MergeRequest `json:"request"`
	ConflictsWith    []string     `json:"conflicts_with"`
	ConflictingFiles []string     `json:"conflicting_files"`
}

// MergeFailure is a refinery's report of a merge that did not land.
type MergeFailure struct {
	Reason    string   // human-readable cause
	Conflicts []string // conflicting files: the change needs rework (no retry)
	Rework    bool     // the change is at fault (gate failed): no retry
}

// MergeResult is what a refinery reports for a pushed merge.
type MergeResult struct {
	Merged      bool
	Conflicts   []string
	Rework      bool // gate failed: the change must be reworked
	Reason      string
	MergeCommit string
}

// MergeCancel names the merge request an operator withdraws: by its id or by its issue, exactly one.
type MergeCancel struct {
	ID      string // the request's id (MR-n)
	IssueID string // or the issue whose pending or merging request it is
	Reason  string // kept as the request's error and in its event; empty: "cancelled"
	Actor   string // the session that asked (the event's actor); empty: "unnamed session"
}

// MergeDecision is what one merge queue step means for the request's issue.
type MergeDecision struct {
	Request     MergeRequest
	Requeued    bool // back to pending for another attempt
	ReopenIssue bool // reopen Request.IssueID for rework
	Infra       bool // out of tries for reasons of the merge itself, not the change: no attempt counted
	Reason      string
}

// MergeQueue is the merge queue the core drives (mergeq.Plug); every method returns the durable
// changes it implies and never does I/O.
type MergeQueue interface {
	// Restore loads saved live requests; ids continue after minSeq, slot epochs after minEpoch.
	Restore(reqs []MergeRequest, priority func(issueID string) int, minSeq, minEpoch int64) error
	// Seq is the sequence number of the newest request id.
	Seq() int64
	// Submit queues a request of worker for an issue of the given priority.
	Submit(now time.Time, worker string, priority int, s MergeSubmit) (MergeSubmitted, []Change, error)
	// Acquire gives refinery the slot of the best pending request (target "" = any).
	Acquire(now time.Time, refinery, target string) (MergeRequest, []Change, bool)
	// Merged records that the request held at epoch landed.
	Merged(now time.Time, id string, epoch int64, mergeCommit string) (MergeDecision, []Change, error)
	// Failed records that the request held at epoch did not land.
	Failed(now time.Time, id string, epoch int64, f MergeFailure) (MergeDecision, []Change, error)
	// Extend renews the slot deadline of the request held at epoch; a non-empty progress is its new note.
	Extend(now time.Time, id string, epoch int64, progress string) (MergeRequest, []Change, error)
	// Expire takes back every slot whose deadline has passed.
	Expire(now time.Time) ([]MergeDecision, []Change)
	// Abandon takes back every slot held by refinery, saying why ("" = the refinery left).
	Abandon(now time.Time, refinery, why string) ([]MergeDecision, []Change)
	// Cancel withdraws a live request.
	Cancel(now time.Time, id, reason string) (MergeRequest, []Change, error)
	// ByIssue returns the live (pending or merging) request of an issue.
	ByIssue(issueID string) (MergeRequest, bool)
	// NextDeadline is the earliest slot deadline.
	NextDeadline() (time.Time, bool)
	// Hold moves every slot's deadline forward by d: the time the coordinator's storage failed.
	Hold(d time.Duration)
	// List returns the live requests of target ("" = all): merging first, then pending in start order.
	List(target string) []MergeRequest
	// Get returns a live or recently finished request.
	Get(id string) (MergeRequest, bool)
	// Merging returns the requests whose slot refinery holds.
	Merging(refinery string) []MergeRequest
	// Stats counts pending and merging requests.
	Stats() (pending, merging int)
	// Decided returns what the newest finished request of an issue meant for it (merged, or failed
	// with ReopenIssue), when the issue has no live request and the request is still remembered.
	Decided(issueID string) (MergeDecision, bool)
	// LastMerged returns the newest merged request of an issue still remembered, live request or not.
	LastMerged(issueID string) (MergeRequest, bool)
}

// mergePush hands a merge slot to a refinery's session.
type mergePush struct {
	Worker  string
	Session uint64
	Req     MergeRequest
}

func (mergePush) isEffect() {}

// mergeCancelNote tells the refinery session holding the slot of a cancelled request to stop merging it.
type mergeCancelNote struct {
	Worker  string
	Session uint64
	Req     MergeRequest // the cancelled request, with the epoch of the slot it held
}

func (mergeCancelNote) isEffect() {}

// Meta keys of the scheduler's counters. MetaMergeSeq keeps the merge request id sequence across
// restarts (only the finished requests of leased issues are reloaded, see store.Load). The floors are
// written by store.Restore: the lease and merge epochs of the store a backup replaced, which the
// scheduler continues after so that no epoch a worker or refinery may still hold is handed out again.
const (
	MetaMergeSeq        = "merge_seq"
	MetaLeaseEpochFloor = "lease_epoch_floor"
	MetaMergeEpochFloor = "merge_epoch_floor"
)

// RoleRefinery is the hello role of merge workers.
const RoleRefinery = "refinery"

// initMerges builds the merge queue and the health window (newCore); restored slots of refineries get
// the reconnect grace like leases do.
func (c *core) initMerges(snap *Snapshot) error {
	c.hw = newHealthWindow(c.cfg)
	if c.cfg.MergeQueue == nil {
		return nil
	}
	c.mq = c.cfg.MergeQueue()
	var (
		reqs       []MergeRequest
		seq, epoch int64
	)
	if snap != nil {
		reqs = snap.Merges
		seq, _ = strconv.ParseInt(snap.Meta[MetaMergeSeq], 10, 64)
		epoch, _ = strconv.ParseInt(snap.Meta[MetaMergeEpochFloor], 10, 64)
	}
	err := c.mq.Restore(reqs, func(id string) int {
		if it := c.issues[id]; it != nil {
			return it.prio()
		}
		return 2
	}, seq, epoch)
	if err != nil {
		return fmt.Errorf("restore merge queue: %w", err)
	}
	c.mergeSeq = c.mq.Seq()
	held := map[string]bool{}
	for _, r := range reqs {
		if r.State == "merging" && r.Refinery != "" && !held[r.Refinery] {
			held[r.Refinery] = true
			c.addTimer(c.now.Add(c.cfg.Grace), timerMerge, r.Refinery)
		}
	}
	c.scheduleMerge()
	c.needMerge = true
	return nil
}

func (c *core) mergeQueue() (MergeQueue, error) {
	if c.mq == nil {
		return nil, Errorf(EUnavailable, "the merge queue is not configured on this server")
	}
	return c.mq, nil
}

// applyMerge records a merge queue step's changes and keeps the id sequence durable.
func (c *core) applyMerge(ch []Change) {
	for _, x := range ch {
		c.emit(x)
	}
	if s := c.mq.Seq(); s != c.mergeSeq {
		c.mergeSeq = s
		c.emit(MetaPut{Key: MetaMergeSeq, Value: strconv.FormatInt(s, 10)})
	}
	c.needMerge = true
	c.scheduleMerge()
}

// scheduleMerge arms the timer for the earliest slot deadline.
func (c *core) scheduleMerge() {
	if dl, ok := c.mq.NextDeadline(); ok && !dl.Equal(c.mqAt) {
		c.mqAt = dl
		c.addTimer(dl, timerMerge, "")
	}
}

// mergeSubmit queues a worker's merge request for an issue.
func (c *core) mergeSubmit(now time.Time, worker string, s MergeSubmit) (MergeSubmitted, error) {
	c.advance(now)
	mq, err := c.mergeQueue()
	if err != nil {
		return MergeSubmitted{}, err
	}
	if c.workers[worker] == nil {
		return MergeSubmitted{}, Errorf(EUnauthorized, "worker %q has not said hello", worker)
	}
	it := c.issues[s.IssueID]
	if it == nil {
		return MergeSubmitted{}, Errorf(ENotFound, "no issue %q", s.IssueID)
	}
	var since time.Time // the lease's start: a request of this attempt is not older
	if s.LeaseID != "" {
		l, err := c.liveLease(s.LeaseID)
		if err == nil {
			err = epochErr(l, s.Epoch)
		}
		if err != nil {
			return MergeSubmitted{}, err // an ended lease's work is not queued
		}
		if l.IssueID != it.id {
			return MergeSubmitted{}, Errorf(EInvalid, "lease %s is of issue %s, not %s", s.LeaseID, l.IssueID, it.id)
		}
		worker, since = l.Worker, l.CreatedAt // filed under the agent's worker, whoever carried the request
	}
	// A repeat of a submit whose reply was lost (the idempotency key is forgotten across a restart):
	// the same branch and commit from the same worker is the request already queued — or, within the
	// lease it was submitted under, the one already merged — not a conflict, nor a second merge.
	same := func(r MergeRequest) bool { return r.Branch == s.Branch && r.Commit == s.Commit && r.Worker == worker }
	if r, ok := mq.ByIssue(it.id); ok && same(r) {
		return MergeSubmitted{Request: r, ConflictsWith: []string{}, ConflictingFiles: []string{}}, nil
	}
	if r, ok := mq.LastMerged(it.id); ok && s.LeaseID != "" && same(r) && !r.CreatedAt.Before(since) {
		return MergeSubmitted{Request: r, ConflictsWith: []string{}, ConflictingFiles: []string{}}, nil
	}
	if d, ok := mq.Decided(it.id); ok && d.Request.State == "merged" && it.status == c.st.closed && it.lease == nil {
		// a second submit of finished work (a typo, a retried script) would reopen it if its branch fails
		return MergeSubmitted{}, Errorf(EConflict, "issue %s is closed and its branch was merged (%s): reopen the issue to merge more work for it",
			it.id, d.Request.ID)
	}
	res, ch, err := mq.Submit(now, worker, it.prio(), s)
	if err != nil {
		return MergeSubmitted{}, err
	}
	c.applyMerge(ch)
	if res.ConflictsWith == nil {
		res.ConflictsWith = []string{}
	}
	if res.ConflictingFiles == nil {
		res.ConflictingFiles = []string{}
	}
	return res, nil
}

// mergeReport records a refinery's result for the request it holds at epoch.
func (c *core) mergeReport(now time.Time, refinery, id string, epoch int64, r MergeResult) (MergeRequest, error) {
	c.advance(now)
	mq, err := c.mergeQueue()
	if err != nil {
		return MergeRequest{}, err
	}
	if cur, ok := mq.Get(id); ok && cur.State == "merging" && cur.Epoch == epoch && cur.Refinery != refinery {
		return MergeRequest{}, Errorf(ENotHolder, "merge request %s is held by %s, not %s", id, cur.Refinery, refinery)
	}
	var (
		d  MergeDecision
		ch []Change
	)
	if r.Merged {
		d, ch, err = mq.Merged(now, id, epoch, r.MergeCommit)
	} else {
		d, ch, err = mq.Failed(now, id, epoch, MergeFailure{Reason: r.Reason, Conflicts: r.Conflicts, Rework: r.Rework})
	}
	if err != nil {
		return MergeRequest{}, err
	}
	if w := c.workers[refinery]; w != nil {
		c.seen(w)
	}
	c.applyMerge(ch)
	c.applyDecisions([]MergeDecision{d})
	return d.Request, nil
}

// mergeCancel withdraws a live request (operator), named by id or by issue. A merging one frees its
// slot at once, and the refinery holding it, when connected, is told to stop (Outbox.CancelMerge); a
// report it sends anyway is refused (EConflict), as the request is no longer merging.
func (c *core) mergeCancel(now time.Time, mc MergeCancel) (MergeRequest, error) {
	c.advance(now)
	mq, err := c.mergeQueue()
	if err != nil {
		return MergeRequest{}, err
	}
	id := mc.ID
	switch {
	case id != "" && mc.IssueID != "":
		return MergeRequest{}, Errorf(EInvalid, "merge cancel: give the request id or the issue id, not both")
	case id == "" && mc.IssueID == "":
		return MergeRequest{}, Errorf(EInvalid, "merge cancel: the request id or the issue id is required")
	case id == "":
		r, ok := mq.ByIssue(mc.IssueID)
		if !ok {
			return MergeRequest{}, Errorf(ENotFound, "issue %s has no pending or merging merge request", mc.IssueID)
		}
		id = r.ID
	}
	if mc.Actor == "" {
		mc.Actor = "unnamed session"
	}
	return c.cancelMerge(id, mc.Reason, mc.Actor)
}

// applyDecisions applies what merge steps mean for their issues: rework reopens the issue (label
// Config.ReworkLabel); a merge closes an issue left in Config.CodeCompleteStatus. An issue under a
// lease is left alone; when that lease is the submitter's own session, its completion applies the
// decision (mergeDecidedDuring).
func (c *core) applyDecisions(ds []MergeDecision) {
	for _, d := range ds {
		it := c.issues[d.Request.IssueID]
		if it == nil {
			continue
		}
		switch {
		case d.ReopenIssue:
			if it.lease != nil || it.cls == clsDead {
				continue // someone already works on it again, or it was dead-lettered meanwhile
			}
			// A rework counts as a failed attempt: backoff before the next one, and dead-lettered
			// after MaxAttempts — a change that never passes the gate is not redone forever. A request
			// that ran out of tries for the merge's own reasons (a refinery that kept dying, a target
			// that kept moving) is redone without one: a correct change is not dead-lettered for them.
			n := it.attempts() + 1
			if d.Infra {
				n = it.attempts()
			} else if n >= c.cfg.MaxAttempts {
				c.deadLetter(it, n, "", d.Request.Worker, d.Request.ID+": "+d.Reason)
				c.convoysReopen(it)
				continue
			}
			it.setRetry(n, c.now.Add(c.backoff(max(n, 1))))
			var add []string
			if !hasLabel(it.labels(), c.cfg.ReworkLabel) {
				it.addLabel(c.cfg.ReworkLabel)
				add = []string{c.cfg.ReworkLabel}
			}
			c.setState(it, c.st.open, "", "")
			c.emitState(it, &[2][]string{add, nil})
			c.event("reopened", it.id, "", d.Request.Worker, d.Request.ID+": "+d.Reason)
			c.recompute(c.affected(it.id, c.parentsOf(it)))
			c.convoysReopen(it)
		case d.Request.State == "merged" && it.status == c.st.codeComplete && it.lease == nil:
			c.setState(it, c.st.closed, c.str(it.assignee), "merged")
			c.emitState(it, c.closedLabels(it))
			c.recompute(c.affected(it.id, c.parentsOf(it)))
		}
	}
}

// closedLabels drops the rework label from an issue that just closed (the rework is done) and returns
// the label change to record (nil: none).
func (c *core) closedLabels(it *issue) *[2][]string {
	if c.cfg.ReworkLabel == "" || !it.delLabel(c.cfg.ReworkLabel) {
		return nil
	}
	return &[2][]string{nil, {c.cfg.ReworkLabel}}
}

// mergeDecidedDuring applies, as lease l of it ends code complete, a merge outcome decided while l was
// live (the agent submitted its branch and the refinery finished before the agent reported): the
// merge closes the issue (if it waits in Config.CodeCompleteStatus), a failed one reopens it.
// "While l was live" is strictly after l was created: an outcome applied to the unleased issue
// reopens it and the same batch (same instant) may push it again as l, which must not be reopened
// for that outcome a second time when it ends.
func (c *core) mergeDecidedDuring(it *issue, l *Lease) {
	if c.mq == nil {
		return
	}
	if d, ok := c.mq.Decided(it.id); ok && d.Request.UpdatedAt.After(l.CreatedAt) {
		c.applyDecisions([]MergeDecision{d})
	}
}

// landedDuring reports whether a request submitted during lease l merged (its work is on its target,
// whatever became of the lease): a live request of the issue (a second submit) does not hide it, and one
// submitted before l (an earlier attempt's, landing while l runs) does not count.
func (c *core) landedDuring(it *issue, l *Lease) (MergeRequest, bool) {
	if c.mq == nil {
		return MergeRequest{}, false
	}
	r, ok := c.mq.LastMerged(it.id)
	if !ok || r.CreatedAt.Before(l.CreatedAt) {
		return MergeRequest{}, false
	}
	return r, true
}

// leaseLost settles the merge work of lease l, which ended without success (failed, expired, abandoned,
// released, cancelled, not acked), before its issue is requeued. A live request submitted during l
// (pending or merging) is withdrawn, its refinery told to stop: that attempt's work is not the issue's,
// and it landed after the issue had failed (or was redone) before. A request submitted during l that
// already merged closes the issue instead — requeued, the issue was done again and merged twice; it
// reports true and the caller requeues nothing.
func (c *core) leaseLost(it *issue, l *Lease) bool {
	if c.mq == nil || it == nil {
		return false
	}
	landed, ok := c.landedDuring(it, l)
	c.withdrawLeaseMerge(it, l)
	if ok {
		c.closeDone(it, l.Worker, "merged")
		c.event("completed", it.id, l.ID, l.Worker, "its branch merged ("+landed.ID+") before the lease ended")
		return true
	}
	return false
}

// withdrawLeaseMerge cancels the issue's live merge request if it was submitted during lease l, which
// ended; a merging one's refinery is told to stop.
func (c *core) withdrawLeaseMerge(it *issue, l *Lease) {
	if c.mq == nil || it == nil {
		return
	}
	if r, ok := c.mq.ByIssue(it.id); ok && !r.CreatedAt.Before(l.CreatedAt) {
		_, _ = c.cancelMerge(r.ID, "lease "+l.ID+" ended: "+l.Outcome, "")
	}
}

// withdrawIssueMerge cancels the issue's live merge request, if any, for reason.
func (c *core) withdrawIssueMerge(it *issue, reason string) {
	if c.mq == nil || it == nil {
		return
	}
	if r, ok := c.mq.ByIssue(it.id); ok {
		_, _ = c.cancelMerge(r.ID, reason, "")
	}
}

// cancelMerge withdraws the live request id for reason; the refinery merging it, if connected, is told
// to stop. actor, if set, is the session that asked (the merge_cancelled event's actor).
func (c *core) cancelMerge(id, reason, actor string) (MergeRequest, error) {
	prev, _ := c.mq.Get(id)
	r, ch, err := c.mq.Cancel(c.now, id, reason)
	if err != nil {
		return MergeRequest{}, err
	}
	for i := range ch {
		if ev, ok := ch[i].(EventAppend); ok && actor != "" {
			ev.Event.Actor = actor
			ch[i] = ev
		}
	}
	c.applyMerge(ch)
	if prev.State == "merging" {
		if w := c.workers[prev.Refinery]; w != nil && w.connected {
			c.effect(mergeCancelNote{Worker: w.row.Name, Session: w.session, Req: r})
		}
	}
	return r, nil
}

// mergeTimer handles a slot deadline (key "") or the end of a refinery's reconnect grace (key = its name).
func (c *core) mergeTimer(key string) {
	if c.mq == nil {
		return
	}
	var (
		ds []MergeDecision
		ch []Change
	)
	if key == "" {
		c.mqAt = time.Time{}
		ds, ch = c.mq.Expire(c.now)
	} else {
		w := c.workers[key]
		if w != nil && (w.connected || c.now.Before(w.disconnectedAt.Add(c.cfg.Grace))) {
			return
		}
		ds, ch = c.mq.Abandon(c.now, key, "")
	}
	c.applyMerge(ch)
	c.applyDecisions(ds)
}

// mergeConnected re-sends the slots a reconnecting refinery still holds.
func (c *core) mergeConnected(w *worker) {
	if c.mq == nil || w.row.Role != RoleRefinery {
		return
	}
	for _, r := range c.mq.Merging(w.row.Name) {
		c.effect(mergePush{Worker: w.row.Name, Session: w.session, Req: r})
	}
	c.needMerge = true
}

// extendMerges renews the slots of a refinery that shows life (a heartbeat without a lease id); its
// progress, if any, becomes their note.
func (c *core) extendMerges(w *worker, progress string) {
	if c.mq == nil || w.row.Role != RoleRefinery {
		return
	}
	for _, r := range c.mq.Merging(w.row.Name) {
		if _, ch, err := c.mq.Extend(c.now, r.ID, r.Epoch, progress); err == nil {
			for _, x := range ch {
				c.emit(x)
			}
		}
	}
}

// refinerySilent handles a refinery's heartbeat timeout (timerSilence). A refinery that heartbeats at
// least once per HeartbeatTimeout (two heartbeats of its session came that close; the reference one
// sends one every heartbeat_ms, a third of it) and then sends none for HeartbeatTimeout is hung —
// stopped, frozen, its host asleep with the connection still open: its slots are taken back (each
// attempt counts as an expired one; the target's queue moves on), it is told to stop those merges,
// and it gets no new slot until it shows life. A refinery that heartbeats less often, or never, keeps
// the slot deadline alone.
func (c *core) refinerySilent(name string) {
	w := c.workers[name]
	if c.mq == nil || w == nil || w.row.Role != RoleRefinery || !w.connected || !w.beatsOften ||
		c.now.Before(w.beatAt.Add(c.cfg.HeartbeatTimeout)) {
		return
	}
	held := c.mq.Merging(name)
	if len(held) == 0 {
		return
	}
	why := fmt.Sprintf("refinery %s sent no heartbeat for %s", name, c.cfg.HeartbeatTimeout)
	ds, ch := c.mq.Abandon(c.now, name, why)
	for _, r := range held {
		r.Error = why
		c.effect(mergeCancelNote{Worker: name, Session: w.session, Req: r})
	}
	if !w.stalled {
		w.stalled = true
		c.saveWorker(w, false)
	}
	c.applyMerge(ch)
	c.applyDecisions(ds)
}

// mergeDisconnected starts the reconnect grace of a refinery holding slots.
func (c *core) mergeDisconnected(w *worker) {
	if c.mq == nil || w.row.Role != RoleRefinery || len(c.mq.Merging(w.row.Name)) == 0 {
		return
	}
	c.addTimer(c.now.Add(c.cfg.Grace), timerMerge, w.row.Name)
}

// noteRole keeps c.refineries up to date after w's role was set.
func (c *core) noteRole(w *worker) {
	if w.row.Role != RoleRefinery {
		delete(c.refineries, w.row.Name)
		return
	}
	if c.refineries == nil {
		c.refineries = map[string]*worker{}
	}
	c.refineries[w.row.Name] = w
}

// dispatchMerges hands free merge slots to connected refineries (by name, round robin over
// capacity). No-op while paused.
func (c *core) dispatchMerges(now time.Time) {
	c.advance(now)
	if c.mq == nil || !c.needMerge || c.paused {
		return
	}
	c.needMerge = false
	var refs []*worker
	for _, w := range c.refineries {
		if w.connected && !w.stalled && !w.draining {
			refs = append(refs, w)
		}
	}
	if len(refs) == 0 {
		return
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].row.Name < refs[j].row.Name })
	held := make([]int, len(refs))
	for i, w := range refs {
		held[i] = len(c.mq.Merging(w.row.Name))
	}
	for progress := true; progress; {
		progress = false
		for i, w := range refs {
			if held[i] >= w.row.Capacity {
				continue
			}
			r, ch, ok := c.mq.Acquire(c.now, w.row.Name, "")
			if !ok {
				c.scheduleMerge()
				return
			}
			for _, x := range ch {
				c.emit(x)
			}
			held[i]++
			progress = true
			c.effect(mergePush{Worker: w.row.Name, Session: w.session, Req: r})
			if w.beatsOften {
				c.addTimer(c.now.Add(c.cfg.HeartbeatTimeout), timerSilence, w.row.Name)
			}
		}
	}
	c.scheduleMerge()
}

// MergeSubmit queues worker's merge request; the result names the live requests sharing files with it.
func (e *Engine) MergeSubmit(ctx context.Context, worker string, s MergeSubmit) (MergeSubmitted, error) {
	var res MergeSubmitted
	err := e.do(ctx, func(c *core, now time.Time) (err error) {
		res, err = c.mergeSubmit(now, worker, s)
		return err
	}, nil)
	if err != nil {
		return MergeSubmitted{}, err
	}
	return res, nil
}

// MergeReport records a refinery's result for the request it holds at epoch: a merge lands it;
// conflicts or Rework fail it and reopen its issue for rework; other failures retry.
func (e *Engine) MergeReport(ctx context.Context, refinery, id string, epoch int64, r MergeResult) (MergeRequest, error) {
	var req MergeRequest
	err := e.do(ctx, func(c *core, now time.Time) (err error) {
		req, err = c.mergeReport(now, refinery, id, epoch, r)
		return err
	}, nil)
	if err != nil {
		return MergeRequest{}, err
	}
	return req, nil
}

// MergeCancel withdraws a pending or merging request, named by id or by issue; it returns after the
// cancellation is committed. A merging request's slot is freed at once and the refinery holding it is
// told to stop (Outbox.CancelMerge); its later report is refused (EConflict).
func (e *Engine) MergeCancel(ctx context.Context, mc MergeCancel) (MergeRequest, error) {
	var req MergeRequest
	err := e.do(ctx, func(c *core, now time.Time) (err error) {
		req, err = c.mergeCancel(now, mc)
		return err
	}, nil)
	if err != nil {
		return MergeRequest{}, err
	}
	return req, nil
}

// MergeList returns the live merge requests of target ("" = all): merging first, then pending in start order.
func (e *Engine) MergeList(target string) ([]MergeRequest, error) {
	var (
		out []MergeRequest
		err error
	)
	if !e.read(func(c *core) {
		var mq MergeQueue
		if mq, err = c.mergeQueue(); err == nil {
			out = mq.List(target)
		}
	}) {
		return nil, Errorf(EUnavailable, "coordinator stopped")
	}
	if out == nil && err == nil {
		out = []MergeRequest{}
	}
	return out, err
}

// MergeGet returns a live or recently finished merge request.
func (e *Engine) MergeGet(id string) (MergeRequest, bool) {
	var (
		r  MergeRequest
		ok bool
	)
	e.read(func(c *core) {
		if c.mq != nil {
			r, ok = c.mq.Get(id)
		}
	})
	return r, ok
}
