package coord

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxReasons bounds the blockers a readiness explanation names.
const maxReasons = 5

// readiness says, for people, whether an issue is handed out and if not why: the rule that holds it
// back (its status, its type, a blocker and that blocker's status, a blocked parent, defer_until, the
// retry backoff), as gtc ready applies them; and that its line is missing from a bd v1 file.
func (c *core) readiness(it *issue) string {
	r := c.readinessRule(it)
	if it.flags&fAbsent != 0 && !strings.Contains(r, missingLine) {
		r += " (and " + missingLine + ")"
	}
	return r
}

// missingLine is how readiness names a line a bd v1 file dropped.
const missingLine = "its line is missing from issues.jsonl"

// readinessRule is readiness without the note of a missing line.
func (c *core) readinessRule(it *issue) string {
	status := c.str(it.status)
	switch {
	case it.lease != nil:
		l := it.lease
		return fmt.Sprintf("leased to %s (%s, %s, attempt %d)", l.Worker, l.ID, l.State, l.Attempt)
	case it.hpos >= 0:
		var notes []string
		if a := c.str(it.assignee); a != "" && c.slung(it) {
			notes = append(notes, "for "+a+" only: it is on that worker's hook (hooked)"+c.holderNote(it, a))
		} else if a != "" {
			notes = append(notes, "for "+a+" only: it is assigned to that worker"+c.holderNote(it, a))
		}
		if until := it.rejectedUntil(c.cfg.RejectHold); !until.IsZero() && until.After(c.now) {
			key := it.rejectedBy()
			if w := workerOf(key); key == nameHoldKey(w) {
				notes = append(notes, fmt.Sprintf("not pushed to %s until %s: its lease was cancelled", w, until.UTC().Format(time.RFC3339)))
			} else {
				notes = append(notes, fmt.Sprintf("not pushed to %s's session until %s: it rejected or released it", w, until.UTC().Format(time.RFC3339)))
			}
		}
		if c.paused {
			notes = append(notes, "but nothing is handed out while the coordinator is paused (gtc resume)")
		}
		if len(notes) == 0 {
			return "ready"
		}
		return "ready, " + strings.Join(notes, "; ")
	case it.status == c.st.closed || c.closedStatus(status):
		return "not ready: " + status
	case it.cls == clsDead:
		return fmt.Sprintf("not ready: dead-lettered after %s (label %s); set its status to open to retry it", failedAttempts(it.attempts()), c.cfg.FailedLabel)
	case it.status == c.st.hooked && c.str(it.assignee) == "":
		return "not ready: status hooked with no assignee (a hooked issue goes to the worker it names)"
	case !c.handsOut(it):
		return fmt.Sprintf("not ready: status %s (only open issues are handed out)", status)
	case it.flags&fAbsent != 0:
		return "not ready: " + missingLine + " (bd v1 deletes an issue by dropping its line); it is handed out again once the line is back — gtc issue update ID --status tombstone deletes it in gtc too"
	case it.flags&fPinned != 0:
		return "not ready: pinned"
	case it.flags&fEphemeral != 0:
		return "not ready: ephemeral (a wisp)"
	case c.info(it.itype)&symWorkflow != 0:
		return fmt.Sprintf("not ready: type %s is never handed out (a workflow type)", c.str(it.itype))
	case !SafeID(it.id):
		return fmt.Sprintf("not ready: its id is not one gtc hands out (letters, digits, '.', '_' and '-', at most %d bytes; workers use ids in paths and commands)", MaxIDBytes)
	case !c.schedulable(it):
		return "not ready: its id matches an excluded pattern (molecule or wisp ids)"
	case it.depth <= maxBlockDepth:
		return "not ready: " + c.blockedBy(it)
	}
	if t := c.waitUntil(it); !t.IsZero() {
		if d := it.deferUntil(); d != nil && !d.Before(t) {
			return "not ready: deferred until " + t.UTC().Format(time.RFC3339)
		}
		if pt, p := c.parentDeferral(it); !pt.IsZero() && !pt.Before(t) {
			return fmt.Sprintf("not ready: its parent %s is deferred until %s (bd v1 hides the children of a deferred parent)", p, pt.UTC().Format(time.RFC3339))
		}
		return fmt.Sprintf("not ready: retry backoff after %s, until %s", failedAttempts(it.attempts()), t.UTC().Format(time.RFC3339))
	}
	return "not ready"
}

