package mergeq

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gastown/gtc/coord"
)

// Request states (coord.MergeRequest.State).
const (
	StatePending   = "pending"   // waiting for a merge slot
	StateMerging   = "merging"   // a refinery holds the slot lease
	StateMerged    = "merged"    // landed on the target
	StateFailed    = "failed"    // gave up: conflicts, failing gate or attempts exhausted
	StateCancelled = "cancelled" // withdrawn
)

// Event kinds appended to the audit log (coord.Event.Kind).
const (
	EventSubmitted = "merge_submitted" // a request entered the queue
	EventStarted   = "merge_started"   // a refinery took the slot
	EventMerged    = "merge_merged"    // the request landed
	EventRetry     = "merge_retry"     // a retryable failure returned it to pending
	EventExpired   = "merge_expired"   // the slot lease ran out (or its refinery left); back to pending
	EventFailed    = "merge_failed"    // the request failed for good
	EventCancelled = "merge_cancelled" // the request was withdrawn
)

// Submission is what a worker hands in to have its branch merged.
type Submission struct {
	IssueID   string
	Worker    string
	Branch    string
	Commit    string
	Target    string   // empty means Config.DefaultTarget
	Files     []string // paths the change touches; empty means unknown (never conflicts)
	Priority  int      // the issue's priority, 0 highest
	CreatedAt time.Time
}

// SubmitResult is the queued request plus the live requests it overlaps with.
type SubmitResult struct {
	Request          coord.MergeRequest
	ConflictsWith    []string // ids of pending or merging requests on the same target sharing a file
	ConflictingFiles []string // the shared files, sorted
}

// Failure is a refinery's report of a merge that did not land.
type Failure struct {
	Reason    string   // human-readable cause (tail of the gate output, git error)
	Conflicts []string // conflicting files; non-empty means the change needs rework (no retry)
	Rework    bool     // the change itself is at fault (gate failed): no retry, rework
}

// Decision is what one step means for the request's issue; the core applies it.
type Decision struct {
	Request     coord.MergeRequest
	Requeued    bool // the request went back to pending for another attempt
	ReopenIssue bool // reopen Request.IssueID for rework
	// Infra says the request ran out of tries for reasons of the merge itself (slot expiries, failures
	// the refinery did not blame on the change): the issue is reopened without an attempt counted.
	Infra  bool
	Reason string // why, for the issue's notes and events
}

// Stats counts live requests.
type Stats struct{ Pending, Merging int }

type entry struct {
	req      coord.MergeRequest
	seq      int64
	priority int
	key      int64     // rank time in Unix nanoseconds, see rankKey
	held     time.Time // when the current attempt took its slot (a restored one: its last update), for MaxHold
	// notBefore: a retried request may not start before it (RetryDelay; zero: it may; not kept across a
	// restart, after which it may start at once)
	notBefore time.Time
}

// Queue is the merge queue state; it is not safe for concurrent use (the core serialises calls).
type Queue struct {
	cfg       Config
	live      map[string]*entry    // pending and merging
	pending   map[string][]*entry  // target -> pending requests in rank order
	merging   map[string]*entry    // id -> merging request
	byFile    map[fileKey][]*entry // live requests touching a file of a target
	done      map[string]*entry    // recently finished, bounded by KeepDone
	doneOrder []string
	byIssue   map[string]string // issue id -> live request id
	nextSeq   int64
	epoch     int64
}

// New returns an empty queue.
func New(cfg Config) *Queue {
	return &Queue{
		cfg:     cfg.withDefaults(),
		live:    map[string]*entry{},
		pending: map[string][]*entry{},
		merging: map[string]*entry{},
		byFile:  map[fileKey][]*entry{},
		done:    map[string]*entry{},
		byIssue: map[string]string{},
	}
}

// Config returns the effective configuration (defaults filled in).
func (q *Queue) Config() Config { return q.cfg }

