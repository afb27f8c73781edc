package coord

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord/health"
)

// core is the scheduler state machine: no I/O, no goroutines, time passed in. Every decision
// appends durable Changes and Effects that the engine takes with take().
type core struct {
	cfg        Config
	now        time.Time
	issues     map[string]*issue
	rev        map[string][]revEdge  // dependency target (spawner for waits-for) -> edges pointing at it
	waitRev    map[string][]*issue   // the waits-for entries of rev[target]: the issues gated on it (none: absent)
	revIdx     map[string]revIndex   // positions in the long lists of rev (ready.go)
	kids       map[string]kidCount   // parent-child entries of rev[target] and how many close a gate (ready.go)
	revIndexAt int                   // the length from which a list gets one (0: revIndexMin; tests lower it)
	heap       readyHeap             // every ready issue
	added      addLog                // the issues put in heap, latest last (heap.go)
	labelHeaps map[string]*readyHeap // ready issues per label a filter asked for
	altHeaps   map[altKey]*altHeap   // ready issues per id prefix or type a costly filtered search asked for (heap.go)
	syms       symtab                // strings many issues repeat (issue.go)
	locs       locTable              // locations of the issues' packed times (stamp.go)
	st         statuses              // symbols of the configured statuses
	leases     map[string]*Lease     // live leases by id
	workers    map[string]*worker
	refineries map[string]*worker // the workers of role RoleRefinery
	freeQ      []*worker          // workers that may take a push, longest idle first
	waiters    waitQueue          // parked claims, oldest first
	waiterByID map[uint64]*waiter // the same by id
	timers     timerHeap
	maxEpoch   int64
	paused     bool
	workflow   map[string]bool
	rnd        *rand.Rand
	counts     [clsCount]int

	needDispatch bool

	// merge queue, health window (merge.go, healthcheck.go)
	mq        MergeQueue
	mqAt      time.Time // slot deadline the merge timer is armed for
	mergeSeq  int64
	needMerge bool
	convoys   map[string]map[string]*issue // convoy label -> member issues (convoys.go)
	// convoyTracking is convoy label -> its tracking issues (type convoy), a subset of convoys.
	convoyTracking map[string]map[string]*issue
	absent         map[string]bool // issues whose line a bd v1 file lacks (absent.go)
	hw             *health.Window
	initErr        error
	nextWaiter     uint64
	workBuf        []*issue
	changes        []Change
	effects        []outEffect
	arena          *batchArena     // the values changes and effects point to (arena.go; set by the engine, may be nil)
	affBuf         []string        // affected's list (ready.go)
	ended          []*Lease        // leases ended since the engine last called reuseEnded
	freeLeases     []*Lease        // ended leases, zeroed, for newLease
	orphans        map[string]bool // live leases loaded on issues no longer hooked or in progress for their worker
}