// holderNote says why the worker an issue waits for does not take it, if it can be seen here: it is not
// connected, is no worker, is drained, or its hello's filters leave the issue out (a trial: "for tsblk
// only" while tsblk sat idle, its label filter excluding the issue, and nothing said so).
func (c *core) holderNote(it *issue, name string) string {
	w := c.workers[name]
	switch {
	case w == nil || !w.connected:
		return ", which is not connected"
	case w.row.Role != "" && w.row.Role != "worker":
		return fmt.Sprintf(", which is connected as a %s (only workers are pushed issues)", w.row.Role)
	case w.draining:
		return ", which is draining (gtc drain --undo " + name + ")"
	case !c.matches(it, &w.row.Filters):
		return ", whose filters leave it out (" + filtersText(w.row.Filters) + ")"
	}
	return ""
}

// filtersText is a worker's filters for people: "labels a,b; types task".
func filtersText(f Filters) string {
	var parts []string
	add := func(what string, vs []string) {
		if len(vs) > 0 {
			parts = append(parts, what+" "+strings.Join(vs, ","))
		}
	}
	add("labels", f.Labels)
	add("types", f.Types)
	add("prefixes", f.Prefixes)
	if f.Convoy != "" && f.ConvoyOnly {
		parts = append(parts, "convoy "+f.Convoy+" only")
	}
	return strings.Join(parts, "; ")
}

// failedAttempts is "1 failed attempt" or "n failed attempts".
func failedAttempts(n int) string {
	if n == 1 {
		return "1 failed attempt"
	}
	return strconv.Itoa(n) + " failed attempts"
}

// blockedBy names what holds a blocked issue back: its own edges that hold, or its nearest blocked parent.
func (c *core) blockedBy(it *issue) string {
	var buf [1]edge
	var held []string
	for _, e := range c.edges(it, &buf) {
		if e.kind == edgeParentChild || !c.holds(e) {
			continue
		}
		if len(held) == maxReasons {
			held = append(held, "…")
			break
		}
		switch e.kind {
		case edgeWaitsFor:
			k := c.kids[e.target]
			gate := "all-children"
			if e.any {
				gate = "any-children"
			}
			held = append(held, fmt.Sprintf("waits for %s's children (%s: %d of %d closed)", e.target, gate, k.closed, k.n))
		default:
			b := c.issues[e.target]
			what := "blocked by"
			if e.kind == edgeConditional {
				what = "conditional on"
			}
			st := c.str(b.status)
			if r := c.str(b.closeReason); st == "closed" && r != "" {
				st += ", " + r
			}
			held = append(held, fmt.Sprintf("%s %s (%s)", what, e.target, st))
		}
	}
	if len(held) > 0 {
		return strings.Join(held, "; ")
	}
	for _, e := range c.edges(it, &buf) {
		if p := c.issues[e.target]; e.kind == edgeParentChild && p != nil && p.depth < it.depth {
			return fmt.Sprintf("its parent %s is held back (%s)", p.id, strings.TrimPrefix(c.readiness(p), "not ready: "))
		}
	}
	return "held back by a dependency"
}

// Readiness explains whether the issue id is handed out and if not why (false: no such issue).
func (e *Engine) Readiness(id string) (string, bool) {
	var s string
	ok := false
	e.read(func(c *core) {
		if it := c.issues[id]; it != nil {
			s, ok = c.readiness(it), true
		}
	})
	return s, ok
}