// Restore loads requests saved before a restart; priority gives each issue's priority (nil means 2).
// Merging requests keep their lease: the refinery may still report, or the lease expires. After an
// error the queue is partly loaded and should be discarded.
func (q *Queue) Restore(reqs []coord.MergeRequest, priority func(issueID string) int) error {
	maxSeq := q.nextSeq
	for _, r := range reqs {
		if n, ok := parseID(r.ID); ok && n > maxSeq {
			maxSeq = n
		}
	}
	for _, r := range reqs {
		if r.ID == "" {
			return coord.Errorf(coord.EInvalid, "restore merge request for issue %s: empty id", r.IssueID)
		}
		if q.live[r.ID] != nil || q.done[r.ID] != nil {
			return coord.Errorf(coord.EInvalid, "restore merge request %s: duplicate id", r.ID)
		}
		p := 2
		if priority != nil {
			p = priority(r.IssueID)
		}
		seq, ok := parseID(r.ID)
		if !ok {
			maxSeq++ // a foreign id gets a fresh sequence number after ours
			seq = maxSeq
		}
		e := &entry{req: cloneReq(r), seq: seq, priority: clampPriority(p)}
		if r.Epoch > q.epoch {
			q.epoch = r.Epoch
		}
		switch r.State {
		case StatePending, StateMerging:
			if r.State == StateMerging && r.Deadline == nil {
				return coord.Errorf(coord.EInvalid, "restore merge request %s: merging without a deadline", r.ID)
			}
			q.live[r.ID] = e
			q.byIssue[r.IssueID] = r.ID
			q.indexFiles(e)
			if r.State == StateMerging {
				q.merging[r.ID] = e
				e.held = r.UpdatedAt // the slot's start is not stored: MaxHold counts from its last update
			} else {
				q.insertPending(e)
			}
		case StateMerged, StateFailed, StateCancelled:
			q.remember(e)
		default:
			return coord.Errorf(coord.EInvalid, "restore merge request %s: unknown state %q", r.ID, r.State)
		}
	}
	q.nextSeq = maxSeq
	return nil
}

// Submit queues a merge request. It refuses (EConflict) a second live request for the same issue;
// overlapping files with other live requests are reported, not refused.
func (q *Queue) Submit(now time.Time, s Submission) (SubmitResult, []coord.Change, error) {
	switch {
	case s.IssueID == "":
		return SubmitResult{}, nil, coord.Errorf(coord.EInvalid, "merge submission: issue_id is required")
	case s.Worker == "":
		return SubmitResult{}, nil, coord.Errorf(coord.EInvalid, "merge submission: worker is required")
	case s.Branch == "":
		return SubmitResult{}, nil, coord.Errorf(coord.EInvalid, "merge submission: branch is required")
	}
	if id, ok := q.byIssue[s.IssueID]; ok {
		return SubmitResult{}, nil, coord.Errorf(coord.EConflict,
			"issue %s already has merge request %s (%s); cancel it first", s.IssueID, id, q.live[id].req.State)
	}
	target := s.Target
	if target == "" {
		target = q.cfg.DefaultTarget
	}
	created := s.CreatedAt
	if created.IsZero() {
		created = now
	}
	q.nextSeq++
	e := &entry{seq: q.nextSeq, priority: clampPriority(s.Priority), req: coord.MergeRequest{
		ID: formatID(q.nextSeq), IssueID: s.IssueID, Worker: s.Worker, Branch: s.Branch, Commit: s.Commit,
		Target: target, Files: cleanFiles(s.Files), State: StatePending, CreatedAt: created, UpdatedAt: now,
	}}
	res := SubmitResult{Request: cloneReq(e.req)}
	shared := map[string]bool{}
	var with []*entry
	seen := map[*entry]bool{}
	for _, f := range e.req.Files {
		for _, o := range q.byFile[fileKey{target, f}] {
			shared[f] = true
			if !seen[o] {
				seen[o] = true
				with = append(with, o)
			}
		}
	}
	sort.Slice(with, func(i, j int) bool { return with[i].seq < with[j].seq })
	for _, o := range with {
		res.ConflictsWith = append(res.ConflictsWith, o.req.ID)
	}
	for p := range shared {
		res.ConflictingFiles = append(res.ConflictingFiles, p)
	}
	sort.Strings(res.ConflictingFiles)
	q.live[e.req.ID] = e
	q.byIssue[s.IssueID] = e.req.ID
	q.indexFiles(e)
	q.insertPending(e)
	detail := fmt.Sprintf("%s branch %s onto %s", e.req.ID, s.Branch, target)
	if len(res.ConflictsWith) > 0 {
		detail += fmt.Sprintf("; overlaps %s on %s", strings.Join(res.ConflictsWith, ","), strings.Join(res.ConflictingFiles, ","))
	}
	ch := []coord.Change{coord.MergePut{Request: cloneReq(e.req)}, event(now, EventSubmitted, e.req, s.Worker, detail)}
	return res, ch, nil
}

