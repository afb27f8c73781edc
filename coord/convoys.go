package coord

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gastown/gtc/beads"
)

// Convoys (the harness's convoy.ts): a label convoy:<name> on work issues plus one tracking issue of
// type convoy carrying the same label. The core closes the tracking issue once every work issue of
// the convoy is closed. The figures follow package coord/convoy (which imports coord, so its rules
// are mirrored here and cross-checked by its tests).

// ConvoyLabelPrefix starts a convoy membership label: convoy:<name>.
const ConvoyLabelPrefix = "convoy:"

// TypeConvoy is the issue_type of a convoy's tracking issue.
const TypeConvoy = "convoy"

// ConvoyCreate is the request to start a convoy.
type ConvoyCreate struct {
	Name       string
	Title      string
	TrackingID string // id of the tracking issue to create; empty: "convoy-<name>"
	IssueIDs   []string
}

// ConvoyProgress is how far a convoy has come; the tracking issue is not counted as work.
type ConvoyProgress struct {
	Name       string   `json:"name"`
	Total      int      `json:"total"`
	Closed     int      `json:"closed"`
	InProgress int      `json:"in_progress"` // in_progress or hooked
	Failed     int      `json:"failed"`      // not closed and labelled gtc:failed or hook:failed
	Open       int      `json:"open"`
	Percent    float64  `json:"percent"`  // 100 * closed / total
	Complete   bool     `json:"complete"` // at least one issue and all closed
	TrackingID string   `json:"tracking_id,omitempty"`
	Tracking   string   `json:"tracking_status,omitempty"` // status of the tracking issue
	IssueIDs   []string `json:"issue_ids"`
}

var convoyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// convoyCreate labels the issues and creates the tracking issue, in one decision.
func (c *core) convoyCreate(now time.Time, cc ConvoyCreate) (ConvoyProgress, error) {
	c.advance(now)
	if !convoyName.MatchString(cc.Name) {
		return ConvoyProgress{}, Errorf(EInvalid, "convoy name %q: use ASCII letters, digits, '.', '_' and '-' (at most 64)", cc.Name)
	}
	label := ConvoyLabelPrefix + cc.Name
	if p := c.convoyProgress(cc.Name); p.TrackingID != "" {
		return ConvoyProgress{}, Errorf(EConflict, "convoy %s already exists (tracking issue %s)", cc.Name, p.TrackingID)
	}
	tid := cc.TrackingID
	if tid == "" {
		tid = "convoy-" + cc.Name
	}
	if c.issues[tid] != nil {
		return ConvoyProgress{}, Errorf(EConflict, "issue %s already exists", tid)
	}
	if len(cc.IssueIDs) == 0 {
		return ConvoyProgress{}, Errorf(EInvalid, "a convoy tracks at least one issue")
	}
	for _, id := range cc.IssueIDs {
		it := c.issues[id]
		if it == nil {
			return ConvoyProgress{}, Errorf(ENotFound, "no issue %q", id)
		}
		if c.str(it.status) == "tombstone" {
			return ConvoyProgress{}, Errorf(EConflict, "issue %s is deleted (tombstone): a convoy of it would never land", id)
		}
	}
	title := strings.TrimSpace(cc.Title)
	if title == "" {
		title = "Convoy " + cc.Name
	}
	tracking := beads.Issue{ID: tid, Title: title, Status: c.cfg.StatusOpen, Priority: 2, IssueType: TypeConvoy,
		Labels: []string{label}, CreatedAt: c.now, CreatedBy: "gtc", UpdatedAt: c.now}
	if err := c.putIssues(c.now, []IssuePut{{Issue: tracking}}); err != nil {
		return ConvoyProgress{}, err
	}
	for _, id := range cc.IssueIDs {
		it := c.issues[id]
		if hasLabel(it.labels(), label) {
			continue
		}
		c.indexConvoys(it, false)
		it.addLabel(label)
		c.indexConvoys(it, true)
		c.emitStateOnly(it, &[2][]string{{label}, nil}) // the convoy is checked once every issue has its label
		c.refresh(it)
	}
	c.event("convoy_created", tid, "", "", fmt.Sprintf("convoy %s: %d issues", cc.Name, len(cc.IssueIDs)))
	c.closeConvoyIfComplete(cc.Name) // all of them closed already: done at once
	c.needDispatch = true
	return c.convoyProgress(cc.Name), nil
}