// newCore builds a core from a snapshot; every worker starts disconnected at now with its grace running.
func newCore(cfg Config, snap *Snapshot, now time.Time) *core {
	cfg = cfg.withDefaults(now)
	c := &core{
		cfg: cfg, now: now,
		issues:   make(map[string]*issue),
		rev:      make(map[string][]revEdge),
		leases:   make(map[string]*Lease),
		workers:  make(map[string]*worker),
		workflow: make(map[string]bool),
		rnd:      rand.New(cfg.Rand),
	}
	c.heap.aging = cfg.Aging
	for _, t := range cfg.WorkflowTypes {
		c.workflow[t] = true
	}
	c.initSyms()
	if snap == nil {
		c.initErr = c.initMerges(nil)
		return c
	}
	c.maxEpoch = snap.MaxEpoch
	if floor, _ := strconv.ParseInt(snap.Meta[MetaLeaseEpochFloor], 10, 64); floor > c.maxEpoch {
		c.maxEpoch = floor
	}
	c.paused = snap.Meta["paused"] == "true"
	for _, m := range snap.Issues {
		m = normalize(m, cfg)
		c.insertIssue(m)
		c.seedEpochs(now, m.Status, m.Assignee)
	}
	for _, row := range snap.Workers {
		// row.Draining alone: the state reads draining too while a worker drains itself, a drain that
		// ends with its session (a crash or a rollback made it an operator's); migration 0006 set
		// draining for the rows of the operators' drains from before it
		w := &worker{row: row, leases: make(map[string]*Lease), disconnectedAt: now, draining: row.Draining}
		c.workers[row.Name] = w
		c.noteRole(w)
	}
	for i := range snap.Leases {
		l := snap.Leases[i]
		it := c.issues[l.IssueID]
		if !l.Live() || it == nil || it.lease != nil {
			continue
		}
		if l.Epoch > c.maxEpoch {
			c.maxEpoch = l.Epoch
		}
		w := c.workers[l.Worker]
		if w == nil {
			w = &worker{row: WorkerRow{Name: l.Worker, Role: "worker", Capacity: 1, FirstSeen: now, LastSeen: now},
				leases: make(map[string]*Lease), disconnectedAt: now}
			c.workers[l.Worker] = w
		}
		// its live leases say when the worker was last seen better than its row (written with state
		// changes only): a push went to it connected, an ack or a heartbeat set the deadline
		seen := l.CreatedAt
		if l.State == LeaseAcked {
			if t := l.Deadline.Add(-cfg.HeartbeatTimeout); t.After(seen) {
				seen = t
			}
		}
		if seen.After(w.row.LastSeen) && !seen.After(now) {
			w.row.LastSeen = seen
		}
		lp := &l
		it.lease = lp
		if l.Reserved {
			it.flags |= fReserved
		}
		c.leases[l.ID] = lp
		w.leases[l.ID] = lp
		c.addTimer(c.leaseDue(lp), timerLease, l.ID)
		if c.str(it.assignee) != l.Worker || (it.status != c.st.hooked && it.status != c.st.inProgress) {
			// the issue changed where no engine saw it (`gtc import` with no server running, an
			// older build's, a hand edit of gtc.db): the lease ends at the first step (leaseTimer)
			if c.orphans == nil {
				c.orphans = make(map[string]bool)
			}
			c.orphans[l.ID] = true
			c.addTimer(now, timerLease, l.ID)
		}
	}
	for _, w := range c.workers {
		w.row.State = c.workerState(w)
		if len(w.leases) > 0 {
			c.addTimer(now.Add(cfg.Grace), timerGrace, w.row.Name)
		}
		// the row's last_seen is written with state changes only: a worker connected when the server
		// stopped was seen later than it says, so each gets at least the grace to come back
		c.armForget(w, later(w.row.LastSeen.Add(cfg.ForgetGone), now.Add(cfg.Grace)))
	}
	c.recomputeAll()
	c.initErr = c.initMerges(snap)
	c.changes, c.effects = nil, nil
	return c
}

// normalize applies bd's read defaults.
func normalize(m IssueMeta, cfg Config) IssueMeta {
	if m.Status == "" {
		m.Status = cfg.StatusOpen
	}
	if m.IssueType == "" {
		m.IssueType = "task"
	}
	return m
}

// insertIssue adds a new issue without recomputing anything.
func (c *core) insertIssue(m IssueMeta) *issue {
	it := c.newIssue(m)
	c.issues[m.ID] = it
	c.indexConvoys(it, true)
	c.counts[clsOther]++
	c.indexEdges(it, true)
	return it
}

// take returns and clears the pending Changes and Effects; the values they point to stay with them
// (the arena they came from is the engine's to reuse).
func (c *core) take() ([]Change, []outEffect) {
	ch, ef := c.changes, c.effects
	c.changes, c.effects, c.arena = nil, nil, nil
	return ch, ef
}

func (c *core) emit(ch Change) {
	if v, ok := ch.(EventAppend); ok { // a sub-component's (the merge queue's): numbered by the store as the core's
		ev := c.arena.event()
		ev.Event = v.Event
		ch = ev
	}
	c.changes = append(c.changes, ch)
}
func (c *core) effect(e outEffect) { c.effects = append(c.effects, e) }

// emitLease records the current state of a lease as a LeasePut.
func (c *core) emitLease(l *Lease) {
	lp := c.arena.lease()
	lp.Lease = *l
	c.emit(lp)
}

// event records an audit-log entry.
func (c *core) event(kind, issueID, leaseID, worker, detail string) {
	ev := c.arena.event()
	ev.Event = Event{Time: c.now, Kind: kind, IssueID: issueID, LeaseID: leaseID, Worker: worker,
		Actor: "gtc", Detail: detail}
	c.emit(ev)
}