// Acquire gives refinery the slot of the best pending request it may merge now (target "" means any
// target), as a lease with a fresh epoch and a deadline. ok is false when nothing can start.
func (q *Queue) Acquire(now time.Time, refinery, target string) (req coord.MergeRequest, changes []coord.Change, ok bool) {
	e := q.pick(now, target)
	if e == nil {
		return coord.MergeRequest{}, nil, false
	}
	q.removePending(e)
	q.merging[e.req.ID] = e
	q.epoch++
	dl := now.Add(q.cfg.LeaseTimeout)
	e.req.State = StateMerging
	e.req.Refinery = refinery
	e.req.Epoch = q.epoch
	e.held = now
	e.req.Deadline = &dl
	e.req.UpdatedAt = now
	e.req.Error, e.req.Progress = "", ""
	detail := fmt.Sprintf("%s attempt %d epoch %d until %s", e.req.ID, e.req.Attempts+1, e.req.Epoch, dl.UTC().Format(time.RFC3339))
	r := cloneReq(e.req)
	return r, []coord.Change{coord.MergePut{Request: r}, event(now, EventStarted, e.req, refinery, detail)}, true
}

// pick returns the highest-ranked pending request that may start now (target "" = any target).
func (q *Queue) pick(now time.Time, target string) *entry {
	if target != "" {
		return q.pickTarget(now, target)
	}
	var best *entry
	for t := range q.pending {
		if e := q.pickTarget(now, t); e != nil && (best == nil || q.less(e, best)) {
			best = e
		}
	}
	return best
}

// pickTarget returns the first pending request of target, in rank order, that has a free slot, is not
// waiting for its retry delay and shares no file with a merging request or with a higher-ranked request
// that has to wait.
func (q *Queue) pickTarget(now time.Time, target string) *entry {
	pend := q.pending[target]
	if len(pend) == 0 {
		return nil
	}
	busy := 0
	var blocked map[string]bool
	for _, m := range q.merging {
		if m.req.Target != target {
			continue
		}
		busy++
		for _, f := range m.req.Files {
			if blocked == nil {
				blocked = map[string]bool{}
			}
			blocked[f] = true
		}
	}
	if busy >= q.cfg.MaxParallel {
		return nil
	}
	for _, e := range pend {
		clash := e.notBefore.After(now) // waiting for its retry delay: it waits like a clash
		for _, f := range e.req.Files {
			if clash || blocked[f] {
				clash = true
				break
			}
		}
		if !clash {
			return e
		}
		if blocked == nil {
			blocked = map[string]bool{}
		}
		// A higher-ranked request that must wait keeps its files: lower-ranked requests touching
		// them may not overtake it.
		for _, f := range e.req.Files {
			blocked[f] = true
		}
	}
	return nil
}

// Extend renews the slot lease of a merging request held at epoch; it returns the new deadline in the
// request. A non-empty progress becomes the request's Progress note.
func (q *Queue) Extend(now time.Time, id string, epoch int64, progress string) (coord.MergeRequest, []coord.Change, error) {
	e, err := q.holder(id, epoch, "extend")
	if err != nil {
		return coord.MergeRequest{}, nil, err
	}
	noted := progress != "" && progress != e.req.Progress
	if noted {
		e.req.Progress = progress
	}
	dl := now.Add(q.cfg.LeaseTimeout)
	if hold := e.held.Add(q.cfg.MaxHold); dl.After(hold) {
		dl = hold // no renewal past MaxHold: Expire takes the slot back then
	}
	if e.req.Deadline != nil && !dl.After(*e.req.Deadline) {
		if noted {
			e.req.UpdatedAt = now
		}
		return cloneReq(e.req), nil, nil
	}
	e.req.Deadline = &dl
	e.req.UpdatedAt = now
	r := cloneReq(e.req)
	return r, []coord.Change{coord.MergePut{Request: r}}, nil
}

