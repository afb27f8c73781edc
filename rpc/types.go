package rpc

import (
	"encoding/json"
	"time"

	"github.com/gastown/gtc/coord"
)

// ProtocolVersion is the protocol number exchanged in hello.
const ProtocolVersion = 1

// MaxNameBytes bounds a worker name in hello (Gas Town's run to ~30 bytes: gastown/polecats/nux).
const MaxNameBytes = 200

// Idempotency is embedded in the params of every mutating method.
type Idempotency struct {
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// IdemKey returns the idempotency key ("" when none was given).
func (i Idempotency) IdemKey() string { return i.IdempotencyKey }

// Assignment is one pushed (or claimed) lease with its issue and prompt.
type Assignment struct {
	Lease  coord.Lease     `json:"lease"`
	Issue  json.RawMessage `json:"issue"` // the issue's JSONL record as stored
	Prompt string          `json:"prompt"`
	// PromptJSON, when set, is Prompt already encoded as a JSON string and is sent in its place (the
	// server's push path, which has it from the store); never filled when decoding.
	PromptJSON json.RawMessage `json:"-"`
}

// AssignPayload is what the backend hands to Server.Push.
type AssignPayload = Assignment

// AssignReply is the client's reply to an assign request: the ack or a reject.
type AssignReply struct {
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitempty"`
}

// SessionResult is the outcome of one agent session, reported by complete.
type SessionResult struct {
	Outcome     string `json:"outcome,omitempty"` // success, code_complete, failure, partial, context_overflow
	Summary     string `json:"summary,omitempty"`
	GitCommit   string `json:"git_commit,omitempty"`
	ContextUsed int64  `json:"context_used,omitempty"`
	DurationMS  int64  `json:"duration_ms,omitempty"`
	Error       string `json:"error,omitempty"`
}

// HelloParams opens a session.
type HelloParams struct {
	Name     string         `json:"name" rpc:"required"`
	Role     string         `json:"role,omitempty"`     // worker (default), refinery, client
	Capacity int            `json:"capacity,omitempty"` // absent: 1 (0 for a client); an explicit 0 is refused for a worker or refinery
	Filters  *coord.Filters `json:"filters,omitempty"`
	Protocol int            `json:"protocol,omitempty"`
	Token    string         `json:"token,omitempty"`
}

// HelloResult describes the server and the leases resumed for this worker.
type HelloResult struct {
	Server       string       `json:"server"`
	Version      string       `json:"version"`
	Protocol     int          `json:"protocol"`
	Worker       string       `json:"worker"`
	HeartbeatMS  int64        `json:"heartbeat_ms"`
	AckTimeoutMS int64        `json:"ack_timeout_ms"`
	GraceMS      int64        `json:"grace_ms,omitempty"` // how long a disconnected worker keeps its leases
	Leases       []Assignment `json:"leases"`
	// ReadOnly: the coordinator's storage fails, so this client session could not be recorded: it may
	// read (status, lists, events, health), and every other call is refused as unavailable.
	ReadOnly bool `json:"read_only,omitempty"`
}

// HeartbeatParams extends a lease (or just says the worker is alive when LeaseID is empty).
type HeartbeatParams struct {
	LeaseID  string `json:"lease_id,omitempty"`
	Epoch    int64  `json:"epoch,omitempty"`
	Progress string `json:"progress,omitempty"`
}

// HeartbeatResult carries the new heartbeat deadline.
type HeartbeatResult struct {
	Deadline time.Time `json:"deadline"`
}

// CompleteParams ends a lease with a session result.
type CompleteParams struct {
	LeaseID string `json:"lease_id" rpc:"required"`
	Epoch   int64  `json:"epoch" rpc:"required"`
	SessionResult
	Idempotency
}

// CompleteResult is the issue's state after complete.
type CompleteResult struct {
	IssueID string `json:"issue_id"`
	Status  string `json:"status"`
	Outcome string `json:"outcome"`
}

// FailParams ends a lease as failed.
type FailParams struct {
	LeaseID string `json:"lease_id" rpc:"required"`
	Epoch   int64  `json:"epoch" rpc:"required"`
	Error   string `json:"error,omitempty"`
	Idempotency
}

// FailResult is the issue's state after fail.
type FailResult struct {
	IssueID      string `json:"issue_id"`
	Status       string `json:"status"`
	Attempt      int    `json:"attempt"`
	DeadLettered bool   `json:"dead_lettered"`
}

// ReleaseParams gives a lease back without penalty.
type ReleaseParams struct {
	LeaseID string `json:"lease_id" rpc:"required"`
	Epoch   int64  `json:"epoch" rpc:"required"`
	Reason  string `json:"reason,omitempty"`
	Idempotency
}

// ReleaseResult is the issue's state after release.
type ReleaseResult struct {
	IssueID string `json:"issue_id"`
	Status  string `json:"status"`
}

// ClaimParams asks for work instead of waiting for a push.
type ClaimParams struct {
	WaitMS  int64          `json:"wait_ms,omitempty"`
	Filters *coord.Filters `json:"filters,omitempty"`
	Idempotency
}

// Parks reports whether the claim may wait for work (its first attempt then ends with the connection).
func (p ClaimParams) Parks() bool { return p.WaitMS > 0 }

// ClaimResult holds the (already acked) assignment, or nil when there was none.
type ClaimResult struct {
	Assignment *Assignment `json:"assignment"`
}

// IssueGetParams names one issue.
type IssueGetParams struct {
	ID string `json:"id" rpc:"required"`
}

// IssueResult holds one issue record.
type IssueResult struct {
	Issue json.RawMessage `json:"issue"`
	// Leases is issue.get's attempt history: the issue's newest leases (at most MaxIssueLeases), oldest
	// first, with worker, outcome and error.
	Leases []coord.Lease `json:"leases,omitempty"`
	// Readiness is issue.get's word on whether the issue is handed out and if not why ("ready",
	// "not ready: blocked by gt-1 (in_progress)", "not ready: deferred until …", …).
	Readiness string `json:"readiness,omitempty"`
	// Dependents is issue.get's list of the issues that depend on it (an epic's children: parent-child),
	// by id, at most MaxIssueDependents; DependentsTotal counts them all.
	Dependents      []coord.Dependent `json:"dependents,omitempty"`
	DependentsTotal int               `json:"dependents_total,omitempty"`
}

// MaxIssueLeases bounds the leases issue.get returns.
const MaxIssueLeases = 50

// MaxIssueDependents bounds the dependents issue.get returns.
const MaxIssueDependents = 100

// IssueListParams filters issue.list.
type IssueListParams struct {
	Status   string `json:"status,omitempty"`
	Label    string `json:"label,omitempty"`
	Type     string `json:"type,omitempty"`
	Assignee string `json:"assignee,omitempty"`
	Limit    int    `json:"limit,omitempty"`  // at most this many (0: a page)
	Offset   int    `json:"offset,omitempty"` // skip the first Offset matches (the next page: Offset + len(issues))
}

// IssueReadyParams limits issue.ready.
type IssueReadyParams struct {
	Limit  int `json:"limit,omitempty"`  // at most this many (0: a page)
	Offset int `json:"offset,omitempty"` // skip the first Offset ready issues
}

// IssueListResult holds issue records: one page at most (MaxListIssues records, or the records that
// fit MaxListBytes, at least one); More says more issues match beyond them.
type IssueListResult struct {
	Issues []json.RawMessage `json:"issues"`
	More   bool              `json:"more,omitempty"`
	// NextOffset is the offset of the next page when More (an issue whose record was not stored yet is
	// skipped but counted: the next page starts after it).
	NextOffset int `json:"next_offset,omitempty"`
}

// The size of one page of issue.list and issue.ready: a caller wanting more asks again with offset.
const (
	MaxListIssues = 5000
	MaxListBytes  = 8 << 20
)

// DepSpec is one dependency given to issue.create.
type DepSpec struct {
	ID   string `json:"id"`
	Type string `json:"type,omitempty"`
}

// IssueCreateParams creates an issue.
type IssueCreateParams struct {
	ID          string    `json:"id,omitempty"`
	Title       string    `json:"title" rpc:"required"`
	Description string    `json:"description,omitempty"`
	Priority    *int      `json:"priority,omitempty"` // default 2
	Type        string    `json:"type,omitempty"`     // default task
	Labels      []string  `json:"labels,omitempty"`
	Deps        []DepSpec `json:"deps,omitempty"`
	Assignee    string    `json:"assignee,omitempty"`
	Parent      string    `json:"parent,omitempty"` // a child of this issue: parent-child dependency; id parent.N unless ID is given
	Idempotency
}

// IssueUpdateParams changes fields of an issue; nil fields are left alone.
type IssueUpdateParams struct {
	ID          string  `json:"id" rpc:"required"`
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	Priority    *int    `json:"priority,omitempty"`
	Status      *string `json:"status,omitempty"`
	Assignee    *string `json:"assignee,omitempty"`
	Notes       *string `json:"notes,omitempty"`
	Type        *string `json:"type,omitempty"`
	Idempotency
}

// IssueCloseParams closes an issue.
type IssueCloseParams struct {
	ID     string `json:"id" rpc:"required"`
	Reason string `json:"reason,omitempty"`
	Idempotency
}

// IssueDepParams adds or removes a dependency edge.
type IssueDepParams struct {
	ID        string `json:"id" rpc:"required"`
	DependsOn string `json:"depends_on" rpc:"required"`
	Type      string `json:"type,omitempty"` // default blocks
	Idempotency
}

// IssueLabelParams adds or removes a label.
type IssueLabelParams struct {
	ID    string `json:"id" rpc:"required"`
	Label string `json:"label" rpc:"required"`
	Idempotency
}

// IssueCommentParams appends a comment.
type IssueCommentParams struct {
	ID     string `json:"id" rpc:"required"`
	Text   string `json:"text" rpc:"required"`
	Author string `json:"author,omitempty"`
	Idempotency
}

// EmptyParams is the params of methods that take none.
type EmptyParams struct{}

// PauseParams is the params of coord.pause and coord.resume.
type PauseParams struct {
	Idempotency
}

// IssueCounts counts issues by scheduler state.
type IssueCounts struct {
	Ready        int `json:"ready"`
	Leased       int `json:"leased"`
	Closed       int `json:"closed"`
	DeadLettered int `json:"dead_lettered"`
	Blocked      int `json:"blocked"`
	// Other is the rest of Total: in retry backoff, deferred, workflow types, held after a reject, other statuses.
	Other int `json:"other"`
	Total int `json:"total"`
	// ReadyForAbsent counts the Ready issues assigned to a worker not connected now: they go to that
	// worker only, so they wait for it.
	ReadyForAbsent int `json:"ready_for_absent,omitempty"`
}

// WorkerCounts counts workers by state.
type WorkerCounts struct {
	Idle     int `json:"idle"`
	Busy     int `json:"busy"`
	Draining int `json:"draining"`
	Stalled  int `json:"stalled"`
	Gone     int `json:"gone"`
}

// StatusResult is the result of coord.status.
type StatusResult struct {
	Issues     IssueCounts  `json:"issues"`
	Workers    WorkerCounts `json:"workers"`    // worker and refinery sessions (CLI sessions left out)
	Refineries WorkerCounts `json:"refineries"` // the refineries among Workers
	Paused     bool         `json:"paused"`
	Sync       *SyncInfo    `json:"sync,omitempty"`  // the JSONL sync (absent from a server without one)
	Store      *StoreInfo   `json:"store,omitempty"` // gtc.db (absent from a server without one)
}

// StoreInfo is gtc.db in coord.status: its size and how long it keeps its history.
type StoreInfo struct {
	Path     string `json:"path"`
	Bytes    int64  `json:"bytes"`     // the database file
	WALBytes int64  `json:"wal_bytes"` // its write-ahead log
	// RetainMS is how long the history (events, ended leases, finished merge requests) is kept; 0: for good.
	RetainMS   int64      `json:"retain_ms"`
	LastPrune  *time.Time `json:"last_prune,omitempty"`  // the last prune that succeeded
	Pruned     *Pruned    `json:"pruned,omitempty"`      // what the prunes since the start deleted
	PruneError string     `json:"prune_error,omitempty"` // the last prune's failure, while it fails
	// Error is the last commit's failure while commits fail (every change is refused meanwhile, and
	// the workers' lease clocks are held); FailingSince is when it began.
	Error        string     `json:"error,omitempty"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// CommitStalledSince is when the commit under way began, once it has run 2 s (a frozen or hung disk:
	// changes wait for it and the lease clocks are held; Error says so too from 10 s on).
	CommitStalledSince *time.Time `json:"commit_stalled_since,omitempty"`
}

// Pruned counts history rows deleted by gtc.db's retention.
type Pruned struct {
	Events        int `json:"events"`
	Leases        int `json:"leases"`
	MergeRequests int `json:"merge_requests"`
}

// SyncInfo is the state of the JSONL sync in coord.status.
type SyncInfo struct {
	LastOK       *time.Time `json:"last_ok,omitempty"`       // the last sync that succeeded
	FailingSince *time.Time `json:"failing_since,omitempty"` // set while syncs fail (the file is left as it is)
	Error        string     `json:"error,omitempty"`         // the last failure's reason, while failing
}

// WorkerInfo is one worker in coord.workers.
type WorkerInfo struct {
	Name     string        `json:"name"`
	Role     string        `json:"role"`
	Capacity int           `json:"capacity"`
	State    string        `json:"state"`
	Draining bool          `json:"draining,omitempty"` // drained (coord.drain): also while gone
	Leases   []coord.Lease `json:"leases"`
	LastSeen time.Time     `json:"last_seen"`
}

// WorkersResult is the result of coord.workers.
type WorkersResult struct {
	Workers []WorkerInfo `json:"workers"`
}

// PauseResult is the result of coord.pause and coord.resume.
type PauseResult struct {
	Paused bool `json:"paused"`
}

// SubscribeParams selects event kinds (empty: all).
type SubscribeParams struct {
	Kinds []string `json:"kinds,omitempty"`
}

// EventsListParams pages through the audit log (events.list): events after AfterSeq, oldest first, at
// most Limit (default 100, at most 1000), only those of IssueID when set.
type EventsListParams struct {
	AfterSeq int64  `json:"after_seq,omitempty"`
	Limit    int    `json:"limit,omitempty"`
	IssueID  string `json:"issue_id,omitempty"`
}

// EventsListResult is one page of the audit log: continue after NextSeq while More.
type EventsListResult struct {
	Events  []coord.Event `json:"events"`
	NextSeq int64         `json:"next_seq"`
	More    bool          `json:"more"`
}

// SubscribeResult confirms a subscription. Seq is the audit-log number of the newest event published
// before it began: the live events follow it, and a subscriber back after a disconnect lists what it
// missed with events.list after the larger of Seq and the last seq it saw.
type SubscribeResult struct {
	Subscribed bool  `json:"subscribed"`
	Seq        int64 `json:"seq"`
}

// CancelParams is the params of the cancel notification: a worker lost lease LeaseID, or (MergeID set,
// no LeaseID) a refinery's merge slot was cancelled (merge.cancel) and it should stop merging it.
type CancelParams struct {
	LeaseID string `json:"lease_id,omitempty"`
	MergeID string `json:"merge_id,omitempty"`
	Epoch   int64  `json:"epoch"`
	IssueID string `json:"issue_id"`
	Reason  string `json:"reason,omitempty"`
}

// DrainNotice is the params of the drain notification: an operator drained this worker (no new work;
// its running leases go on) or undid the drain; sent too at a hello while a drain is in force,
// before the hello's reply (set OnDrain before Hello).
type DrainNotice struct {
	Draining bool   `json:"draining"`
	By       string `json:"by,omitempty"` // who did it (absent when told at hello)
}

// ShutdownParams is the params of the shutdown notification.
type ShutdownParams struct {
	Reason string `json:"reason"`
}