// eventAs records an operator's action (pause, drain, cancel) with the session that asked as its actor
// ("unnamed session": an HTTP call without X-Gtc-Worker), so the audit log says who paused the fleet.
func (c *core) eventAs(actor, kind, issueID, leaseID, worker, detail string) {
	if actor == "" {
		actor = "unnamed session"
	}
	ev := c.arena.event()
	ev.Event = Event{Time: c.now, Kind: kind, IssueID: issueID, LeaseID: leaseID, Worker: worker, Actor: actor, Detail: detail}
	c.emit(ev)
}

// advance moves the core's time forward (never back).
func (c *core) advance(now time.Time) {
	if now.After(c.now) {
		c.now = now
	}
}

// seedEpochs starts the lease counter of a store that has never made a lease at the clock's
// microseconds when it holds an issue claimed by someone (status hooked or in_progress, an assignee):
// gtc.db was lost and rebuilt from issues.jsonl while workers may still run leases of the lost one.
// Restarted at 1, the counter would hand a worker a new lease under the id and epoch of one it still
// runs, and that work's report would close the new lease's issue. A lost store made at most one lease
// a microsecond since it began (at most ~30,000 a second), so its epochs stay below the clock's; the
// microseconds stay exact in a JavaScript number until the year 2255.
func (c *core) seedEpochs(now time.Time, status, assignee string) {
	if c.maxEpoch == 0 && assignee != "" && (status == c.cfg.StatusHooked || status == c.cfg.StatusInProgress) {
		c.maxEpoch = max(0, now.UnixMicro())
	}
}