// Merged records that the request held at epoch landed; mergeCommit goes into the event.
func (q *Queue) Merged(now time.Time, id string, epoch int64, mergeCommit string) (Decision, []coord.Change, error) {
	e, err := q.holder(id, epoch, "report merged")
	if err != nil {
		return Decision{}, nil, err
	}
	e.req.State = StateMerged
	e.req.Deadline = nil
	e.req.UpdatedAt = now
	e.req.Error = ""
	e.req.Conflicts = nil
	q.finish(e)
	r := cloneReq(e.req)
	detail := fmt.Sprintf("%s onto %s", e.req.ID, e.req.Target)
	if mergeCommit != "" {
		detail += " as " + mergeCommit
	}
	return Decision{Request: r}, []coord.Change{coord.MergePut{Request: r}, event(now, EventMerged, e.req, e.req.Refinery, detail)}, nil
}

// Failed records that the request held at epoch did not land. Conflicts or Rework end it (and, unless
// KeepIssueOnConflict, ask for the issue to be reopened); other failures retry until MaxAttempts.
func (q *Queue) Failed(now time.Time, id string, epoch int64, f Failure) (Decision, []coord.Change, error) {
	e, err := q.holder(id, epoch, "report failed")
	if err != nil {
		return Decision{}, nil, err
	}
	reason := f.Reason
	if reason == "" {
		reason = "merge failed"
	}
	if len(f.Conflicts) > 0 || f.Rework {
		e.req.Conflicts = cleanFiles(f.Conflicts)
		if len(e.req.Conflicts) > 0 {
			// the paths go into the reason whatever the refinery said, so that the rework's agent finds
			// them in the events and issue show (a request that failed leaves merge.list)
			c := "conflicts in " + strings.Join(e.req.Conflicts, ", ")
			if f.Reason == "" {
				reason = c
			} else if !strings.Contains(f.Reason, c) {
				reason = f.Reason + " (" + c + ")"
			}
		}
		e.req.Attempts++
		d, ch := q.fail(now, e, reason, e.req.Refinery)
		d.ReopenIssue = !q.cfg.KeepIssueOnConflict
		return d, ch, nil
	}
	d, ch := q.retry(now, e, reason, EventRetry, e.req.Refinery)
	return d, ch, nil
}

// Expire takes back every slot lease whose deadline has passed: the request returns to pending with
// one more attempt, or fails once MaxAttempts is reached.
func (q *Queue) Expire(now time.Time) ([]Decision, []coord.Change) {
	var ds []Decision
	var ch []coord.Change
	for _, pend := range q.pending {
		for _, e := range pend {
			if !e.notBefore.IsZero() && !now.Before(e.notBefore) {
				e.notBefore = time.Time{} // its delay is over: not a deadline any more (NextDeadline)
			}
		}
	}
	for _, e := range q.sortedMerging() {
		if e.req.Deadline != nil && !now.Before(*e.req.Deadline) {
			d, c := q.retry(now, e, fmt.Sprintf("merge slot of %s expired", e.req.Refinery), EventExpired, "")
			ds = append(ds, d)
			ch = append(ch, c...)
		}
	}
	return ds, ch
}

// Abandon takes back every slot held by refinery (it disconnected, or went silent), as if its leases
// had expired; why is the reason recorded ("" = "refinery <name> left").
func (q *Queue) Abandon(now time.Time, refinery, why string) ([]Decision, []coord.Change) {
	if why == "" {
		why = fmt.Sprintf("refinery %s left", refinery)
	}
	var ds []Decision
	var ch []coord.Change
	for _, e := range q.sortedMerging() {
		if e.req.Refinery == refinery {
			d, c := q.retry(now, e, why, EventExpired, "")
			ds = append(ds, d)
			ch = append(ch, c...)
		}
	}
	return ds, ch
}

// Cancel withdraws a pending or merging request; a merging one frees its slot at once, and its
// refinery's later report or renewal is refused (EConflict: the request is already cancelled).
func (q *Queue) Cancel(now time.Time, id, reason string) (coord.MergeRequest, []coord.Change, error) {
	e := q.live[id]
	if e == nil {
		if q.done[id] != nil {
			return coord.MergeRequest{}, nil, coord.Errorf(coord.EConflict, "merge request %s is already %s", id, q.done[id].req.State)
		}
		return coord.MergeRequest{}, nil, coord.Errorf(coord.ENotFound, "no merge request %s", id)
	}
	if reason == "" {
		reason = "cancelled"
	}
	e.req.State = StateCancelled
	e.req.Deadline = nil
	e.req.UpdatedAt = now
	e.req.Error = reason
	q.finish(e)
	r := cloneReq(e.req)
	return r, []coord.Change{coord.MergePut{Request: r}, event(now, EventCancelled, e.req, "", reason)}, nil
}

