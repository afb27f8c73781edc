package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
)

// backend implements rpc.Backend with the engine (decisions) and the store (reads).
type backend struct{ d *Daemon }

var _ rpc.Backend = (*backend)(nil)
var _ rpc.AsyncBackend = (*backend)(nil)

func storeFilterLimit(n int) store.IssueFilter { return store.IssueFilter{Limit: n} }

// refusal counts and logs stale-epoch refusals (what gtc_stale_epoch_refusals_total counts: the log says
// who sent which) and passes err through.
func (b *backend) refusal(err error, method, worker, lease string, epoch int64) error {
	if coord.ErrorCode(err) == coord.EStaleEpoch {
		b.d.metrics.StaleEpoch()
		b.d.log.Info("refused a request naming an ended lease or an old epoch", "method", method, "worker", worker,
			"lease", lease, "epoch", epoch, "reason", err)
	}
	return err
}

// assignments renders engine assignments for the wire.
func (b *backend) assignments(as []coord.Assignment) ([]rpc.Assignment, error) {
	out := make([]rpc.Assignment, 0, len(as))
	for _, a := range as {
		issue, prompt, err := b.d.issues.render(a.Lease.IssueID)
		if err != nil {
			return nil, err
		}
		out = append(out, rpc.Assignment{Lease: a.Lease, Issue: issue, Prompt: prompt})
	}
	return out, nil
}

func (b *backend) Hello(ctx context.Context, s *rpc.Session, p rpc.HelloParams) (*rpc.HelloResult, error) {
	h := coord.Hello{Name: s.Worker, Role: s.Role, Capacity: s.Capacity, Filters: s.Filters}
	as, err := b.d.engine.Connect(ctx, h, s.ID)
	readOnly := false
	if err != nil {
		if s.Role != "client" || !coord.StorageFailed(err) {
			return nil, err
		}
		// An operator's `gtc status`, `health` or `issue show` must work while the storage fails: the
		// session is not recorded, and only reads are served on it.
		readOnly = true
	}
	leases, err := b.assignments(as)
	if err != nil {
		return nil, err
	}
	cfg := b.d.cfg.Coord
	hb := cfg.HeartbeatTimeout
	if hb <= 0 {
		hb = 60 * time.Second
	}
	grace := cfg.Grace
	if grace <= 0 {
		grace = 30 * time.Second // coord.Config's default
	}
	return &rpc.HelloResult{Server: "gtc", Version: b.d.cfg.Version, Protocol: 1, Worker: s.Worker,
		HeartbeatMS: (hb / 3).Milliseconds(), AckTimeoutMS: ackTimeout(cfg).Milliseconds(), GraceMS: grace.Milliseconds(),
		Leases: leases, ReadOnly: readOnly}, nil
}

func (b *backend) Heartbeat(ctx context.Context, s *rpc.Session, p rpc.HeartbeatParams) (*rpc.HeartbeatResult, error) {
	if p.LeaseID != "" && p.Epoch == 0 {
		return nil, coord.Errorf(coord.EInvalid, `invalid params: missing "epoch": a heartbeat naming a lease carries its epoch`)
	}
	dl, err := b.d.engine.Heartbeat(ctx, s.Worker, p.LeaseID, p.Epoch, p.Progress)
	if err != nil {
		return nil, b.refusal(err, "heartbeat", s.Worker, p.LeaseID, p.Epoch)
	}
	return &rpc.HeartbeatResult{Deadline: dl}, nil
}

func (b *backend) Complete(ctx context.Context, s *rpc.Session, p rpc.CompleteParams) (*rpc.CompleteResult, error) {
	r, err := b.d.engine.Complete(ctx, s.Worker, p.LeaseID, p.Epoch, coord.SessionResult{
		Outcome: p.Outcome, Summary: p.Summary, GitCommit: p.GitCommit, ContextUsed: int(p.ContextUsed),
		DurationMs: p.DurationMS, Error: p.Error,
	})
	if err != nil {
		return nil, b.refusal(err, "complete", s.Worker, p.LeaseID, p.Epoch)
	}
	return &rpc.CompleteResult{IssueID: r.IssueID, Status: r.Status, Outcome: r.Outcome}, nil
}

