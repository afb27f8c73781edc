package coord

import "time"

// issue is the in-memory state of one issue, kept compact because the core holds every issue of the
// workspace (100,000 and more): 112 bytes (one size class) for a plain issue with at most one
// dependency whose metadata is "" or "{}", no labels and no failed attempt; the rarely set fields
// live behind x. The IssueMeta it was built from is rebuilt by metaOf.
//
// Per field, whether the exact value flows out of the core (and so is kept exactly):
//   - id, priority, labels, deps, pinned, ephemeral, deferUntil: kept as given (deps may be held as one
//     inline dependency, rebuilt field by field; a priority beyond int32 is kept in x).
//   - status, itype, assignee, closeReason: interned (sym); the same string comes back.
//   - updatedAt, startedAt: flow out (IssueState.UpdatedAt/ClosedAt/StartedAt, keepState) as the same
//     instant in the same zone name and offset, so they format alike; packed as Unix nanoseconds and a
//     location index (stamp.go), without the monotonic reading of a clock time (the core compares them
//     only with times read back from the store or a file, which carry none). x.notBefore: kept as given.
//   - CreatedAt only orders issues (readyHeap.less, agedAt) and never leaves the core: kept as Unix
//     seconds + nanoseconds, which order exactly like the time.Time instants (Before and Equal compare
//     instants; the Location plays no part). One difference: two CreatedAt values that both carry a
//     monotonic reading (issues created by this process from a real clock) were compared by that
//     reading; now by wall time, as a core restored from the store always did (the store keeps no
//     monotonic reading), so a live core and its restart order alike.
type issue struct {
	id          string
	lease       *Lease      // live lease, if any
	x           *issueExtra // nil for a plain issue
	dep         string      // On of the only dependency, when flags has fDep (otherwise the deps are in x)
	upd         int64       // updated_at as Unix nanoseconds (noTime: zero), location updLoc (stamp.go)
	started     int64       // started_at, the first ack (noTime: none), location startLoc; set only once
	createdSec  int64       // CreatedAt as Unix seconds and nanoseconds (ordering only, see above)
	createdNsec int32
	priority    int32 // exact unless fSpill (then in x.sp)
	hpos        int32 // position in the global ready heap, -1 = absent
	status      sym
	itype       sym
	assignee    sym
	closeReason sym
	depType     sym   // Type of the inline dependency
	depth       uint8 // distance to the nearest directly blocked ancestor, noBlock if none
	cls         uint8
	flags       uint8
	updLoc      uint8
	startLoc    uint8
	blockAt     uint16 // where directBlocked found an edge holding it back last (a hint)
}

// issue flags.
const (
	fDirect    = 1 << iota // held back by one of its own edges
	fPinned                // IssueMeta.Pinned
	fEphemeral             // IssueMeta.Ephemeral
	fDep                   // one dependency held inline (dep, depType)
	fDepBraces             // the inline dependency's Metadata is inlineDepMD (else "")
	fSpill                 // updated_at, started_at and priority are in x.sp (they do not pack)
	fReserved              // its live (or last) lease went to the worker it was assigned to before: see keepAssignee
	fAbsent                // its line is missing from a bd v1 file: not handed out (absent.go)
)

// inlineDepMD is the one non-empty dependency metadata kept inline (the load test and bd write it).
const inlineDepMD = "{}"

// issueExtra holds the fields of an issue that are empty for almost every issue.
type issueExtra struct {
	labels     []string
	lheaps     []heapPos // label heaps holding the issue, with its position in each
	deps       []Dep     // every dependency, when they are not held inline
	edges      []edge    // the readiness edges of deps
	deferUntil *time.Time
	notBefore  time.Time // zero, or the end of the retry backoff
	attempts   int       // failed attempts so far
	rejectedBy string    // the worker session that last rejected it (rejectKey); not pushed to that session again
	rejectedAt time.Time // when, for the end of the hold (Config.RejectHold)
	sp         *spilled  // the exact times and priority, when fSpill
}

