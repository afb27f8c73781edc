package rpc

import (
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/health"
)

// MergeSubmitParams is the params of merge.submit: queue the branch of an issue for merging.
type MergeSubmitParams struct {
	Idempotency
	IssueID string   `json:"issue_id" rpc:"required"`
	Branch  string   `json:"branch" rpc:"required"`
	Commit  string   `json:"commit,omitempty"`
	Files   []string `json:"files,omitempty"`
	Target  string   `json:"target,omitempty"`
	// LeaseID and Epoch: the issue's live lease the work was done under (see coord.MergeSubmit).
	LeaseID string `json:"lease_id,omitempty"`
	Epoch   int64  `json:"epoch,omitempty"`
}

// MergeSubmitResult is the queued request and the live requests sharing files with it.
type MergeSubmitResult struct {
	Request          coord.MergeRequest `json:"request"`
	ConflictsWith    []string           `json:"conflicts_with"`
	ConflictingFiles []string           `json:"conflicting_files"`
}

// MergeListParams is the params of merge.list.
type MergeListParams struct {
	Target string `json:"target,omitempty"`
}

// MergeListResult lists live merge requests: merging first, then pending in start order.
type MergeListResult struct {
	Requests []coord.MergeRequest `json:"requests"`
}

// MergeCancelParams is the params of merge.cancel: withdraw the request ID, or the live request of
// IssueID (exactly one of them).
type MergeCancelParams struct {
	Idempotency
	ID      string `json:"id,omitempty"`
	IssueID string `json:"issue_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// MergeCancelResult is the request after its cancellation.
type MergeCancelResult struct {
	Request coord.MergeRequest `json:"request"`
}

// MergePushParams is the params of the server → refinery "merge" request.
type MergePushParams struct {
	Request coord.MergeRequest `json:"request"`
}

// MergePushReply is the refinery's reply to a merge push.
type MergePushReply struct {
	Accepted bool `json:"accepted"`
}

// MergeReportParams is the params of merge.report: the result of a pushed merge held at epoch.
type MergeReportParams struct {
	Idempotency
	ID          string   `json:"id" rpc:"required"`
	Epoch       int64    `json:"epoch" rpc:"required"`
	Merged      bool     `json:"merged"`
	Conflicts   []string `json:"conflicts,omitempty"`
	Rework      bool     `json:"rework,omitempty"` // the gate failed: the change needs rework
	Reason      string   `json:"reason,omitempty"`
	MergeCommit string   `json:"merge_commit,omitempty"`
}

// MergeReportResult is the request after the report.
type MergeReportResult struct {
	Request coord.MergeRequest `json:"request"`
}

// ConvoyCreateParams is the params of convoy.create.
type ConvoyCreateParams struct {
	Idempotency
	Name     string   `json:"name" rpc:"required"`
	Title    string   `json:"title,omitempty"`
	IssueIDs []string `json:"issue_ids,omitempty"`
}

// ConvoyShowParams is the params of convoy.show.
type ConvoyShowParams struct {
	Name string `json:"name" rpc:"required"`
}

// ConvoyResult is one convoy's progress.
type ConvoyResult struct {
	Convoy coord.ConvoyProgress `json:"convoy"`
}

// ConvoyListResult lists every convoy's progress.
type ConvoyListResult struct {
	Convoys []coord.ConvoyProgress `json:"convoys"`
}

// HealthResult is the result of coord.health.
type HealthResult = health.Report

// DrainParams is the params of coord.drain.
type DrainParams struct {
	Idempotency
	Worker string `json:"worker" rpc:"required"`
	Undo   bool   `json:"undo,omitempty"` // end the drain: the worker is pushed work again
	// Session: a worker draining itself (shutting down) for this connection only; the drain ends when
	// the connection does, so the worker restarted takes work again (an operator's drain is durable).
	Session bool `json:"session,omitempty"`
}

// DrainResult is the result of coord.drain.
type DrainResult struct {
	Worker   string `json:"worker"`
	Draining bool   `json:"draining"`
}

// LeaseCancelParams is the params of lease.cancel.
type LeaseCancelParams struct {
	Idempotency
	LeaseID string `json:"lease_id" rpc:"required"`
	Reason  string `json:"reason,omitempty"`
}

// LeaseCancelResult is the result of lease.cancel.
type LeaseCancelResult struct {
	LeaseID   string `json:"lease_id"`
	Cancelled bool   `json:"cancelled"`
}