// CompleteAsync is Complete without a goroutine waiting for the commit (rpc.AsyncBackend); done runs
// on the engine's goroutine.
func (b *backend) CompleteAsync(_ context.Context, s *rpc.Session, p rpc.CompleteParams, done func(*rpc.CompleteResult, error)) {
	b.d.engine.CompleteAsync(s.Worker, p.LeaseID, p.Epoch, coord.SessionResult{
		Outcome: p.Outcome, Summary: p.Summary, GitCommit: p.GitCommit, ContextUsed: int(p.ContextUsed),
		DurationMs: p.DurationMS, Error: p.Error,
	}, func(r coord.Result, err error) {
		if err != nil {
			done(nil, b.refusal(err, "complete", s.Worker, p.LeaseID, p.Epoch))
			return
		}
		done(&rpc.CompleteResult{IssueID: r.IssueID, Status: r.Status, Outcome: r.Outcome}, nil)
	})
}

// FailAsync is Fail without a goroutine waiting for the commit (rpc.AsyncBackend).
func (b *backend) FailAsync(_ context.Context, s *rpc.Session, p rpc.FailParams, done func(*rpc.FailResult, error)) {
	b.d.engine.FailAsync(s.Worker, p.LeaseID, p.Epoch, p.Error, func(r coord.Result, err error) {
		if err != nil {
			done(nil, b.refusal(err, "fail", s.Worker, p.LeaseID, p.Epoch))
			return
		}
		done(&rpc.FailResult{IssueID: r.IssueID, Status: r.Status, Attempt: r.Attempt, DeadLettered: r.DeadLettered}, nil)
	})
}

func (b *backend) Fail(ctx context.Context, s *rpc.Session, p rpc.FailParams) (*rpc.FailResult, error) {
	r, err := b.d.engine.Fail(ctx, s.Worker, p.LeaseID, p.Epoch, p.Error)
	if err != nil {
		return nil, b.refusal(err, "fail", s.Worker, p.LeaseID, p.Epoch)
	}
	return &rpc.FailResult{IssueID: r.IssueID, Status: r.Status, Attempt: r.Attempt, DeadLettered: r.DeadLettered}, nil
}

func (b *backend) Release(ctx context.Context, s *rpc.Session, p rpc.ReleaseParams) (*rpc.ReleaseResult, error) {
	r, err := b.d.engine.Release(ctx, s.Worker, p.LeaseID, p.Epoch, p.Reason)
	if err != nil {
		return nil, b.refusal(err, "release", s.Worker, p.LeaseID, p.Epoch)
	}
	return &rpc.ReleaseResult{IssueID: r.IssueID, Status: r.Status}, nil
}

func (b *backend) Claim(ctx context.Context, s *rpc.Session, p rpc.ClaimParams) (*rpc.ClaimResult, error) {
	if p.WaitMS < 0 {
		return nil, coord.Errorf(coord.EInvalid, "wait_ms must not be negative")
	}
	a, err := b.d.engine.Claim(ctx, s.Worker, p.Filters, time.Duration(p.WaitMS)*time.Millisecond)
	if err != nil || a == nil {
		return &rpc.ClaimResult{}, err
	}
	as, err := b.assignments([]coord.Assignment{*a})
	if err != nil {
		return nil, err
	}
	return &rpc.ClaimResult{Assignment: &as[0]}, nil
}

