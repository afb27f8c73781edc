package rpc

import (
	"context"
	"encoding/json"

	"github.com/gastown/gtc/coord"
)

// OnMerge sets the callback that takes merge pushes (refineries); it runs on its own goroutine (its
// ctx ends on Close) and returns whether the merge was accepted. The merge's result is reported
// separately with MergeReport.
func (c *Client) OnMerge(f func(ctx context.Context, r coord.MergeRequest) (accepted bool)) {
	c.mu.Lock()
	c.onMerge = f
	c.mu.Unlock()
}

// handleMerge answers a "merge" push (on the reader goroutine).
func (c *Client) handleMerge(m pushMsg, params json.RawMessage) {
	if m.notif {
		return
	}
	c.mu.RLock()
	f := c.onMerge
	c.mu.RUnlock()
	var p MergePushParams
	if err := json.Unmarshal(params, &p); err != nil {
		c.st.replyError(m.id, CodeInvalidParams, "invalid params: "+err.Error())
		return
	}
	if f == nil {
		c.st.reply(m.id, appendAcceptedResult(nil, false))
		return
	}
	c.spawn(func() {
		ok := f(c.ctx, p.Request)
		c.st.reply(m.id, appendAcceptedResult(nil, ok))
	})
}

// MergeSubmit queues the branch of an issue for merging.
func (c *Client) MergeSubmit(ctx context.Context, p MergeSubmitParams) (*MergeSubmitResult, error) {
	return call[MergeSubmitResult](ctx, c, "merge.submit", p)
}

// MergeList lists live merge requests of a target ("" = all).
func (c *Client) MergeList(ctx context.Context, p MergeListParams) (*MergeListResult, error) {
	return call[MergeListResult](ctx, c, "merge.list", p)
}

// MergeReport reports the result of a pushed merge.
func (c *Client) MergeReport(ctx context.Context, p MergeReportParams) (*MergeReportResult, error) {
	return call[MergeReportResult](ctx, c, "merge.report", p)
}

// MergeCancel withdraws a pending or merging request, by id or by issue id.
func (c *Client) MergeCancel(ctx context.Context, p MergeCancelParams) (*MergeCancelResult, error) {
	return call[MergeCancelResult](ctx, c, "merge.cancel", p)
}

// ConvoyCreate starts a convoy over issues.
func (c *Client) ConvoyCreate(ctx context.Context, p ConvoyCreateParams) (*ConvoyResult, error) {
	return call[ConvoyResult](ctx, c, "convoy.create", p)
}

// ConvoyList returns every convoy's progress.
func (c *Client) ConvoyList(ctx context.Context) (*ConvoyListResult, error) {
	return call[ConvoyListResult](ctx, c, "convoy.list", EmptyParams{})
}

// ConvoyShow returns one convoy's progress.
func (c *Client) ConvoyShow(ctx context.Context, p ConvoyShowParams) (*ConvoyResult, error) {
	return call[ConvoyResult](ctx, c, "convoy.show", p)
}

// CoordHealth returns the coordinator's health.
func (c *Client) CoordHealth(ctx context.Context) (*HealthResult, error) {
	return call[HealthResult](ctx, c, "coord.health", EmptyParams{})
}

// CoordDrain stops pushes to a worker.
func (c *Client) CoordDrain(ctx context.Context, p DrainParams) (*DrainResult, error) {
	return call[DrainResult](ctx, c, "coord.drain", p)
}

// LeaseCancel takes a live lease away from its worker.
func (c *Client) LeaseCancel(ctx context.Context, p LeaseCancelParams) (*LeaseCancelResult, error) {
	return call[LeaseCancelResult](ctx, c, "lease.cancel", p)
}