// convoyProgress computes one convoy's figures from the issues in memory.
func (c *core) convoyProgress(name string) ConvoyProgress {
	label := ConvoyLabelPrefix + name
	p := ConvoyProgress{Name: name, IssueIDs: []string{}}
	for _, it := range c.convoys[label] {
		c.convoyAdd(&p, it)
	}
	p.finish()
	return p
}

// DepTracks is the dependency type of a Gas Town convoy's edges: its tracking issue (type convoy)
// tracks each work issue.
const DepTracks = "tracks"

// trackedConvoy computes the figures of a Gas Town convoy: a tracking issue of type convoy (an
// hq-cv-… bead) with tracks edges to its work issues, named by its id; false when id is not one.
func (c *core) trackedConvoy(id string) (ConvoyProgress, bool) {
	its, ok := c.tracked(id)
	if !ok {
		return ConvoyProgress{}, false
	}
	p := ConvoyProgress{Name: id, IssueIDs: []string{}, TrackingID: id, Tracking: c.str(c.issues[id].status)}
	for _, it := range its {
		c.convoyAdd(&p, it)
	}
	p.finish()
	return p, true
}

// tracked returns the work issues the tracks edges of the convoy bead id point at; ok is false when id
// is not a bead of type convoy with a tracks edge.
func (c *core) tracked(id string) (its []*issue, ok bool) {
	tr := c.issues[id]
	if tr == nil || tr.itype != c.st.convoy {
		return nil, false
	}
	for _, d := range c.metaOf(tr).Deps {
		if d.Type != DepTracks {
			continue
		}
		ok = true
		if it := c.issues[d.On]; it != nil && it.itype != c.st.convoy {
			its = append(its, it)
		}
	}
	return its, ok
}

// trackedIssues returns the work issues of the Gas Town convoy named name (its tracking bead's id), as
// tracked does, but not when gtc's convoy of that name (the convoy:NAME label) exists, which the
// filters take first.
func (c *core) trackedIssues(name string) (its []*issue, ok bool) {
	if len(c.convoys[ConvoyLabelPrefix+name]) > 0 {
		return nil, false
	}
	return c.tracked(name)
}

// retrack puts the ready issues a Gas Town convoy bead tracks back in the ready queue after the bead
// changed: a push search that found nothing looks again only at issues that entered it since, and an
// issue the convoy starts tracking may be ready already.
func (c *core) retrack(tr *issue) {
	if tr.itype != c.st.convoy {
		return
	}
	its, _ := c.trackedIssues(tr.id)
	for _, it := range its {
		if it.hpos >= 0 {
			c.refresh(it)
		}
	}
}

// inConvoy reports whether it belongs to the convoy a worker's filters name: gtc's (a convoy:NAME
// label) or Gas Town's (tracked by the convoy bead of that id).
func (c *core) inConvoy(it *issue, name string) bool {
	if hasLabel(it.labels(), ConvoyLabelPrefix+name) {
		return true
	}
	its, _ := c.trackedIssues(name)
	return slices.Contains(its, it)
}

func (c *core) convoyAdd(p *ConvoyProgress, it *issue) {
	if it.itype == c.st.convoy {
		if p.TrackingID == "" || it.id < p.TrackingID {
			p.TrackingID, p.Tracking = it.id, c.str(it.status)
		}
		return
	}
	if it.status == c.st.tombstone {
		return // deleted: no longer work of the convoy (it would never close)
	}
	p.Total++
	p.IssueIDs = append(p.IssueIDs, it.id)
	switch {
	case it.status == c.st.closed:
		p.Closed++
	case hasLabel(it.labels(), c.cfg.FailedLabel) || hasLabel(it.labels(), "hook:failed"):
		p.Failed++
	case it.status == c.st.inProgress || it.status == c.st.hooked:
		p.InProgress++
	default:
		p.Open++
	}
}