func (b *backend) IssueGet(ctx context.Context, _ *rpc.Session, p rpc.IssueGetParams) (*rpc.IssueResult, error) {
	r, err := b.d.issues.get(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	ls, err := b.d.db.RecentLeases(ctx, p.ID, rpc.MaxIssueLeases)
	if err != nil {
		return nil, err
	}
	r.Leases = ls
	if r.Dependents, r.DependentsTotal, err = b.d.db.Dependents(ctx, p.ID, rpc.MaxIssueDependents); err != nil {
		return nil, err
	}
	r.Readiness, _ = b.d.engine.Readiness(p.ID)
	return r, nil
}

func (b *backend) IssueList(ctx context.Context, _ *rpc.Session, p rpc.IssueListParams) (*rpc.IssueListResult, error) {
	if p.Limit < 0 || p.Offset < 0 {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: limit and offset must not be negative")
	}
	if p.Offset > maxListOffset {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: offset over %d", maxListOffset)
	}
	page := pageSize(p.Limit)
	ids, err := b.d.db.ListIssueIDs(ctx, store.IssueFilter{Status: p.Status, Label: p.Label, Type: p.Type,
		Assignee: p.Assignee, Limit: page + 1}, p.Offset)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 && p.Offset == 0 {
		// nothing matches: a status or type no issue has and bd does not know is a typo, said as for
		// issue.update (CLI trial: `gtc issue list --status opne` printed "no issues match")
		if p.Status != "" {
			if err := b.d.issues.knownStatus(ctx, p.Status); err != nil {
				return nil, err
			}
		}
		if p.Type != "" {
			if err := b.d.issues.knownType(ctx, p.Type); err != nil {
				return nil, err
			}
		}
	}
	return b.render(ctx, ids, p.Offset, page)
}

// maxListOffset bounds the offset of issue.list and issue.ready (the sum with a page must not overflow).
const maxListOffset = 1 << 40

// pageSize is the number of issues one issue.list or issue.ready answer holds for a requested limit.
func pageSize(limit int) int {
	if limit <= 0 || limit > rpc.MaxListIssues {
		return rpc.MaxListIssues
	}
	return limit
}

// render returns the current records of the first page of ids (which start at match number offset),
// in that order, and whether more ids (one more is enough) or records over rpc.MaxListBytes were left
// out, with the offset of the next page: an id with no stored record yet (a create not committed) is
// skipped but counted.
func (b *backend) render(ctx context.Context, ids []string, offset, page int) (*rpc.IssueListResult, error) {
	res := &rpc.IssueListResult{Issues: make([]json.RawMessage, 0, min(len(ids), page))}
	if len(ids) > page {
		ids, res.More = ids[:page], true
	}
	used := len(ids)
	defer func() {
		if res.More {
			res.NextOffset = offset + used
		}
	}()
	if len(ids) == 0 {
		return res, nil
	}
	recs, err := b.d.db.ListRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	size := 0
	byID := make(map[string]int, len(recs))
	for i, r := range recs {
		byID[r.ID] = i
	}
	for n, id := range ids {
		i, ok := byID[id]
		if !ok {
			continue
		}
		j := json.RawMessage(recs[i].Raw) // unchanged since its line was written: the line is the record
		if recs[i].Dirty || recs[i].Raw == nil || recs[i].Issue.ID != "" {
			if j, err = recordJSON(recs[i].Issue, recs[i].Raw); err != nil {
				return nil, err
			}
		}
		if size += len(j); size > rpc.MaxListBytes && len(res.Issues) > 0 {
			res.More, used = true, n
			break
		}
		res.Issues = append(res.Issues, j)
	}
	return res, nil
}

func (b *backend) IssueReady(ctx context.Context, _ *rpc.Session, p rpc.IssueReadyParams) (*rpc.IssueListResult, error) {
	if p.Limit < 0 || p.Offset < 0 {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: limit and offset must not be negative")
	}
	if p.Offset > maxListOffset {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: offset over %d", maxListOffset)
	}
	page := pageSize(p.Limit)
	ids := b.d.engine.Ready(p.Offset + page + 1)
	return b.render(ctx, ids[min(p.Offset, len(ids)):], p.Offset, page)
}

func (b *backend) IssueCreate(ctx context.Context, _ *rpc.Session, p rpc.IssueCreateParams) (*rpc.IssueResult, error) {
	return b.d.issues.create(ctx, p)
}

// IssueCreateAsync is IssueCreate without a goroutine waiting for the commit (rpc.AsyncBackend).
func (b *backend) IssueCreateAsync(ctx context.Context, _ *rpc.Session, p rpc.IssueCreateParams, done func(*rpc.IssueResult, error)) {
	b.d.issues.createAsync(ctx, p, done)
}

func (b *backend) IssueUpdate(ctx context.Context, s *rpc.Session, p rpc.IssueUpdateParams) (*rpc.IssueResult, error) {
	return b.d.issues.update(ctx, sessionName(s), p)
}

func (b *backend) IssueClose(ctx context.Context, s *rpc.Session, p rpc.IssueCloseParams) (*rpc.IssueResult, error) {
	return b.d.issues.close(ctx, sessionName(s), p)
}

// sessionName is the name a session said hello with ("" without one), the actor of its changes.
func sessionName(s *rpc.Session) string {
	if s == nil {
		return ""
	}
	return s.Worker
}

func (b *backend) IssueDepAdd(ctx context.Context, _ *rpc.Session, p rpc.IssueDepParams) (*rpc.IssueResult, error) {
	return b.d.issues.depAdd(ctx, p)
}

func (b *backend) IssueDepRemove(ctx context.Context, _ *rpc.Session, p rpc.IssueDepParams) (*rpc.IssueResult, error) {
	return b.d.issues.depRemove(ctx, p)
}

func (b *backend) IssueLabelAdd(ctx context.Context, _ *rpc.Session, p rpc.IssueLabelParams) (*rpc.IssueResult, error) {
	return b.d.issues.labelAdd(ctx, p)
}

func (b *backend) IssueLabelRemove(ctx context.Context, _ *rpc.Session, p rpc.IssueLabelParams) (*rpc.IssueResult, error) {
	return b.d.issues.labelRemove(ctx, p)
}

func (b *backend) IssueComment(ctx context.Context, s *rpc.Session, p rpc.IssueCommentParams) (*rpc.IssueResult, error) {
	return b.d.issues.comment(ctx, s.Worker, p)
}

func (b *backend) CoordStatus(context.Context, *rpc.Session, rpc.EmptyParams) (*rpc.StatusResult, error) {
	st, absent := b.d.engine.StatusForOperator()
	return &rpc.StatusResult{
		Issues: rpc.IssueCounts{Ready: st.Issues.Ready, Leased: st.Issues.Leased, Closed: st.Issues.Closed,
			DeadLettered: st.Issues.DeadLettered, Blocked: st.Issues.Blocked, Total: st.Issues.Total,
			Other:          max(0, st.Issues.Total-st.Issues.Ready-st.Issues.Leased-st.Issues.Closed-st.Issues.DeadLettered-st.Issues.Blocked),
			ReadyForAbsent: absent},
		Workers:    workerCounts(st.Workers),
		Refineries: workerCounts(st.Refineries),
		Paused:     st.Paused,
		Sync:       b.d.sync.info(),
		Store:      b.d.storeInfo(),
	}, nil
}

// workerCounts is c on the wire.
func workerCounts(c coord.WorkerCounts) rpc.WorkerCounts {
	return rpc.WorkerCounts{Idle: c.Idle, Busy: c.Busy, Draining: c.Draining, Stalled: c.Stalled, Gone: c.Gone}
}

func (b *backend) CoordWorkers(context.Context, *rpc.Session, rpc.EmptyParams) (*rpc.WorkersResult, error) {
	ws := b.d.engine.Workers()
	res := &rpc.WorkersResult{Workers: make([]rpc.WorkerInfo, 0, len(ws))}
	for _, w := range ws {
		leases := w.Leases
		if leases == nil {
			leases = []coord.Lease{}
		}
		res.Workers = append(res.Workers, rpc.WorkerInfo{Name: w.Name, Role: w.Role, Capacity: w.Capacity, Draining: w.Draining,
			State: w.State, Leases: leases, LastSeen: w.LastSeen})
	}
	return res, nil
}

func (b *backend) CoordPause(ctx context.Context, s *rpc.Session, _ rpc.PauseParams) (*rpc.PauseResult, error) {
	if err := b.d.engine.Pause(ctx, sessionName(s)); err != nil {
		return nil, err
	}
	return &rpc.PauseResult{Paused: true}, nil
}

func (b *backend) CoordResume(ctx context.Context, s *rpc.Session, _ rpc.PauseParams) (*rpc.PauseResult, error) {
	if err := b.d.engine.Resume(ctx, sessionName(s)); err != nil {
		return nil, err
	}
	return &rpc.PauseResult{Paused: false}, nil
}

func (b *backend) EventsList(ctx context.Context, _ *rpc.Session, p rpc.EventsListParams) (*rpc.EventsListResult, error) {
	if p.AfterSeq < 0 || p.Limit < 0 {
		return nil, coord.Errorf(coord.EInvalid, "after_seq and limit must be 0 or more (0: from the start, the default page)")
	}
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	res := &rpc.EventsListResult{NextSeq: p.AfterSeq}
	var err error
	if p.IssueID != "" {
		res.Events, res.NextSeq, res.More, err = b.d.db.IssueEvents(ctx, p.IssueID, p.AfterSeq, limit)
	} else if res.Events, res.More, err = b.d.db.EventsPage(ctx, p.AfterSeq, limit); err == nil && len(res.Events) > 0 {
		res.NextSeq = res.Events[len(res.Events)-1].Seq
	}
	if err != nil {
		return nil, err
	}
	if res.Events == nil {
		res.Events = []coord.Event{}
	}
	return res, nil
}

func (b *backend) EventsSubscribe(context.Context, *rpc.Session, rpc.SubscribeParams) (*rpc.SubscribeResult, error) {
	return &rpc.SubscribeResult{Subscribed: true}, nil
}

// Acked hands the ack to the engine without waiting for its commit: nothing is sent back, and a
// goroutine blocked per in-flight ack was a third of the server's stacks at 1,000 agents.
func (b *backend) Acked(_ context.Context, s *rpc.Session, leaseID string, epoch int64) {
	b.d.out.acked(leaseID)
	worker := s.Worker
	b.d.engine.AckAsync(worker, leaseID, epoch, func(err error) {
		if err != nil {
			// not a stale-epoch refusal: the ack is the reply to the push, carrying its epoch; it comes
			// late when the lease ended first (the worker's complete overtook it, an ack timeout)
			b.d.log.Debug("ack refused", "worker", worker, "lease", leaseID, "err", err)
		}
	})
}

// Rejected hands the refusal to the engine without waiting, like Acked.
func (b *backend) Rejected(_ context.Context, s *rpc.Session, leaseID string, epoch int64, reason string) {
	b.d.out.rejected(leaseID)
	worker := s.Worker
	b.d.engine.RejectAsync(worker, s.ID, leaseID, epoch, reason, func(err error) {
		if err != nil {
			b.d.log.Debug("reject refused", "worker", worker, "lease", leaseID, "err", err)
		}
	})
}

func (b *backend) Disconnected(ctx context.Context, s *rpc.Session) {
	ctx = context.WithoutCancel(ctx)
	err := b.d.engine.Disconnect(ctx, s.Worker, s.ID)
	if err == nil || coord.ErrorCode(err) != coord.EUnavailable {
		if err != nil {
			b.d.log.Warn("disconnect not recorded", "worker", s.Worker, "err", err)
		}
		return
	}
	// Storage is failing: a lost disconnect would leave a ghost worker that keeps its leases past the
	// grace. Keep trying (it is keyed by session, so a late one is harmless) until it lands or the
	// engine stops.
	go func() {
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			time.Sleep(delay)
			err := b.d.engine.Disconnect(ctx, s.Worker, s.ID)
			if err == nil {
				return
			}
			if msg := coord.ErrorMessage(err); coord.ErrorCode(err) != coord.EUnavailable || msg == "coordinator stopped" {
				return
			}
		}
	}()
}
