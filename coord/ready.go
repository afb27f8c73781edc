package coord

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"
)

// This file holds the ready rules of classic `bd ready` (beads-jsonl.md §18) and their incremental
// evaluation: a reverse-edge index lets a change recompute only the issues it can affect.

// maxBlockDepth is how far blocking propagates down parent-child edges (bd's recursive CTE).
const maxBlockDepth = 50

// noBlock is the depth of an issue with no blocked ancestor within maxBlockDepth.
const noBlock = maxBlockDepth + 1

// Dependency types that affect readiness.
const (
	depBlocks      = "blocks"
	depParentChild = "parent-child"
	depConditional = "conditional-blocks"
	depWaitsFor    = "waits-for"
)

// failureWords mark a close_reason as a failure for conditional-blocks.
var failureWords = []string{"failed", "rejected", "wontfix", "won't fix", "canceled", "cancelled",
	"abandoned", "blocked", "error", "timeout", "aborted"}

// isFailureReason reports whether a close reason counts as a failure.
func isFailureReason(r string) bool {
	r = strings.ToLower(r)
	for _, w := range failureWords {
		if strings.Contains(r, w) {
			return true
		}
	}
	return false
}

// Edge kinds: the dependency types that affect readiness (0: none).
const (
	edgeBlocks = 1 + iota
	edgeParentChild
	edgeConditional
	edgeWaitsFor
)

// edgeKindOf returns the edge kind of a dependency type, 0 if it does not affect readiness.
func edgeKindOf(typ string) uint8 {
	switch typ {
	case depBlocks:
		return edgeBlocks
	case depParentChild:
		return edgeParentChild
	case depConditional:
		return edgeConditional
	case depWaitsFor:
		return edgeWaitsFor
	}
	return 0
}

// edge is one readiness-relevant dependency of an issue, pre-parsed.
type edge struct {
	target string // depends_on_id, or the spawner for waits-for
	kind   uint8
	any    bool // waits-for gate any-children
}

// revEdge is an edge seen from its target (issues are never dropped from the core, and an issue's
// reverse entries are removed before its edges change, so from stays valid).
type revEdge struct {
	from *issue
	kind uint8
}