// heapPos is an issue's position in one label heap.
type heapPos struct {
	h   *readyHeap
	pos int
}

func (x *issueExtra) empty() bool {
	return len(x.labels) == 0 && len(x.lheaps) == 0 && x.deps == nil && x.deferUntil == nil &&
		x.notBefore.IsZero() && x.attempts == 0 && x.rejectedBy == "" && x.sp == nil
}

// extra returns the issue's side struct, allocating it on first use.
func (it *issue) extra() *issueExtra {
	if it.x == nil {
		it.x = &issueExtra{}
	}
	return it.x
}

// trim drops an empty side struct.
func (it *issue) trim() {
	if it.x != nil && it.x.empty() {
		it.x = nil
	}
}

func (it *issue) labels() []string {
	if it.x == nil {
		return nil
	}
	return it.x.labels
}

func (it *issue) attempts() int {
	if it.x == nil {
		return 0
	}
	return it.x.attempts
}

func (it *issue) notBefore() time.Time {
	if it.x == nil {
		return time.Time{}
	}
	return it.x.notBefore
}

func (it *issue) deferUntil() *time.Time {
	if it.x == nil {
		return nil
	}
	return it.x.deferUntil
}

func (it *issue) rejectedBy() string {
	if it.x == nil {
		return ""
	}
	return it.x.rejectedBy
}

// setRetry sets the failed-attempt count and the backoff end.
func (it *issue) setRetry(attempts int, notBefore time.Time) {
	if attempts == 0 && notBefore.IsZero() && it.x == nil {
		return
	}
	x := it.extra()
	x.attempts, x.notBefore = attempts, notBefore
	it.trim()
}

// setRejectedBy records the worker session that last rejected the issue, and when (or, with "" and the
// zero time, forgets it).
func (it *issue) setRejectedBy(name string, at time.Time) {
	if name == "" && it.x == nil {
		return
	}
	x := it.extra()
	x.rejectedBy, x.rejectedAt = name, at
	it.trim()
}

// rejectedUntil is when the hold of the issue's last rejection ends (zero: none).
func (it *issue) rejectedUntil(hold time.Duration) time.Time {
	if it.x == nil || it.x.rejectedBy == "" {
		return time.Time{}
	}
	return it.x.rejectedAt.Add(hold)
}

// addLabel adds l to the issue's labels (copy on write: the slice may be shared with a caller's issue).
func (it *issue) addLabel(l string) {
	x := it.extra()
	x.labels = append(append([]string(nil), x.labels...), l)
}

// delLabel removes every l from the issue's labels (copy on write, like addLabel); it reports whether
// there was one. The issue must be out of the ready heaps (label heaps are keyed by its labels).
func (it *issue) delLabel(l string) bool {
	if !hasLabel(it.labels(), l) {
		return false
	}
	x := it.extra()
	keep := make([]string, 0, len(x.labels))
	for _, v := range x.labels {
		if v != l {
			keep = append(keep, v)
		}
	}
	x.labels = keep
	return true
}

func (it *issue) direct() bool { return it.flags&fDirect != 0 }

func (it *issue) setDirect(d bool) {
	if d {
		it.flags |= fDirect
	} else {
		it.flags &^= fDirect
	}
}

// agedAt is the aging sort key: created_at moved later by one aging step per priority level.
func (it *issue) agedAt(aging time.Duration) time.Time {
	return time.Unix(it.createdSec, int64(it.createdNsec)).Add(time.Duration(it.prio()) * aging)
}

// newIssue builds the in-memory issue of a (normalized) meta.
func (c *core) newIssue(m IssueMeta) *issue {
	it := &issue{id: m.ID, hpos: -1, depth: noBlock, cls: clsOther, started: noTime}
	c.setMeta(it, m)
	return it
}

