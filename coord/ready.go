package coord

import (
	"encoding/json"
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

// edge is one readiness-relevant dependency of an issue, pre-parsed.
type edge struct {
	typ    string
	target string // depends_on_id, or the spawner for waits-for
	any    bool   // waits-for gate any-children
}

// revEdge is an edge seen from its target.
type revEdge struct {
	from string
	typ  string
}

// edgesOf extracts the readiness-relevant edges of a meta.
func edgesOf(m *IssueMeta) []edge {
	var out []edge
	for _, d := range m.Deps {
		switch d.Type {
		case depBlocks, depParentChild, depConditional:
			out = append(out, edge{typ: d.Type, target: d.On})
		case depWaitsFor:
			e := edge{typ: d.Type, target: d.On}
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

// blocksStatus reports whether a blocker in status s holds back a `blocks` dependent.
func (c *core) blocksStatus(s string) bool {
	switch s {
	case "open", "in_progress", "blocked", "deferred", "hooked":
		return true
	}
	return s == c.cfg.StatusOpen || s == c.cfg.StatusInProgress || s == c.cfg.StatusBlocked || s == c.cfg.StatusHooked
}

// closedStatus reports whether s counts as closed for waits-for gates.
func (c *core) closedStatus(s string) bool {
	return s == c.cfg.StatusClosed || s == "closed" || s == "tombstone"
}

// directBlocked reports whether an issue is held back by one of its own edges.
func (c *core) directBlocked(it *issue) bool {
	for _, e := range it.edges {
		switch e.typ {
		case depBlocks:
			if b := c.issues[e.target]; b != nil && c.blocksStatus(b.meta.Status) {
				return true
			}
		case depConditional:
			if b := c.issues[e.target]; b != nil {
				s := b.meta.Status
				if s == "open" || s == "in_progress" || s == "blocked" || s == "deferred" || s == c.cfg.StatusOpen ||
					s == c.cfg.StatusInProgress || s == c.cfg.StatusBlocked {
					return true
				}
				if (s == "closed" || s == c.cfg.StatusClosed) && !isFailureReason(b.meta.CloseReason) {
					return true
				}
			}
		case depWaitsFor:
			anyClosed, anyOpen := false, false
			for _, r := range c.rev[e.target] {
				if r.typ != depParentChild {
					continue
				}
				ch := c.issues[r.from]
				if ch == nil {
					continue
				}
				if c.closedStatus(ch.meta.Status) {
					anyClosed = true
				} else {
					anyOpen = true
				}
			}
			if e.any && !anyClosed || !e.any && anyOpen {
				return true
			}
		}
	}
	return false
}

// calcDepth is the distance to the nearest directly blocked ancestor (0 = itself), capped at noBlock.
func (c *core) calcDepth(it *issue) int {
	if it.direct {
		return 0
	}
	d := noBlock
	for _, e := range it.edges {
		if e.typ != depParentChild {
			continue
		}
		if p := c.issues[e.target]; p != nil && p.depth+1 < d {
			d = p.depth + 1
		}
	}
	return d
}

// indexEdges adds (add=true) or removes the reverse entries of an issue's edges.
func (c *core) indexEdges(it *issue, add bool) {
	for _, e := range it.edges {
		if add {
			c.rev[e.target] = append(c.rev[e.target], revEdge{from: it.meta.ID, typ: e.typ})
			continue
		}
		list := c.rev[e.target]
		for i, r := range list {
			if r.from == it.meta.ID && r.typ == e.typ {
				list[i] = list[len(list)-1]
				list = list[:len(list)-1]
				break
			}
		}
		if len(list) == 0 {
			delete(c.rev, e.target)
		} else {
			c.rev[e.target] = list
		}
	}
}

// affected lists the issues whose readiness may change when id changes status, close reason,
// existence or edges; parents are id's parent-child targets (before and after the change).
func (c *core) affected(id string, parents []string) []string {
	out := []string{id}
	for _, r := range c.rev[id] {
		out = append(out, r.from)
	}
	for _, p := range parents {
		for _, r := range c.rev[p] {
			if r.typ == depWaitsFor {
				out = append(out, r.from)
			}
		}
	}
	return out
}

// parentsOf returns the parent-child targets of an issue.
func parentsOf(edges []edge) []string {
	var ps []string
	for _, e := range edges {
		if e.typ == depParentChild {
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
		it.direct = c.directBlocked(it)
		work = append(work, it)
	}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		if d := c.calcDepth(it); d != it.depth {
			it.depth = d
			for _, r := range c.rev[it.meta.ID] {
				if r.typ == depParentChild {
					if ch := c.issues[r.from]; ch != nil {
						work = append(work, ch)
					}
				}
			}
		}
		c.refresh(it)
	}
	c.workBuf = work[:0]
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
	m := &it.meta
	if m.Pinned || m.Ephemeral || c.workflow[m.IssueType] {
		return false
	}
	for _, p := range c.cfg.ExcludeIDPatterns {
		if strings.Contains(m.ID, p) {
			return false
		}
	}
	return true
}

// waitUntil returns when a schedulable open issue stops waiting on defer_until or backoff (zero if not waiting).
func (c *core) waitUntil(it *issue) time.Time {
	var t time.Time
	if it.meta.DeferUntil != nil && it.meta.DeferUntil.After(c.now) {
		t = *it.meta.DeferUntil
	}
	if it.meta.NotBefore.After(c.now) && it.meta.NotBefore.After(t) {
		t = it.meta.NotBefore
	}
	return t
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
	m := &it.meta
	switch {
	case it.lease != nil:
		cls = clsLeased
	case m.Status == c.cfg.StatusClosed:
		cls = clsClosed
	case m.Status == c.cfg.StatusBlocked && hasLabel(m.Labels, c.cfg.FailedLabel):
		cls = clsDead
	case m.Status != c.cfg.StatusOpen || !c.schedulable(it):
	case it.depth <= maxBlockDepth:
		cls = clsBlocked
	default:
		if t := c.waitUntil(it); !t.IsZero() {
			cls = clsWaiting
			c.addTimer(t, timerIssue, m.ID)
		} else {
			cls = clsReady
		}
	}
	c.counts[it.cls]--
	c.counts[cls]++
	it.cls = cls
	if cls == clsReady {
		if it.hpos[0] < 0 {
			c.needDispatch = true
		} else {
			c.heapDel(it) // key or labels may have changed
		}
		c.heapAdd(it)
	} else if it.hpos[0] >= 0 {
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