// edgesOf extracts the readiness-relevant edges of a list of dependencies.
func edgesOf(deps []Dep) []edge {
	var out []edge
	for _, d := range deps {
		switch k := edgeKindOf(d.Type); k {
		case edgeBlocks, edgeParentChild, edgeConditional:
			out = append(out, edge{kind: k, target: d.On})
		case edgeWaitsFor:
			e := edge{kind: k, target: d.On}
			if d.Metadata != "" {
				var md struct {
					Gate      string `json:"gate"`
					SpawnerID string `json:"spawner_id"`
				}
				if json.Unmarshal([]byte(d.Metadata), &md) == nil {
					if md.SpawnerID != "" {
						e.target = md.SpawnerID
					}
					e.any = md.Gate == "any-children"
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// blocksStatus reports whether a blocker in status s holds back a `blocks` dependent. An issue in
// Config.CodeCompleteStatus blocks too: its work is not on the target branch until the merge queue lands
// it (a dependent pushed earlier was built without it and conflicted), though bd, for which it is a
// custom status, does not count it.
func (c *core) blocksStatus(s string) bool {
	switch s {
	case "open", "in_progress", "blocked", "deferred", "hooked":
		return true
	}
	return s == c.cfg.StatusOpen || s == c.cfg.StatusInProgress || s == c.cfg.StatusBlocked || s == c.cfg.StatusHooked ||
		(s != "" && s == c.cfg.CodeCompleteStatus)
}

// closedStatus reports whether s counts as closed for waits-for gates.
func (c *core) closedStatus(s string) bool {
	return s == c.cfg.StatusClosed || s == "closed" || s == "tombstone"
}

// directBlocked reports whether an issue is held back by one of its own edges (the status facts
// are those of blocksStatus, closedStatus and the conditional-blocks rule, see symFacts).
//
// The scan starts at the edge that held it back last time: while that one still does, an issue
// blocked by thousands of others costs one look per change of one of them.
func (c *core) directBlocked(it *issue) bool {
	var buf [1]edge
	edges := c.edges(it, &buf)
	start := int(it.blockAt)
	if start >= len(edges) {
		start = 0
	}
	for k := range edges {
		i := start + k
		if i >= len(edges) {
			i -= len(edges)
		}
		if c.holds(edges[i]) {
			if i <= math.MaxUint16 {
				it.blockAt = uint16(i)
			}
			return true
		}
	}
	return false
}

// holds reports whether one edge of an issue holds it back.
func (c *core) holds(e edge) bool {
	switch e.kind {
	case edgeBlocks:
		if b := c.issues[e.target]; b != nil && c.info(b.status)&symBlocks != 0 {
			return true
		}
	case edgeConditional:
		if b := c.issues[e.target]; b != nil {
			s := c.info(b.status)
			if s&symCondOpen != 0 {
				return true
			}
			if s&symCondClosed != 0 && c.info(b.closeReason)&symFailure == 0 {
				return true
			}
		}
	case edgeWaitsFor:
		k := c.kids[e.target]
		anyClosed, anyOpen := k.closed > 0, k.n > k.closed
		return e.any && !anyClosed || !e.any && anyOpen
	}
	return false
}

// calcDepth is the distance to the nearest directly blocked ancestor (0 = itself), capped at noBlock.
func (c *core) calcDepth(it *issue) int {
	if it.direct() {
		return 0
	}
	d := noBlock
	var buf [1]edge
	for _, e := range c.edges(it, &buf) {
		if e.kind != edgeParentChild {
			continue
		}
		if p := c.issues[e.target]; p != nil && int(p.depth)+1 < d {
			d = int(p.depth) + 1
		}
	}
	return d
}

// indexEdges adds (add=true) or removes the reverse entries of an issue's edges.
func (c *core) indexEdges(it *issue, add bool) {
	var buf [1]edge
	for _, e := range c.edges(it, &buf) {
		r := revEdge{from: it, kind: e.kind}
		if add {
			c.revAdd(e.target, r)
		} else {
			c.revDel(e.target, r)
		}
	}
}

// revIndexMin is the length from which a reverse-edge list gets a position index (revIdx): the
// children of an epic, the blockers of a release.
const revIndexMin = 64

func (c *core) revIndexFrom() int {
	if c.revIndexAt > 0 {
		return c.revIndexAt
	}
	return revIndexMin
}

// kidCount counts the parent-child entries in the reverse edges of an issue (its children, an edge
// given twice counted twice) and those whose status closes a waits-for gate: a gate on an epic is
// decided from them (holds), where scanning the epic's children on each change of one was quadratic.
type kidCount struct{ n, closed int32 }

// kidAdd counts (d=1) or uncounts (d=-1) the parent-child entry of child under target.
func (c *core) kidAdd(target string, child *issue, d int32) {
	if c.kids == nil {
		c.kids = map[string]kidCount{}
	}
	k := c.kids[target]
	k.n += d
	if c.info(child.status)&symGateClosed != 0 {
		k.closed += d
	}
	if k.n == 0 {
		delete(c.kids, target)
	} else {
		c.kids[target] = k
	}
}

// gateFlip updates kids before it's status becomes status: when one closes a gate and the other does
// not, each parent it is a child of gains or loses a closed child.
func (c *core) gateFlip(it *issue, status sym) {
	was, now := c.info(it.status)&symGateClosed != 0, c.info(status)&symGateClosed != 0
	if was == now {
		return
	}
	d := int32(1)
	if was {
		d = -1
	}
	var buf [1]edge
	for _, e := range c.edges(it, &buf) {
		if e.kind == edgeParentChild {
			k := c.kids[e.target]
			k.closed += d
			c.kids[e.target] = k
		}
	}
}

// revAdd appends r to the reverse edges of target.
func (c *core) revAdd(target string, r revEdge) {
	list := append(c.rev[target], r)
	c.rev[target] = list
	if r.kind == edgeParentChild {
		c.kidAdd(target, r.from, 1)
	}
	if r.kind == edgeWaitsFor {
		if c.waitRev == nil {
			c.waitRev = map[string][]*issue{}
		}
		c.waitRev[target] = append(c.waitRev[target], r.from)
	}
	if idx := c.revIdx[target]; idx != nil {
		idx.note(r, len(list)-1)
	} else if len(list) >= c.revIndexFrom() {
		idx = make(revIndex, len(list))
		for i, x := range list {
			idx.note(x, i)
		}
		if c.revIdx == nil {
			c.revIdx = map[string]revIndex{}
		}
		c.revIdx[target] = idx
	}
}

// revDel removes the first entry equal to r from the reverse edges of target; the last one takes its
// place.
func (c *core) revDel(target string, r revEdge) {
	list := c.rev[target]
	idx := c.revIdx[target]
	i := -1
	if p, ok := idx[r]; ok && p >= 0 {
		i = int(p)
	} else if idx == nil || ok {
		i = slices.Index(list, r)
	}
	if i >= 0 {
		if r.kind == edgeParentChild {
			c.kidAdd(target, r.from, -1)
		}
		if r.kind == edgeWaitsFor {
			gs := c.waitRev[target]
			if len(gs) == 1 {
				delete(c.waitRev, target)
			} else if j := slices.Index(gs, r.from); j >= 0 {
				gs[j] = gs[len(gs)-1]
				gs[len(gs)-1] = nil
				c.waitRev[target] = gs[:len(gs)-1]
			}
		}
		last := len(list) - 1
		moved := list[last]
		list[i] = moved
		list = list[:last]
		if idx != nil {
			if idx[r] >= 0 {
				delete(idx, r)
			} else {
				idx.recount(list, r)
			}
			if moved != r && idx[moved] >= 0 && i < last {
				idx[moved] = int32(i)
			}
		}
	}
	switch {
	case len(list) == 0:
		delete(c.rev, target)
		delete(c.revIdx, target)
	case idx != nil && len(list) < c.revIndexFrom()/2:
		delete(c.revIdx, target)
		c.rev[target] = list
	default:
		c.rev[target] = list
	}
}

// revIndex maps each entry of a long reverse-edge list to its position, -1 for an entry that is
// there more than once (an issue with the same edge twice: found by a scan).
type revIndex map[revEdge]int32

func (idx revIndex) note(r revEdge, i int) {
	if _, dup := idx[r]; dup {
		idx[r] = -1
	} else {
		idx[r] = int32(i)
	}
}

// recount updates the entry of r, which was there more than once, after one of them left list.
func (idx revIndex) recount(list []revEdge, r revEdge) {
	n, at := 0, 0
	for i, x := range list {
		if x == r {
			if n == 0 {
				at = i
			}
			n++
		}
	}
	switch n {
	case 0:
		delete(idx, r)
	case 1:
		idx[r] = int32(at)
	default:
		idx[r] = -1
	}
}

// affected lists the issues whose readiness may change when id changes status, close reason,
// existence or edges; parents are id's parent-child targets (before and after the change).
//
// The list is built in a buffer the next call reuses: it is for recompute, which reads it before
// anything calls affected again.
func (c *core) affected(id string, parents []string) []string {
	out := append(c.affBuf[:0], id)
	for _, r := range c.rev[id] {
		out = append(out, r.from.id)
	}
	for _, p := range parents {
		for _, g := range c.waitRev[p] { // not rev[p]: an epic's thousands of children
			out = append(out, g.id)
		}
	}
	if cap(out) <= 1024 {
		c.affBuf = out
	}
	return out
}

// parentsOf returns the parent-child targets of an issue.
func (c *core) parentsOf(it *issue) []string {
	var ps []string
	var buf [1]edge
	for _, e := range c.edges(it, &buf) {
		if e.kind == edgeParentChild {
			ps = append(ps, e.target)
		}
	}
	return ps
}

// recompute re-evaluates the blocking state of the given issues, propagates depth changes
// down parent-child edges, and refreshes readiness of everything touched.
func (c *core) recompute(ids []string) {
	work := c.workBuf[:0]
	for _, id := range ids {
		it := c.issues[id]
		if it == nil {
			continue
		}
		it.setDirect(c.directBlocked(it))
		work = append(work, it)
	}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		if d := c.calcDepth(it); d != int(it.depth) {
			it.depth = uint8(d)
			for _, r := range c.rev[it.id] {
				if r.kind == edgeParentChild {
					work = append(work, r.from)
				}
			}
		}
		c.refresh(it)
	}
	if cap(work) <= 4096 {
		c.workBuf = work[:0] // reused by the next recompute; a restore's (every issue) is let go
	}
}

// recomputeAll evaluates every issue from scratch (restore).
func (c *core) recomputeAll() {
	ids := make([]string, 0, len(c.issues))
	for id, it := range c.issues {
		it.depth = noBlock
		ids = append(ids, id)
	}
	c.recompute(ids)
}

// schedulable reports whether an issue passes the static rules (type, id, pinned, ephemeral).
func (c *core) schedulable(it *issue) bool {
	if it.flags&(fPinned|fEphemeral|fAbsent) != 0 || c.info(it.itype)&symWorkflow != 0 {
		return false
	}
	for _, p := range c.cfg.ExcludeIDPatterns {
		if strings.Contains(it.id, p) {
			return false
		}
	}
	return SafeID(it.id)
}

// MaxIDBytes bounds an issue id gtc hands out (and issue.create accepts).
const MaxIDBytes = 100

// SafeID reports whether an issue id may be handed to a worker: 1 to MaxIDBytes letters, digits, '.',
// '_' and '-', starting with a letter or digit — what issue.create accepts, and every bd id. A worker
// uses the id in branch names, paths and commands; a line of issues.jsonl with an id like "../../x"
// is imported but never handed out.
func SafeID(id string) bool {
	if id == "" || len(id) > MaxIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case (b == '.' || b == '_' || b == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// waitUntil returns when a schedulable open issue stops waiting on defer_until or backoff (zero if not waiting).
func (c *core) waitUntil(it *issue) time.Time {
	t, _ := c.parentDeferral(it)
	x := it.x
	if x == nil {
		return t
	}
	if x.deferUntil != nil && x.deferUntil.After(c.now) && x.deferUntil.After(t) {
		t = *x.deferUntil
	}
	if x.notBefore.After(c.now) && x.notBefore.After(t) {
		t = x.notBefore
	}
	return t
}

// parentDeferral is, under bd v1's rules (Config.ModernReady), the latest future defer_until of an
// issue's parents (zero: none): v1 hides the children of a deferred parent.
func (c *core) parentDeferral(it *issue) (time.Time, string) {
	var t time.Time
	var by string
	if !c.cfg.ModernReady {
		return t, by
	}
	var buf [1]edge
	for _, e := range c.edges(it, &buf) {
		if e.kind != edgeParentChild {
			continue
		}
		if p := c.issues[e.target]; p != nil {
			if d := p.deferUntil(); d != nil && d.After(c.now) && d.After(t) {
				t, by = *d, p.id
			}
		}
	}
	return t, by
}

// setModernReady switches between bd v1's readiness rules and classic bd's (Config.ModernReady) and
// re-evaluates every issue.
func (c *core) setModernReady(now time.Time, modern bool) {
	c.advance(now)
	if c.cfg.ModernReady == modern {
		return
	}
	c.cfg.ModernReady = modern
	for i, s := range c.syms.strs {
		c.syms.info[i] = c.symFacts(s)
	}
	c.recomputeAll()
	c.needDispatch = true
}

// Issue classes for the status counters.
const (
	clsOther = iota
	clsReady
	clsLeased
	clsClosed
	clsDead
	clsBlocked // open, held back by a dependency
	clsWaiting // open, waiting on defer_until or backoff
	clsCount
)

// refresh puts an issue in or out of the ready heap and updates the counters.
func (c *core) refresh(it *issue) {
	cls := clsOther
	switch {
	case it.lease != nil:
		cls = clsLeased
	case it.status == c.st.closed:
		cls = clsClosed
	case it.status == c.st.blocked && hasLabel(it.labels(), c.cfg.FailedLabel):
		cls = clsDead
	case !c.handsOut(it) || !c.schedulable(it):
	case it.depth <= maxBlockDepth:
		cls = clsBlocked
	default:
		if t := c.waitUntil(it); !t.IsZero() {
			cls = clsWaiting
			c.addTimer(t, timerIssue, it.id)
		} else {
			cls = clsReady
		}
	}
	c.counts[it.cls]--
	c.counts[cls]++
	it.cls = uint8(cls)
	if cls == clsReady {
		// a dispatch pass follows even when the issue was ready already: a new label or type may match
		// an idle worker's or a parked claim's filters
		c.needDispatch = true
		since := c.now.UnixNano()
		if it.hpos >= 0 {
			since = c.heap.readySince(it) // ready already: it keeps its place in time
			c.heapDel(it)                 // key or labels may have changed
		}
		c.heapAdd(it, since)
	} else if it.hpos >= 0 {
		c.heapDel(it)
	}
}

func hasLabel(labels []string, l string) bool {
	for _, x := range labels {
		if x == l {
			return true
		}
	}
	return false
}