// setMeta replaces the issue's fields with m (same id), keeping what only the scheduler holds: the
// lease, the heap positions, readiness state and the worker that last rejected it. Its edges must not be
// indexed meanwhile (indexEdges): the status it sets is not counted in kids.
func (c *core) setMeta(it *issue, m IssueMeta) {
	it.status, it.itype = c.intern(m.Status), c.intern(m.IssueType)
	it.assignee, it.closeReason = c.intern(m.Assignee), c.intern(m.CloseReason)
	it.createdSec, it.createdNsec = m.CreatedAt.Unix(), int32(m.CreatedAt.Nanosecond())
	it.flags &= fDirect | fSpill | fReserved | fAbsent // the scheduler's own, kept across an update
	if m.Pinned {
		it.flags |= fPinned
	}
	if m.Ephemeral {
		it.flags |= fEphemeral
	}
	it.dep, it.depType = "", 0
	var deps []Dep
	switch {
	case len(m.Deps) == 1 && (m.Deps[0].Metadata == "" || m.Deps[0].Metadata == inlineDepMD):
		d := m.Deps[0]
		it.dep, it.depType = d.On, c.intern(d.Type)
		if t := c.issues[d.On]; t != nil {
			it.dep = t.id // the same text, held once (a decoded record has its own copy)
		}
		it.flags |= fDep
		if d.Metadata != "" {
			it.flags |= fDepBraces
		}
	case len(m.Deps) > 0:
		deps = m.Deps
	}
	var x issueExtra
	if it.x != nil {
		x.lheaps, x.rejectedBy, x.rejectedAt, x.sp = it.x.lheaps, it.x.rejectedBy, it.x.rejectedAt, it.x.sp
	}
	x.labels, x.deferUntil, x.notBefore, x.attempts = m.Labels, m.DeferUntil, m.NotBefore, m.Attempts
	if deps != nil {
		x.deps, x.edges = deps, edgesOf(deps)
	}
	switch {
	case !x.empty() && it.x != nil:
		*it.x = x
	case !x.empty():
		it.x = &x
	default:
		it.x = nil
	}
	c.setTimes(it, m.UpdatedAt, m.StartedAt, m.Priority)
}

// metaOf rebuilds the IssueMeta of an issue (CreatedAt as the same instant, in UTC).
func (c *core) metaOf(it *issue) IssueMeta {
	m := IssueMeta{ID: it.id, Status: c.str(it.status), Priority: it.prio(), IssueType: c.str(it.itype),
		Assignee: c.str(it.assignee), CreatedAt: time.Unix(it.createdSec, int64(it.createdNsec)).UTC(),
		UpdatedAt: c.updatedAt(it), Pinned: it.flags&fPinned != 0, Ephemeral: it.flags&fEphemeral != 0,
		CloseReason: c.str(it.closeReason), StartedAt: c.startedAt(it)}
	if it.flags&fDep != 0 {
		d := Dep{On: it.dep, Type: c.str(it.depType)}
		if it.flags&fDepBraces != 0 {
			d.Metadata = inlineDepMD
		}
		m.Deps = []Dep{d}
	}
	if x := it.x; x != nil {
		m.Labels, m.DeferUntil, m.NotBefore, m.Attempts = x.labels, x.deferUntil, x.notBefore, x.attempts
		if x.deps != nil {
			m.Deps = x.deps
		}
	}
	return m
}

// edges returns the readiness edges of an issue; the one of an inline dependency is built in buf.
func (c *core) edges(it *issue, buf *[1]edge) []edge {
	if it.flags&fDep == 0 {
		if it.x == nil {
			return nil
		}
		return it.x.edges
	}
	k := c.syms.info[it.depType] & symEdgeMask
	if k == 0 {
		return nil
	}
	buf[0] = edge{kind: uint8(k), target: it.dep}
	return buf[:]
}

