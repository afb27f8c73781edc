// Package convoy computes convoy membership and progress: a convoy is the label convoy:<name> on
// work issues plus an optional tracking issue of type convoy. It is pure: callers pass the issues
// and the current time and get figures and the durable changes they imply.
package convoy

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gastown/gtc/coord"
)

// Label conventions.
const (
	LabelPrefix  = "convoy:"     // convoy membership: convoy:<name>
	TypeConvoy   = "convoy"      // issue_type of a convoy's tracking issue
	LabelFailed  = "gtc:failed"  // gtc's dead-letter label
	LabelHookBad = "hook:failed" // the harness's failed label
	// EventCompleted is the audit event kind appended when a convoy completes.
	EventCompleted = "convoy_completed"
	// CloseReason is the close_reason given to a completed convoy's tracking issue.
	CloseReason = "convoy complete"
)

// Label returns the membership label of convoy name.
func Label(name string) string { return LabelPrefix + name }

// Names returns the convoys named by labels, in label order.
func Names(labels []string) []string {
	var out []string
	for _, l := range labels {
		if n, ok := strings.CutPrefix(l, LabelPrefix); ok && n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Member reports whether labels put an issue in convoy name.
func Member(labels []string, name string) bool {
	want := Label(name)
	for _, l := range labels {
		if l == want {
			return true
		}
	}
	return false
}

// Failed reports whether labels mark an issue failed (gtc:failed or hook:failed).
func Failed(labels []string) bool {
	for _, l := range labels {
		if l == LabelFailed || l == LabelHookBad {
			return true
		}
	}
	return false
}

// Progress is how far a convoy has come; the tracking issue is not counted as work.
type Progress struct {
	Name       string   `json:"name"`
	Total      int      `json:"total"`
	Closed     int      `json:"closed"`
	InProgress int      `json:"in_progress"` // status in_progress or hooked
	Failed     int      `json:"failed"`      // not closed and labelled failed
	Open       int      `json:"open"`        // neither closed, in progress nor failed
	Percent    float64  `json:"percent"`     // 100 * closed / total; 0 when empty
	Complete   bool     `json:"complete"`    // at least one issue and all closed
	TrackingID string   `json:"tracking_id,omitempty"`
	IssueIDs   []string `json:"issue_ids"`
}

// Compute returns the progress of convoy name over issues (any issues; non-members are ignored).
func Compute(name string, issues []coord.IssueMeta) Progress {
	p := Progress{Name: name, IssueIDs: []string{}}
	for i := range issues {
		is := &issues[i]
		if !Member(is.Labels, name) {
			continue
		}
		if is.IssueType == TypeConvoy {
			if p.TrackingID == "" || is.ID < p.TrackingID {
				p.TrackingID = is.ID
			}
			continue
		}
		p.add(is)
	}
	p.finish()
	return p
}

func (p *Progress) add(is *coord.IssueMeta) {
	p.Total++
	p.IssueIDs = append(p.IssueIDs, is.ID)
	switch {
	case is.Status == "closed":
		p.Closed++
	case Failed(is.Labels):
		p.Failed++
	case is.Status == "in_progress" || is.Status == "hooked":
		p.InProgress++
	default:
		p.Open++
	}
}

func (p *Progress) finish() {
	sort.Strings(p.IssueIDs)
	if p.Total > 0 {
		p.Percent = 100 * float64(p.Closed) / float64(p.Total)
	}
	p.Complete = p.Total > 0 && p.Closed == p.Total
}

// All returns the progress of every convoy found in issues, sorted by name.
func All(issues []coord.IssueMeta) []Progress {
	by := map[string]*Progress{}
	get := func(n string) *Progress {
		p := by[n]
		if p == nil {
			p = &Progress{Name: n, IssueIDs: []string{}}
			by[n] = p
		}
		return p
	}
	for i := range issues {
		is := &issues[i]
		for _, n := range Names(is.Labels) {
			p := get(n)
			if is.IssueType == TypeConvoy {
				if p.TrackingID == "" || is.ID < p.TrackingID {
					p.TrackingID = is.ID
				}
				continue
			}
			p.add(is)
		}
	}
	out := make([]Progress, 0, len(by))
	for _, p := range by {
		p.finish()
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Check computes the progress of convoy name and, when it is complete and its tracking issue is
// still open, returns the changes that close the tracking issue and record the event.
func Check(now time.Time, name string, issues []coord.IssueMeta) (Progress, []coord.Change) {
	p := Compute(name, issues)
	if !p.Complete || p.TrackingID == "" {
		return p, nil
	}
	for i := range issues {
		is := &issues[i]
		if is.ID != p.TrackingID {
			continue
		}
		if is.Status == "closed" {
			return p, nil
		}
		closed := now
		return p, []coord.Change{
			coord.IssueState{ID: is.ID, Status: "closed", Assignee: is.Assignee, UpdatedAt: now, ClosedAt: &closed,
				CloseReason: CloseReason, Attempts: is.Attempts, NotBefore: is.NotBefore},
			coord.EventAppend{Event: coord.Event{Time: now, Kind: EventCompleted, IssueID: is.ID, Actor: "gtc",
				Detail: fmt.Sprintf("convoy %s: %d of %d issues closed", name, p.Closed, p.Total)}},
		}
	}
	return p, nil
}

// FirstLess wraps the scheduler's ordering base so that issues of convoy binding come before all
// others (each group keeps base's order); an empty binding returns base unchanged.
func FirstLess[T any](binding string, labels func(T) []string, base func(a, b T) bool) func(a, b T) bool {
	if binding == "" {
		return base
	}
	return func(a, b T) bool {
		ia, ib := Member(labels(a), binding), Member(labels(b), binding)
		if ia != ib {
			return ia
		}
		return base(a, b)
	}
}

// Rank is 0 for members of convoy binding (or when binding is empty) and 1 otherwise: a sort key
// for schedulers that compare tuples rather than call a predicate.
func Rank(binding string, labels []string) int {
	if binding == "" || Member(labels, binding) {
		return 0
	}
	return 1
}