// putIssues applies issue creations, updates and imports from outside the scheduler.
func (c *core) putIssues(now time.Time, puts []IssuePut) error {
	c.advance(now)
	for i := range puts {
		if puts[i].Issue.ID == "" {
			return Errorf(EInvalid, "issue %d has no id", i)
		}
		if !puts[i].FromImport {
			if err := c.checkNoCycle(&puts[i].Issue); err != nil {
				return err
			}
			if err := c.checkNoTombstoneDep(&puts[i].Issue); err != nil {
				return err
			}
		}
		if t := puts[i].IfUnchangedSince; t != nil {
			if old := c.issues[puts[i].Issue.ID]; old != nil && c.updatedAt(old).After(*t) {
				return Errorf(EConflict, "issue %s changed since it was read (by the scheduler or an import): read it again", old.id)
			}
		}
		if !puts[i].Create {
			continue
		}
		if c.issues[puts[i].Issue.ID] != nil {
			return Errorf(EConflict, "issue %s already exists", puts[i].Issue.ID)
		}
		for _, d := range puts[i].Issue.Dependencies {
			if c.issues[d.DependsOnID] == nil {
				if d.Type == depParentChild {
					return Errorf(ENotFound, "parent %s does not exist", d.DependsOnID)
				}
				return Errorf(ENotFound, "depends on %s, which does not exist", d.DependsOnID)
			}
		}
	}
	// A convoy is complete (its tracking issue closes) or not (it opens again) by the batch's end state:
	// an import in file order puts a closed member before an open one, which must not close the
	// tracking issue only to open it again.
	var convoyPuts []*issue
	for _, p := range puts {
		old := c.issues[p.Issue.ID]
		if old != nil && p.FromImport && c.updatedAt(old).After(p.Issue.UpdatedAt) {
			continue // read from the file before gtc's latest change to it: gtc's version wins
		}
		if old != nil && p.KeepState {
			c.keepState(&p.Issue, old)
		}
		if old != nil && !p.FromImport && old.lease != nil && p.Issue.Assignee != old.lease.Worker &&
			(p.Issue.Status == c.cfg.StatusHooked || p.Issue.Status == c.cfg.StatusInProgress) {
			// reassigned through gtc while leased (issue update --assignee): the lease ends below and the
			// issue goes back to the queue — to its new assignee only, if it names one — instead of
			// staying in progress with nobody working on it
			p.Issue.Status = c.cfg.StatusOpen
		}
		m := normalize(MetaOf(p.Issue), c.cfg)
		c.emit(p)
		if p.FromImport {
			c.seedEpochs(now, m.Status, m.Assignee)
		}
		if old == nil {
			it := c.insertIssue(m)
			c.recompute(c.affected(m.ID, c.parentsOf(it)))
			convoyPuts = append(convoyPuts, it)
			c.retrack(it)
			continue
		}
		wasDead := old.cls == clsDead
		// A human revived a dead-lettered issue: it starts over with a fresh attempt budget, and loses
		// the failed label the status change left behind (below).
		revived := wasDead && !(m.Status == c.cfg.StatusBlocked && hasLabel(m.Labels, c.cfg.FailedLabel))
		if old.status == c.st.codeComplete && old.lease == nil && !c.closedStatus(m.Status) && m.Status != c.cfg.CodeCompleteStatus {
			// sent back while it waited for its merge: that request is not the work any more (it could
			// merge whatever its branch holds by then); the next attempt submits its own
			c.withdrawIssueMerge(old, "issue "+old.id+" sent back to "+m.Status)
		}
		// an outside reopen (bd, a hand edit) leaves a trace in the audit log, as an outside close does
		reopened := p.FromImport && old.status == c.st.closed && !c.closedStatus(m.Status)
		// any other change of status or assignee too, with who made it: an operator's issue update or
		// close (the session), or the file (bd, git, a hand edit)
		var changed string
		if oldStatus, oldAssignee := c.str(old.status), c.str(old.assignee); !reopened && (oldStatus != m.Status || oldAssignee != m.Assignee) {
			changed = StatusChange(oldStatus, m.Status, oldAssignee, m.Assignee)
			if revived {
				changed += " (out of dead letter: a fresh attempt budget)"
			}
		} else if revived && !reopened {
			changed = "out of dead letter (label " + c.cfg.FailedLabel + " removed): a fresh attempt budget"
		}
		if changed != "" {
			actor := p.Actor // "": eventAs names it an unnamed session
			if p.FromImport {
				actor, changed = "issues.jsonl", changed+" (changed outside gtc)"
			}
			c.eventAs(actor, "status_changed", m.ID, "", "", changed)
		}
		m.Attempts, m.NotBefore = old.attempts(), old.notBefore()
		if m.StartedAt == nil {
			m.StartedAt = c.startedAt(old)
		}
		if l := old.lease; l != nil && (m.Assignee != l.Worker ||
			(m.Status != c.cfg.StatusHooked && m.Status != c.cfg.StatusInProgress)) {
			ended, why := "changed outside gtc", "issue changed outside gtc"
			if !p.FromImport {
				why = "issue changed through gtc (" + m.Status + ", assignee " + strconv.Quote(m.Assignee) + ")"
				ended = why
			}
			c.endLease(l, "cancelled", ended)
			c.cancelEffect(l, why)
			c.event("cancelled", l.IssueID, l.ID, l.Worker, why)
			if !c.closedStatus(m.Status) && m.Status != c.cfg.CodeCompleteStatus {
				// sent back (reopened, reassigned, deferred): that attempt's work is not the issue's
				// any more; a close (or code complete) keeps its merge request
				c.withdrawLeaseMerge(old, l)
			}
		}
		parents := c.parentsOf(old)
		c.indexEdges(old, false)
		c.indexConvoys(old, false)
		if old.hpos >= 0 {
			// its heap key may change below, and recompute refreshes other issues (moving heap
			// items past it) before it: out of the heaps first, refresh puts it back
			c.heapDel(old)
		}
		c.setMeta(old, m)
		var labels *[2][]string
		if revived && old.delLabel(c.cfg.FailedLabel) {
			labels = &[2][]string{nil, {c.cfg.FailedLabel}}
		}
		c.indexConvoys(old, true)
		c.indexEdges(old, true)
		if revived {
			old.setRetry(0, time.Time{})
			c.emitState(old, labels)
		}
		if reopened {
			c.event("reopened", m.ID, "", "", "issue changed outside gtc: "+m.Status)
		}
		c.recompute(c.affected(m.ID, append(parents, c.parentsOf(old)...)))
		convoyPuts = append(convoyPuts, old)
		c.retrack(old)
	}
	for _, it := range convoyPuts {
		c.convoysOf(it)
		c.convoysReopen(it)
	}
	return nil
}