// sym is an interned string: an index into the core's symbol table (0 is "").
type sym uint32

// symtab interns the strings many issues repeat (statuses, issue and dependency types, assignees,
// close reasons), with what the ready rules need to know about each. It only grows, bounded by the
// distinct values the core has seen (free-text close reasons included: each is stored once instead of
// once per issue); a rebuilt core starts a fresh one.
type symtab struct {
	strs []string
	idx  map[string]sym
	info []uint16
}

// Symbol facts, fixed per core (they depend on its Config).
const (
	symEdgeMask   = 0b111           // edge kind when used as a dependency type (edgeBlocks...)
	symBlocks     = 1 << (iota + 2) // status: holds back a `blocks` dependent
	symCondOpen                     // status: holds back a conditional-blocks dependent (not finished)
	symCondClosed                   // status: closed, for conditional-blocks
	symGateClosed                   // status: closed, for waits-for gates
	symFailure                      // close reason: a failure, for conditional-blocks
	symWorkflow                     // issue type: never handed out
)

// intern returns the symbol of s, adding it on first use.
func (c *core) intern(s string) sym {
	if n, ok := c.syms.idx[s]; ok {
		return n
	}
	if c.syms.idx == nil {
		c.syms.idx = map[string]sym{}
	}
	n := sym(len(c.syms.strs))
	c.syms.strs = append(c.syms.strs, s)
	c.syms.idx[s] = n
	c.syms.info = append(c.syms.info, c.symFacts(s))
	return n
}

// str returns the string of a symbol.
func (c *core) str(n sym) string { return c.syms.strs[n] }

// info returns the facts of a symbol.
func (c *core) info(n sym) uint16 { return c.syms.info[n] }

// symFacts computes what the ready rules need to know about a string used as a status, issue type,
// dependency type or close reason.
func (c *core) symFacts(s string) uint16 {
	f := uint16(edgeKindOf(s))
	if c.cfg.ModernReady {
		// bd v1: a target holds its dependents in any status but closed or pinned, and any close ends
		// a conditional-blocks edge (no failure-reason rule)
		if s != "closed" && s != c.cfg.StatusClosed && s != "pinned" && s != "tombstone" {
			f |= symBlocks | symCondOpen
		}
	} else {
		if c.blocksStatus(s) {
			f |= symBlocks
		}
		if s == "open" || s == "in_progress" || s == "blocked" || s == "deferred" || s == c.cfg.StatusOpen ||
			s == c.cfg.StatusInProgress || s == c.cfg.StatusBlocked {
			f |= symCondOpen
		}
		if s == "closed" || s == c.cfg.StatusClosed {
			f |= symCondClosed
		}
	}
	if c.closedStatus(s) {
		f |= symGateClosed
	}
	if isFailureReason(s) {
		f |= symFailure
	}
	if c.workflow[s] {
		f |= symWorkflow
	}
	return f
}

// statuses holds the symbols of the configured statuses and of the few constants the core compares with.
type statuses struct {
	open, hooked, inProgress, closed, blocked, codeComplete sym
	convoy                                                  sym // TypeConvoy
	tombstone                                               sym // a deleted issue
}

// initSyms interns "" as 0 and the configured statuses; it runs once cfg and workflow are set.
func (c *core) initSyms() {
	c.intern("")
	c.st = statuses{open: c.intern(c.cfg.StatusOpen), hooked: c.intern(c.cfg.StatusHooked),
		inProgress: c.intern(c.cfg.StatusInProgress), closed: c.intern(c.cfg.StatusClosed),
		blocked: c.intern(c.cfg.StatusBlocked), convoy: c.intern(TypeConvoy), tombstone: c.intern("tombstone")}
	if c.cfg.CodeCompleteStatus != "" {
		c.st.codeComplete = c.intern(c.cfg.CodeCompleteStatus)
	} else {
		c.st.codeComplete = ^sym(0) // matches no issue
	}
}