// CancelIssue withdraws the live request of an issue, if any (the issue was closed or deleted).
func (q *Queue) CancelIssue(now time.Time, issueID, reason string) (coord.MergeRequest, []coord.Change, bool) {
	id, ok := q.byIssue[issueID]
	if !ok {
		return coord.MergeRequest{}, nil, false
	}
	r, ch, err := q.Cancel(now, id, reason)
	return r, ch, err == nil
}

// Decided returns what the newest finished request of an issue (still remembered, KeepDone) meant for
// it, when the issue has no live request: merged, or failed (reopen for rework unless
// KeepIssueOnConflict). A cancelled request decides nothing.
func (q *Queue) Decided(issueID string) (Decision, bool) {
	if _, live := q.byIssue[issueID]; live {
		return Decision{}, false
	}
	for i := len(q.doneOrder) - 1; i >= 0; i-- {
		e := q.done[q.doneOrder[i]]
		if e == nil || e.req.IssueID != issueID {
			continue
		}
		switch e.req.State {
		case StateMerged:
			return Decision{Request: cloneReq(e.req)}, true
		case StateFailed:
			return Decision{Request: cloneReq(e.req), ReopenIssue: !q.cfg.KeepIssueOnConflict, Reason: e.req.Error}, true
		}
		return Decision{}, false
	}
	return Decision{}, false
}

// LastMerged returns the newest merged request of an issue still remembered (KeepDone), whether or not
// the issue has a live request too.
func (q *Queue) LastMerged(issueID string) (coord.MergeRequest, bool) {
	for i := len(q.doneOrder) - 1; i >= 0; i-- {
		if e := q.done[q.doneOrder[i]]; e != nil && e.req.IssueID == issueID && e.req.State == StateMerged {
			return cloneReq(e.req), true
		}
	}
	return coord.MergeRequest{}, false
}

// Hold moves every slot's deadline (and its MaxHold start) forward by d: the refinery's heartbeats were
// refused while the coordinator's storage failed, and that time is not counted against it.
func (q *Queue) Hold(d time.Duration) {
	for _, e := range q.merging {
		if e.req.Deadline != nil {
			dl := e.req.Deadline.Add(d)
			e.req.Deadline = &dl
		}
		e.held = e.held.Add(d)
	}
}

// NextDeadline is the earliest slot lease deadline, for the core's timer.
func (q *Queue) NextDeadline() (time.Time, bool) {
	var best time.Time
	found := false
	for _, e := range q.merging {
		if e.req.Deadline != nil && (!found || e.req.Deadline.Before(best)) {
			best, found = *e.req.Deadline, true
		}
	}
	for _, pend := range q.pending { // the end of a retry delay (Expire clears it once passed)
		for _, e := range pend {
			if !e.notBefore.IsZero() && (!found || e.notBefore.Before(best)) {
				best, found = e.notBefore, true
			}
		}
	}
	return best, found
}

// Get returns a live or recently finished request.
func (q *Queue) Get(id string) (coord.MergeRequest, bool) {
	if e := q.live[id]; e != nil {
		return cloneReq(e.req), true
	}
	if e := q.done[id]; e != nil {
		return cloneReq(e.req), true
	}
	return coord.MergeRequest{}, false
}

// List returns the live requests of target ("" = all): merging first, then pending in the order they will start.
func (q *Queue) List(target string) []coord.MergeRequest {
	es := q.sortedLive(target)
	out := make([]coord.MergeRequest, len(es))
	for i, e := range es {
		out[i] = cloneReq(e.req)
	}
	return out
}

// Stats counts the live requests.
func (q *Queue) Stats() Stats {
	return Stats{Pending: len(q.live) - len(q.merging), Merging: len(q.merging)}
}