func (p *ConvoyProgress) finish() {
	sort.Strings(p.IssueIDs)
	if p.Total > 0 {
		p.Percent = 100 * float64(p.Closed) / float64(p.Total)
	}
	p.Complete = p.Total > 0 && p.Closed == p.Total
}

// convoyList computes every convoy's figures, by name: gtc's (a convoy:NAME label) and Gas Town's
// (a tracking issue of type convoy with tracks edges, named by its id).
func (c *core) convoyList() []ConvoyProgress {
	out := make([]ConvoyProgress, 0, len(c.convoys))
	seen := map[string]bool{}
	for label := range c.convoys {
		p := c.convoyProgress(strings.TrimPrefix(label, ConvoyLabelPrefix))
		seen[p.TrackingID] = true
		out = append(out, p)
	}
	for id, it := range c.issues {
		if it.itype != c.st.convoy || seen[id] {
			continue
		}
		if p, ok := c.trackedConvoy(id); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// indexConvoys adds (or removes) it to the member sets of the convoys its labels name.
func (c *core) indexConvoys(it *issue, add bool) {
	for _, l := range it.labels() {
		if !strings.HasPrefix(l, ConvoyLabelPrefix) || len(l) == len(ConvoyLabelPrefix) {
			continue
		}
		tracking := it.itype == c.st.convoy
		if !add {
			delete(c.convoys[l], it.id)
			if len(c.convoys[l]) == 0 {
				delete(c.convoys, l)
			}
			if tracking {
				delete(c.convoyTracking[l], it.id)
				if len(c.convoyTracking[l]) == 0 {
					delete(c.convoyTracking, l)
				}
			}
			continue
		}
		if c.convoys == nil {
			c.convoys = map[string]map[string]*issue{}
		}
		if c.convoys[l] == nil {
			c.convoys[l] = map[string]*issue{}
		}
		c.convoys[l][it.id] = it
		if tracking {
			if c.convoyTracking == nil {
				c.convoyTracking = map[string]map[string]*issue{}
			}
			if c.convoyTracking[l] == nil {
				c.convoyTracking[l] = map[string]*issue{}
			}
			c.convoyTracking[l][it.id] = it
		}
	}
}

// convoyMaybeComplete is a cheap pre-check: false as soon as one work issue with label is not closed.
func (c *core) convoyMaybeComplete(label string) bool {
	for _, it := range c.convoys[label] {
		if it.itype != c.st.convoy && it.status != c.st.closed && it.status != c.st.tombstone {
			return false
		}
	}
	return true
}

// convoysOf closes the tracking issue of every convoy of it that is now complete (it closed, or was
// deleted: a deleted issue is not counted).
func (c *core) convoysOf(it *issue) {
	if (it.status != c.st.closed && it.status != c.st.tombstone) || it.itype == c.st.convoy {
		return
	}
	for _, l := range it.labels() {
		name, ok := strings.CutPrefix(l, ConvoyLabelPrefix)
		if !ok || name == "" {
			continue
		}
		// only a tracking issue that is still open can close: checked first from the index, so a start
		// importing a completed convoy does not read its whole membership for each closed member
		if tr := c.trackingOf(l); tr == nil || tr.status == c.st.closed || tr.lease != nil {
			continue
		}
		if c.convoyMaybeComplete(l) {
			c.closeConvoyIfComplete(name)
		}
	}
}

// trackingOf is the tracking issue of the convoy with label l (the lowest id when there are several, as
// convoyProgress reports), or nil.
func (c *core) trackingOf(l string) *issue {
	var tr *issue
	for _, t := range c.convoyTracking[l] {
		if tr == nil || t.id < tr.id {
			tr = t
		}
	}
	return tr
}

// convoyCloseReason is the close reason of a tracking issue gtc closed as its convoy completed.
const convoyCloseReason = "convoy complete"

// convoysReopen reopens the tracking issue of every convoy of it that gtc closed as complete, when it is
// a work issue not closed (any more): it joined the convoy after the convoy completed, or it was
// reopened (by hand, bd, or a merge sent back for rework). A tracking issue closed otherwise (by a
// person) stays closed. Called where an issue can join a convoy or leave the closed state — puts and
// merge decisions — not on the scheduler's own steps, which never reopen a closed issue.
func (c *core) convoysReopen(it *issue) {
	if it.status == c.st.closed || it.status == c.st.tombstone || it.itype == c.st.convoy {
		return
	}
	for _, l := range it.labels() {
		name, ok := strings.CutPrefix(l, ConvoyLabelPrefix)
		if !ok || name == "" {
			continue
		}
		// the convoy's tracking issues from their index (one, as a rule), in id order: the convoy's whole
		// membership is read only when one opens again (a start imports every open member through here)
		var reopen []*issue
		for _, tr := range c.convoyTracking[l] {
			if tr.status == c.st.closed && c.str(tr.closeReason) == convoyCloseReason && tr.lease == nil {
				reopen = append(reopen, tr)
			}
		}
		slices.SortFunc(reopen, func(a, b *issue) int { return strings.Compare(a.id, b.id) })
		for _, tr := range reopen {
			p := c.convoyProgress(name)
			c.setState(tr, c.st.open, c.str(tr.assignee), "")
			c.emitStateOnly(tr, nil)
			c.recompute(c.affected(tr.id, c.parentsOf(tr)))
			c.event("reopened", tr.id, "", "", fmt.Sprintf("convoy %s: %s is %s (%d of %d issues closed)",
				name, it.id, c.str(it.status), p.Closed, p.Total))
		}
	}
}

// closeConvoyIfComplete closes convoy name's tracking issue when every one of its issues is closed.
func (c *core) closeConvoyIfComplete(name string) {
	p := c.convoyProgress(name)
	if !p.Complete || p.TrackingID == "" || p.Tracking == c.cfg.StatusClosed {
		return
	}
	tr := c.issues[p.TrackingID]
	if tr.lease != nil {
		return
	}
	c.setState(tr, c.st.closed, c.str(tr.assignee), convoyCloseReason)
	c.emitState(tr, nil)
	c.recompute(c.affected(tr.id, c.parentsOf(tr)))
	c.event("convoy_completed", tr.id, "", "", fmt.Sprintf("convoy %s: %d of %d issues closed", name, p.Closed, p.Total))
}

// ConvoyCreate labels the issues convoy:<name> and creates the convoy's tracking issue (type convoy).
func (e *Engine) ConvoyCreate(ctx context.Context, cc ConvoyCreate) (ConvoyProgress, error) {
	var p ConvoyProgress
	err := e.do(ctx, func(c *core, now time.Time) (err error) {
		p, err = c.convoyCreate(now, cc)
		return err
	}, nil)
	if err != nil {
		return ConvoyProgress{}, err
	}
	return p, nil
}

// ConvoyList returns the progress of every convoy, by name.
func (e *Engine) ConvoyList() []ConvoyProgress {
	out := []ConvoyProgress{}
	e.read(func(c *core) { out = c.convoyList() })
	return out
}

// ConvoyShow returns one convoy's progress: gtc's of that name, else Gas Town's whose tracking issue has that id (ENotFound: neither).
func (e *Engine) ConvoyShow(name string) (ConvoyProgress, error) {
	var p ConvoyProgress
	ok := false
	e.read(func(c *core) {
		if p = c.convoyProgress(name); p.Total > 0 || p.TrackingID != "" {
			ok = true
		} else {
			p, ok = c.trackedConvoy(name)
		}
	})
	if !ok {
		return p, Errorf(ENotFound, "no convoy %q", name)
	}
	return p, nil
}
