package mergeq

import (
	"time"

	"github.com/gastown/gtc/coord"
)

// Plug adapts a Queue to coord.MergeQueue, the interface the scheduler core drives (coord cannot
// import this package, which imports coord).
type Plug struct{ Q *Queue }

var _ coord.MergeQueue = Plug{}

// Factory returns a coord.Config.MergeQueue function that builds an empty queue with cfg; a cfg that
// Validate refuses makes the engine refuse to start (Restore returns the error).
func Factory(cfg Config) func() coord.MergeQueue {
	return func() coord.MergeQueue { return Plug{Q: New(cfg)} }
}

// Restore loads saved requests; request ids continue after minSeq even if the requests holding
// higher ids are no longer live, slot epochs after minEpoch. It first refuses a configuration Validate
// refuses: the engine calls it once as it starts, so that is where a bad configuration stops it.
func (p Plug) Restore(reqs []coord.MergeRequest, priority func(issueID string) int, minSeq, minEpoch int64) error {
	if err := p.Q.cfg.Validate(); err != nil {
		return err
	}
	if err := p.Q.Restore(reqs, priority); err != nil {
		return err
	}
	p.Q.nextSeq = max(p.Q.nextSeq, minSeq)
	p.Q.epoch = max(p.Q.epoch, minEpoch)
	return nil
}

// Seq is the sequence number of the newest request id handed out.
func (p Plug) Seq() int64 { return p.Q.nextSeq }

// Submit queues a request of worker for an issue of the given priority.
func (p Plug) Submit(now time.Time, worker string, priority int, s coord.MergeSubmit) (coord.MergeSubmitted, []coord.Change, error) {
	r, ch, err := p.Q.Submit(now, Submission{IssueID: s.IssueID, Worker: worker, Branch: s.Branch, Commit: s.Commit,
		Target: s.Target, Files: s.Files, Priority: priority})
	if err != nil {
		return coord.MergeSubmitted{}, nil, err
	}
	return coord.MergeSubmitted{Request: r.Request, ConflictsWith: r.ConflictsWith, ConflictingFiles: r.ConflictingFiles}, ch, nil
}

// Acquire hands refinery the slot of the best pending request (target "" = any).
func (p Plug) Acquire(now time.Time, refinery, target string) (coord.MergeRequest, []coord.Change, bool) {
	return p.Q.Acquire(now, refinery, target)
}

// Merged records a landed request.
func (p Plug) Merged(now time.Time, id string, epoch int64, mergeCommit string) (coord.MergeDecision, []coord.Change, error) {
	d, ch, err := p.Q.Merged(now, id, epoch, mergeCommit)
	return decision(d), ch, err
}

// Failed records a request that did not land.
func (p Plug) Failed(now time.Time, id string, epoch int64, f coord.MergeFailure) (coord.MergeDecision, []coord.Change, error) {
	d, ch, err := p.Q.Failed(now, id, epoch, Failure{Reason: f.Reason, Conflicts: f.Conflicts, Rework: f.Rework})
	return decision(d), ch, err
}

// Extend renews the slot deadline of the request held at epoch; a non-empty progress is its new note.
func (p Plug) Extend(now time.Time, id string, epoch int64, progress string) (coord.MergeRequest, []coord.Change, error) {
	return p.Q.Extend(now, id, epoch, progress)
}

// Expire takes back every slot whose deadline has passed.
func (p Plug) Expire(now time.Time) ([]coord.MergeDecision, []coord.Change) {
	ds, ch := p.Q.Expire(now)
	return decisions(ds), ch
}

// Abandon takes back every slot held by refinery, saying why ("" = the refinery left).
func (p Plug) Abandon(now time.Time, refinery, why string) ([]coord.MergeDecision, []coord.Change) {
	ds, ch := p.Q.Abandon(now, refinery, why)
	return decisions(ds), ch
}

// Cancel withdraws a live request.
func (p Plug) Cancel(now time.Time, id, reason string) (coord.MergeRequest, []coord.Change, error) {
	return p.Q.Cancel(now, id, reason)
}

// ByIssue returns the live (pending or merging) request of an issue.
func (p Plug) ByIssue(issueID string) (coord.MergeRequest, bool) {
	id, ok := p.Q.byIssue[issueID]
	if !ok {
		return coord.MergeRequest{}, false
	}
	return cloneReq(p.Q.live[id].req), true
}

// Decided returns what the newest finished request of an issue meant for it, when none is live.
func (p Plug) Decided(issueID string) (coord.MergeDecision, bool) {
	d, ok := p.Q.Decided(issueID)
	return decision(d), ok
}

// LastMerged returns the newest merged request of an issue still remembered, live request or not.
func (p Plug) LastMerged(issueID string) (coord.MergeRequest, bool) { return p.Q.LastMerged(issueID) }

// Hold moves every slot's deadline forward by d (a storage failure's length).
func (p Plug) Hold(d time.Duration) { p.Q.Hold(d) }

// NextDeadline is the earliest slot deadline.
func (p Plug) NextDeadline() (time.Time, bool) { return p.Q.NextDeadline() }

// List returns the live requests of target ("" = all) in the order they will start.
func (p Plug) List(target string) []coord.MergeRequest { return p.Q.List(target) }

// Get returns a live or recently finished request.
func (p Plug) Get(id string) (coord.MergeRequest, bool) { return p.Q.Get(id) }

// Merging returns the merging requests held by refinery, by id.
func (p Plug) Merging(refinery string) []coord.MergeRequest {
	var out []coord.MergeRequest
	for _, e := range p.Q.sortedMerging() {
		if e.req.Refinery == refinery {
			out = append(out, cloneReq(e.req))
		}
	}
	return out
}

// Stats counts pending and merging requests.
func (p Plug) Stats() (pending, merging int) {
	s := p.Q.Stats()
	return s.Pending, s.Merging
}

func decision(d Decision) coord.MergeDecision {
	return coord.MergeDecision{Request: d.Request, Requeued: d.Requeued, ReopenIssue: d.ReopenIssue, Infra: d.Infra, Reason: d.Reason}
}

func decisions(ds []Decision) []coord.MergeDecision {
	out := make([]coord.MergeDecision, len(ds))
	for i, d := range ds {
		out[i] = decision(d)
	}
	return out
}