// holder finds the merging request id held at epoch.
func (q *Queue) holder(id string, epoch int64, what string) (*entry, error) {
	if e := q.live[id]; e != nil {
		if e.req.State == StateMerging && e.req.Epoch == epoch {
			return e, nil
		}
		return nil, coord.Errorf(coord.EStaleEpoch, "%s %s: epoch %d is not current (request is %s)", what, id, epoch, e.req.State)
	}
	if e := q.done[id]; e != nil {
		if e.req.Epoch == epoch {
			return nil, coord.Errorf(coord.EConflict, "%s %s: request is already %s", what, id, e.req.State)
		}
		return nil, coord.Errorf(coord.EStaleEpoch, "%s %s: epoch %d is not current (request is %s)", what, id, epoch, e.req.State)
	}
	return nil, coord.Errorf(coord.ENotFound, "%s: no merge request %s", what, id)
}

// retry counts a failed attempt and returns the request to pending, or fails it when attempts run out.
func (q *Queue) retry(now time.Time, e *entry, reason, kind, actor string) (Decision, []coord.Change) {
	e.req.Attempts++
	if e.req.Attempts >= q.cfg.MaxAttempts {
		// out of attempts: the issue goes back for rework like after a conflict, instead of staying
		// code complete with nothing left to merge it
		var expired []coord.Change
		if kind == EventExpired { // the slot was taken back, as for the earlier attempts: said before the failure
			expired = append(expired, event(now, kind, e.req, actor,
				fmt.Sprintf("%s: %s; attempt %d of %d", e.req.ID, reason, e.req.Attempts, q.cfg.MaxAttempts)))
		}
		d, ch := q.fail(now, e, fmt.Sprintf("%s (attempt %d of %d)", reason, e.req.Attempts, q.cfg.MaxAttempts), actor)
		d.ReopenIssue, d.Infra = !q.cfg.KeepIssueOnConflict, true
		return d, append(expired, ch...)
	}
	delete(q.merging, e.req.ID)
	e.req.State = StatePending
	e.req.Refinery = ""
	e.req.Deadline = nil
	e.req.UpdatedAt = now
	e.req.Error, e.req.Progress = reason, ""
	delay := q.cfg.RetryDelay << min(e.req.Attempts-1, 16)
	e.notBefore = now.Add(min(delay, q.cfg.MaxRetryPenalty))
	q.insertPending(e) // the key moves by the retry penalty
	r := cloneReq(e.req)
	detail := fmt.Sprintf("%s: %s; attempt %d of %d", e.req.ID, reason, e.req.Attempts, q.cfg.MaxAttempts)
	return Decision{Request: r, Requeued: true, Reason: reason},
		[]coord.Change{coord.MergePut{Request: r}, event(now, kind, e.req, actor, detail)}
}

func (q *Queue) fail(now time.Time, e *entry, reason, actor string) (Decision, []coord.Change) {
	e.req.State = StateFailed
	e.req.Deadline = nil
	e.req.UpdatedAt = now
	e.req.Error = reason
	q.finish(e)
	r := cloneReq(e.req)
	return Decision{Request: r, Reason: reason},
		[]coord.Change{coord.MergePut{Request: r}, event(now, EventFailed, e.req, actor, e.req.ID+": "+reason)}
}

// finish moves a request from live to done.
func (q *Queue) finish(e *entry) {
	e.req.Progress = ""
	if q.merging[e.req.ID] == e {
		delete(q.merging, e.req.ID)
	} else {
		q.removePending(e)
	}
	q.unindexFiles(e)
	delete(q.live, e.req.ID)
	if q.byIssue[e.req.IssueID] == e.req.ID {
		delete(q.byIssue, e.req.IssueID)
	}
	q.remember(e)
}

func (q *Queue) remember(e *entry) {
	q.done[e.req.ID] = e
	q.doneOrder = append(q.doneOrder, e.req.ID)
	for len(q.doneOrder) > q.cfg.KeepDone {
		delete(q.done, q.doneOrder[0])
		q.doneOrder = q.doneOrder[1:]
	}
}

// rankKey is the virtual time (Unix ns) a request is ordered by: its age, shifted later by its
// priority level and (capped) by its failed attempts, so an old request always overtakes newer ones
// eventually.
func (q *Queue) rankKey(e *entry) int64 {
	pen := time.Duration(e.req.Attempts) * q.cfg.RetryPenalty
	if pen > q.cfg.MaxRetryPenalty {
		pen = q.cfg.MaxRetryPenalty
	}
	return e.req.CreatedAt.Add(time.Duration(e.priority)*q.cfg.PriorityStep + pen).UnixNano()
}

