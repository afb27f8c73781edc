package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/health"
	"github.com/gastown/gtc/rpc"
)

// This file serves the merge queue, convoy, health and operator-control methods.

func (b *backend) MergeSubmit(ctx context.Context, s *rpc.Session, p rpc.MergeSubmitParams) (*rpc.MergeSubmitResult, error) {
	r, err := b.d.engine.MergeSubmit(ctx, s.Worker, coord.MergeSubmit{IssueID: p.IssueID, Branch: p.Branch, Commit: p.Commit,
		Target: p.Target, Files: p.Files, LeaseID: p.LeaseID, Epoch: p.Epoch})
	if err != nil {
		return nil, err
	}
	return &rpc.MergeSubmitResult{Request: r.Request, ConflictsWith: r.ConflictsWith, ConflictingFiles: r.ConflictingFiles}, nil
}

func (b *backend) MergeList(_ context.Context, _ *rpc.Session, p rpc.MergeListParams) (*rpc.MergeListResult, error) {
	rs, err := b.d.engine.MergeList(p.Target)
	if err != nil {
		return nil, err
	}
	return &rpc.MergeListResult{Requests: rs}, nil
}

func (b *backend) MergeReport(ctx context.Context, s *rpc.Session, p rpc.MergeReportParams) (*rpc.MergeReportResult, error) {
	r, err := b.d.engine.MergeReport(ctx, s.Worker, p.ID, p.Epoch, coord.MergeResult{Merged: p.Merged, Conflicts: p.Conflicts,
		Rework: p.Rework, Reason: p.Reason, MergeCommit: p.MergeCommit})
	if err != nil {
		return nil, b.refusal(err, "merge.report", s.Worker, p.ID, p.Epoch)
	}
	return &rpc.MergeReportResult{Request: r}, nil
}

func (b *backend) MergeCancel(ctx context.Context, s *rpc.Session, p rpc.MergeCancelParams) (*rpc.MergeCancelResult, error) {
	reason := p.Reason
	if reason == "" {
		reason = "cancelled by operator"
	}
	r, err := b.d.engine.MergeCancel(ctx, coord.MergeCancel{ID: p.ID, IssueID: p.IssueID, Reason: reason, Actor: sessionName(s)})
	if err != nil {
		return nil, err
	}
	return &rpc.MergeCancelResult{Request: r}, nil
}

func (b *backend) ConvoyCreate(ctx context.Context, _ *rpc.Session, p rpc.ConvoyCreateParams) (*rpc.ConvoyResult, error) {
	is := b.d.issues
	is.mu.Lock()
	defer is.mu.Unlock()
	id, err := is.newID(ctx)
	if err != nil {
		return nil, err
	}
	cp, err := b.d.engine.ConvoyCreate(ctx, coord.ConvoyCreate{Name: p.Name, Title: p.Title, TrackingID: id, IssueIDs: p.IssueIDs})
	if err != nil {
		return nil, err
	}
	return &rpc.ConvoyResult{Convoy: cp}, nil
}

func (b *backend) ConvoyList(context.Context, *rpc.Session, rpc.EmptyParams) (*rpc.ConvoyListResult, error) {
	return &rpc.ConvoyListResult{Convoys: b.d.engine.ConvoyList()}, nil
}

func (b *backend) ConvoyShow(_ context.Context, _ *rpc.Session, p rpc.ConvoyShowParams) (*rpc.ConvoyResult, error) {
	cp, err := b.d.engine.ConvoyShow(p.Name)
	if err != nil {
		return nil, err
	}
	return &rpc.ConvoyResult{Convoy: cp}, nil
}

func (b *backend) CoordHealth(context.Context, *rpc.Session, rpc.EmptyParams) (*rpc.HealthResult, error) {
	r := b.d.engine.HealthReport()
	// a sync failing for more than two ticks (not one caught mid-write) degrades: bd and gtc drift apart
	if in := b.d.sync.info(); in.FailingSince != nil && time.Since(*in.FailingSince) > 2*b.d.cfg.SyncInterval {
		if r.Status == health.Healthy {
			r.Status = health.Degraded
		}
		r.Reasons = append(r.Reasons, fmt.Sprintf("JSONL sync failing since %s (the file is left as it is): %s",
			in.FailingSince.Format(time.RFC3339), in.Error))
	}
	return &r, nil
}

func (b *backend) CoordDrain(ctx context.Context, s *rpc.Session, p rpc.DrainParams) (*rpc.DrainResult, error) {
	if p.Undo && p.Session {
		// a worker's own drain ends with its session; an undo would end an operator's drain (review)
		return nil, coord.Errorf(coord.EInvalid, "coord.drain: undo and session do not go together: a worker's own drain ends when its connection does")
	}
	drain := func(ctx context.Context, w string) error { return b.d.engine.Drain(ctx, w, sessionName(s)) }
	switch {
	case p.Undo:
		drain = func(ctx context.Context, w string) error { return b.d.engine.Undrain(ctx, w, sessionName(s)) }
	case p.Session:
		drain = func(ctx context.Context, w string) error { return b.d.engine.DrainSession(ctx, w, s.ID) }
	}
	if err := drain(ctx, p.Worker); err != nil {
		return nil, err
	}
	res := &rpc.DrainResult{Worker: p.Worker, Draining: !p.Undo}
	if p.Undo { // the worker may still drain itself (it is shutting down): the undo ends only the operator's drain
		for _, w := range b.d.engine.Workers() {
			if w.Name == p.Worker && w.State == coord.WorkerDraining && w.Connected {
				res.Draining = true
			}
		}
	}
	return res, nil
}

func (b *backend) LeaseCancel(ctx context.Context, s *rpc.Session, p rpc.LeaseCancelParams) (*rpc.LeaseCancelResult, error) {
	reason := p.Reason
	if reason == "" {
		reason = "cancelled by operator"
	}
	if err := b.d.engine.CancelLease(ctx, p.LeaseID, reason, sessionName(s)); err != nil {
		return nil, err
	}
	return &rpc.LeaseCancelResult{LeaseID: p.LeaseID, Cancelled: true}, nil
}

// CancelMerge implements coord.Outbox: a cancel notification naming the merge, straight to the
// transport like the merge pushes it follows.
func (o *outbox) CancelMerge(worker string, session uint64, m coord.MergeRequest) {
	p := rpc.CancelParams{MergeID: m.ID, Epoch: m.Epoch, IssueID: m.IssueID, Reason: m.Error}
	if err := o.d.server.Cancel(worker, session, p); err != nil {
		o.d.log.Debug("merge cancel not delivered; the refinery's report will be refused", "refinery", worker, "merge", m.ID, "err", err)
	}
}

// PushMerge implements coord.Outbox: the frame is small, so it goes straight to the transport.
func (o *outbox) PushMerge(worker string, session uint64, m coord.MergeRequest) {
	if err := o.d.server.PushMerge(worker, session, m); err != nil {
		o.d.log.Debug("merge push not delivered; the slot expires at its deadline", "refinery", worker, "merge", m.ID, "err", err)
	}
}