// checkNoCycle refuses a change through the protocol that would close a cycle of blocking edges
// (blocks, parent-child, conditional-blocks, waits-for): such issues would wait on each other for good.
// Only the edges the change adds are followed; what the file holds (an import) is taken as it is.
func (c *core) checkNoCycle(is *beads.Issue) error {
	if len(is.Dependencies) == 0 || len(c.rev[is.ID]) == 0 {
		return nil // no edge points at it: no path comes back to it
	}
	var have map[string]bool
	var buf [1]edge
	if old := c.issues[is.ID]; old != nil {
		have = map[string]bool{}
		for _, e := range c.edges(old, &buf) {
			have[e.target] = true
		}
	}
	for _, e := range edgesOf(MetaOf(*is).Deps) {
		if have[e.target] || e.target == is.ID {
			continue
		}
		seen := map[string]bool{e.target: true}
		for stack := []string{e.target}; len(stack) > 0; {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			it := c.issues[id]
			if it == nil {
				continue
			}
			for _, f := range c.edges(it, &buf) {
				if f.target == is.ID {
					return Errorf(EConflict, "dependency cycle: %s would depend on %s, which depends on %s", is.ID, e.target, is.ID)
				}
				if !seen[f.target] {
					seen[f.target] = true
					stack = append(stack, f.target)
				}
			}
		}
	}
	return nil
}

// checkNoTombstoneDep refuses a change through the protocol that adds a blocks, parent-child or
// conditional-blocks edge to a deleted issue: a tombstone never holds anything back, so the edge would
// not do what it says. Edges the issue had already, and imports, are kept (a waits-for edge's gate is
// its target's children, which a deletion does not change).
func (c *core) checkNoTombstoneDep(is *beads.Issue) error {
	if len(is.Dependencies) == 0 {
		return nil
	}
	var buf [1]edge
	var old []edge
	if it := c.issues[is.ID]; it != nil {
		old = c.edges(it, &buf)
	}
	for _, d := range is.Dependencies {
		if k := edgeKindOf(d.Type); k == 0 || k == edgeWaitsFor {
			continue
		}
		t := c.issues[d.DependsOnID]
		if t == nil || c.str(t.status) != "tombstone" || slices.ContainsFunc(old, func(e edge) bool { return e.target == d.DependsOnID }) {
			continue
		}
		return Errorf(EInvalid, "depends on %s, which is deleted (tombstone): it would never hold anything back", d.DependsOnID)
	}
	return nil
}

// keepState overwrites the scheduler-owned fields of is with the current state of it.
func (c *core) keepState(is *beads.Issue, it *issue) {
	status := c.str(it.status)
	switch {
	case it.status != c.st.closed:
		is.ClosedAt = nil
	case is.Status != status || is.ClosedAt == nil:
		t := c.updatedAt(it) // closed by the scheduler after the caller's read: closed_at is that change's time
		is.ClosedAt = &t
	}
	is.Status, is.Assignee, is.CloseReason = status, c.str(it.assignee), c.str(it.closeReason)
	if st := c.startedAt(it); st != nil {
		is.StartedAt = st
	}
	// The dead-letter label is the scheduler's too: a read from before a dead-letter must not drop it
	// (the issue would stay blocked, neither ready nor dead-lettered), one from before a revival must
	// not bring it back.
	if f := c.cfg.FailedLabel; f != "" {
		switch now, in := hasLabel(it.labels(), f), hasLabel(is.Labels, f); {
		case now && !in:
			is.Labels = append(slices.Clone(is.Labels), f)
			slices.Sort(is.Labels)
		case !now && in:
			is.Labels = slices.DeleteFunc(slices.Clone(is.Labels), func(l string) bool { return l == f })
		}
	}
}

// emitState records the scheduler-owned fields of an issue as an IssueState change, then closes the
// convoys a closed issue completes.
func (c *core) emitState(it *issue, labels *[2][]string) {
	c.emitStateOnly(it, labels)
	c.convoysOf(it)
}