func (q *Queue) less(a, b *entry) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	if a.priority != b.priority {
		return a.priority < b.priority
	}
	return a.seq < b.seq
}

// insertPending (re)computes e's rank key and inserts it into its target's pending list.
func (q *Queue) insertPending(e *entry) {
	e.key = q.rankKey(e)
	s := q.pending[e.req.Target]
	i := sort.Search(len(s), func(i int) bool { return q.less(e, s[i]) })
	s = append(s, nil)
	copy(s[i+1:], s[i:])
	s[i] = e
	q.pending[e.req.Target] = s
}

// removePending takes e out of its target's pending list, if it is there.
func (q *Queue) removePending(e *entry) {
	s := q.pending[e.req.Target]
	i := sort.Search(len(s), func(i int) bool { return !q.less(s[i], e) })
	if i == len(s) || s[i] != e {
		return
	}
	copy(s[i:], s[i+1:])
	s[len(s)-1] = nil
	s = s[:len(s)-1]
	if len(s) == 0 {
		delete(q.pending, e.req.Target)
	} else {
		q.pending[e.req.Target] = s
	}
}

// sortedMerging returns the merging requests by id order.
func (q *Queue) sortedMerging() []*entry {
	es := make([]*entry, 0, len(q.merging))
	for _, e := range q.merging {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	return es
}

// sortedLive returns the live entries of target ("" = all): merging by id, then pending in rank order.
func (q *Queue) sortedLive(target string) []*entry {
	var es []*entry
	for _, e := range q.sortedMerging() {
		if target == "" || e.req.Target == target {
			es = append(es, e)
		}
	}
	var pend []*entry
	for t, s := range q.pending {
		if target == "" || t == target {
			pend = append(pend, s...)
		}
	}
	sort.Slice(pend, func(i, j int) bool { return q.less(pend[i], pend[j]) })
	return append(es, pend...)
}

func event(now time.Time, kind string, r coord.MergeRequest, actor, detail string) coord.Change {
	return coord.EventAppend{Event: coord.Event{
		Time: now, Kind: kind, IssueID: r.IssueID, Worker: r.Worker, Actor: actor, Detail: detail,
	}}
}

// fileKey names one path of one target branch; conflicts are exact path equality.
type fileKey struct{ target, path string }

func (q *Queue) indexFiles(e *entry) {
	for _, f := range e.req.Files {
		k := fileKey{e.req.Target, f}
		q.byFile[k] = append(q.byFile[k], e)
	}
}

func (q *Queue) unindexFiles(e *entry) {
	for _, f := range e.req.Files {
		k := fileKey{e.req.Target, f}
		s := q.byFile[k]
		for i, o := range s {
			if o == e {
				s = append(s[:i], s[i+1:]...)
				break
			}
		}
		if len(s) == 0 {
			delete(q.byFile, k)
		} else {
			q.byFile[k] = s
		}
	}
}

// cleanFiles drops empty and duplicate paths and sorts the rest.
func cleanFiles(fs []string) []string {
	if len(fs) == 0 {
		return nil
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

func cloneReq(r coord.MergeRequest) coord.MergeRequest {
	r.Files = append([]string(nil), r.Files...)
	r.Conflicts = append([]string(nil), r.Conflicts...)
	if len(r.Files) == 0 {
		r.Files = nil
	}
	if len(r.Conflicts) == 0 {
		r.Conflicts = nil
	}
	if r.Deadline != nil {
		d := *r.Deadline
		r.Deadline = &d
	}
	return r
}

func clampPriority(p int) int {
	if p < 0 {
		return 0
	}
	if p > MaxPriority {
		return MaxPriority
	}
	return p
}

const idPrefix = "MR-"

func formatID(n int64) string { return idPrefix + strconv.FormatInt(n, 10) }

func parseID(id string) (int64, bool) {
	if !strings.HasPrefix(id, idPrefix) {
		return 0, false
	}
	n, err := strconv.ParseInt(id[len(idPrefix):], 10, 64)
	return n, err == nil && n > 0
}