// emitStateOnly is emitState without the convoy check.
func (c *core) emitStateOnly(it *issue, labels *[2][]string) {
	rec := c.arena.state()
	rec.st = IssueState{ID: it.id, Status: c.str(it.status), Assignee: c.str(it.assignee), UpdatedAt: c.updatedAt(it),
		CloseReason: c.str(it.closeReason), Attempts: it.attempts(), NotBefore: it.notBefore()}
	st := &rec.st
	if c.startedInto(it, &rec.started) {
		st.StartedAt = &rec.started
	}
	if it.status == c.st.closed {
		rec.closed = st.UpdatedAt
		st.ClosedAt = &rec.closed
	}
	if labels != nil {
		st.AddLabels, st.DelLabels = labels[0], labels[1]
	}
	c.emit(st)
}

// setStatus changes the status and assignee of an issue, records it and recomputes what depends on it.
func (c *core) setStatus(it *issue, status sym, assignee string) {
	c.gateFlip(it, status)
	it.status, it.assignee = status, c.intern(assignee)
	c.touch(it)
	if status != c.st.closed {
		it.closeReason = 0
	}
	c.emitState(it, nil)
	c.recompute(c.affected(it.id, c.parentsOf(it)))
}

// setState sets the status, assignee and close reason of an issue at now (the caller records it).
func (c *core) setState(it *issue, status sym, assignee, closeReason string) {
	c.gateFlip(it, status)
	it.status, it.assignee, it.closeReason = status, c.intern(assignee), c.intern(closeReason)
	c.touch(it)
}

// pause stops (or resumes) new assignments at actor's request.
func (c *core) pause(now time.Time, p bool, actor string) {
	c.advance(now)
	if c.paused == p {
		return
	}
	c.paused = p
	v, kind := "false", "resumed"
	if p {
		v, kind = "true", "paused"
	} else {
		c.needDispatch = true
	}
	c.emit(MetaPut{Key: "paused", Value: v})
	c.eventAs(actor, kind, "", "", "", "")
}

// readyIDs lists up to limit ready issue ids in assignment order (limit <= 0: all).
func (c *core) readyIDs(limit int) []string {
	var out []string
	c.heap.walk(func(it *issue) bool {
		out = append(out, it.id)
		return limit > 0 && len(out) >= limit
	})
	return out
}

// readyForAbsent counts the ready issues assigned to a name with no live worker session (gone, or a CLI
// session or a refinery, which are pushed no issues): they go to that worker only, so nothing takes them
// while it is away (one pass over the ready heap).
func (c *core) readyForAbsent() int {
	n := 0
	c.heap.each(func(it *issue) {
		if a := c.str(it.assignee); a != "" {
			if w := c.workers[a]; w == nil || !w.connected || w.row.Role == "client" || w.row.Role == RoleRefinery {
				n++
			}
		}
	})
	return n
}

// status counts issues and workers.
func (c *core) status() Status {
	s := Status{Paused: c.paused, Issues: IssueCounts{
		Ready: c.heap.Len(), Leased: len(c.leases), Closed: c.counts[clsClosed],
		DeadLettered: c.counts[clsDead], Blocked: c.counts[clsBlocked], Total: len(c.issues),
	}}
	for _, w := range c.workers {
		if w.row.Role == "client" {
			continue // a CLI or script session, not a worker (gtc status, the gtc_workers gauge)
		}
		st := c.workerState(w)
		s.Workers.add(st)
		if w.row.Role == RoleRefinery {
			s.Refineries.add(st)
		}
	}
	return s
}

// add counts one session in state st.
func (n *WorkerCounts) add(st string) {
	switch st {
	case WorkerIdle:
		n.Idle++
	case WorkerBusy:
		n.Busy++
	case WorkerDraining:
		n.Draining++
	case WorkerStalled:
		n.Stalled++
	default:
		n.Gone++
	}
}

// StatusChange is the detail of a status_changed event: "status open → closed", "assignee "" → "bob"",
// or both joined by a comma ("" when neither changed).
func StatusChange(oldStatus, status, oldAssignee, assignee string) string {
	var parts []string
	if oldStatus != status {
		parts = append(parts, "status "+oldStatus+" → "+status)
	}
	if oldAssignee != assignee {
		parts = append(parts, "assignee "+strconv.Quote(oldAssignee)+" → "+strconv.Quote(assignee))
	}
	return strings.Join(parts, ", ")
}
