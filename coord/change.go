package coord

import (
	"context"
	"time"

	"github.com/gastown/gtc/beads"
)

// This file is the contract between the scheduler core and its storage adapter (package store):
// the core returns Changes, the runner commits them through a Persister before it tells anyone,
// and a restart rebuilds the core from a Snapshot.

// Change is one durable state change; its concrete types are listed below.
type Change interface{ isChange() }

// IssuePut creates or replaces an issue (create, update through the protocol, or import).
type IssuePut struct {
	Issue beads.Issue
	// Raw is the record's exact JSONL bytes (no newline) when it came from the file; nil keeps
	// the stored raw record (export patches it from Issue) or, for a new issue, makes export build one.
	Raw []byte
	// FromImport is true when the file is the source: the record is not marked for export (unless
	// Merged). An imported record older (updated_at) than the scheduler's current state of that issue
	// is skipped: gtc changed the issue after the file was read, and the next export writes gtc's version.
	FromImport bool
	// Merged marks an import whose issue holds more than the file's line (the import's merge kept
	// labels, dependencies or comments the line lacks): it is marked for export like a protocol change,
	// and skipped like any import when older than the scheduler's state.
	Merged bool
	// KeepState says the caller did not mean to change the fields the scheduler owns (status, assignee,
	// close reason, closed_at, started_at): they are taken from the scheduler's current state, so an
	// edit made from an earlier read (a comment, a label) cannot undo a completion or a new lease.
	KeepState bool
	// IfUnchangedSince, when set, refuses the put with EConflict if the scheduler's state of the issue
	// changed after that time (its updated_at): an edit of the scheduler-owned fields (status, assignee)
	// made from a read that a completion or a new lease has overtaken since.
	IfUnchangedSince *time.Time
	// Create refuses the put with EConflict when an issue with that id exists, and with ENotFound when
	// one of its dependencies names an issue that does not (checked in memory, atomically with the put,
	// so a create may depend on one submitted just before it).
	Create bool
	// Actor names who made a change through gtc (the session: gtc-cli@alice, a worker); it is the actor of
	// the status_changed event a change of status or assignee leaves. Empty: "unnamed session".
	Actor string
}

// IssueState changes the fields the scheduler owns; the issue is marked for export.
type IssueState struct {
	ID          string
	Status      string
	Assignee    string
	UpdatedAt   time.Time
	StartedAt   *time.Time // set on first ack; nil keeps the stored value
	ClosedAt    *time.Time // nil clears it
	CloseReason string
	AddLabels   []string
	DelLabels   []string
	Attempts    int       // failed attempts so far (lease expiries, failures)
	NotBefore   time.Time // zero, or the end of the retry backoff
}

// LeasePut creates or replaces a lease row (every lease ever made is kept, as attempt history).
type LeasePut struct{ Lease Lease }

// WorkerPut creates or replaces a worker row.
type WorkerPut struct{ Worker WorkerRow }

// WorkerDelete drops a worker row: a worker gone for Config.ForgetGone is forgotten.
type WorkerDelete struct{ Name string }

// EventAppend appends to the audit log.
type EventAppend struct{ Event Event }

// MetaPut sets one coordinator setting (for example "paused").
type MetaPut struct{ Key, Value string }

// MergePut creates or replaces a merge request row.
type MergePut struct{ Request MergeRequest }

func (IssuePut) isChange()     {}
func (IssueState) isChange()   {}
func (LeasePut) isChange()     {}
func (WorkerPut) isChange()    {}
func (WorkerDelete) isChange() {}
func (EventAppend) isChange()  {}
func (MetaPut) isChange()      {}
func (MergePut) isChange()     {}

// Lease is one assignment of an issue to a worker.
type Lease struct {
	ID          string     `json:"id"`
	IssueID     string     `json:"issue_id"`
	Worker      string     `json:"worker"`
	Epoch       int64      `json:"epoch"` // strictly increasing over all leases of the server
	State       LeaseState `json:"state"`
	Attempt     int        `json:"attempt"` // 1 for the first try of the issue
	CreatedAt   time.Time  `json:"created_at"`
	AckDeadline time.Time  `json:"ack_deadline"`
	Deadline    time.Time  `json:"deadline"` // heartbeat deadline
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	Outcome     string     `json:"outcome,omitempty"` // success, failure, expired, released, rejected, cancelled, ...
	Error       string     `json:"error,omitempty"`
	Progress    string     `json:"progress,omitempty"` // last heartbeat progress; a success's summary (and commit)
	// Reserved says the issue was assigned to this worker before the lease (bd's assignee on an open
	// issue): when the lease ends without closing it, the issue stays assigned to the worker.
	Reserved bool `json:"reserved,omitempty"`
}

// LeaseState is where a lease stands.
type LeaseState string

// Lease states; pushed and acked leases are live.
const (
	LeasePushed LeaseState = "pushed" // sent to the worker, not acked yet (bd sees status hooked)
	LeaseAcked  LeaseState = "acked"  // worker accepted (bd sees in_progress)
	LeaseEnded  LeaseState = "ended"  // completed, failed, expired, released, rejected or cancelled
)

// Live reports whether the lease still holds its issue.
func (l Lease) Live() bool { return l.State == LeasePushed || l.State == LeaseAcked }

// Filters restrict which issues a worker is given; empty means any.
type Filters struct {
	Labels     []string `json:"labels,omitempty"`      // all required
	Types      []string `json:"types,omitempty"`       // any of
	Prefixes   []string `json:"prefixes,omitempty"`    // id prefixes (rigs), any of
	Convoy     string   `json:"convoy,omitempty"`      // convoy-first: issues labelled convoy:<name> before all others
	ConvoyOnly bool     `json:"convoy_only,omitempty"` // with Convoy: only issues of that convoy
}

// WorkerRow is the durable part of a worker.
type WorkerRow struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"` // worker, refinery, client
	Capacity  int       `json:"capacity"`
	Filters   Filters   `json:"filters"`
	State     string    `json:"state"` // idle, busy, draining, stalled, gone
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// Draining: an operator drained it (coord.drain); kept while it is gone and across reconnects and
	// restarts, until undone.
	Draining bool `json:"draining,omitempty"`
}

// Event is one audit-log entry: what changed, who did it, when.
type Event struct {
	Seq     int64     `json:"seq"` // assigned by the store when the event is committed
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // assigned, acked, completed, failed, expired, requeued, dead_lettered, ...
	IssueID string    `json:"issue_id,omitempty"`
	LeaseID string    `json:"lease_id,omitempty"`
	Worker  string    `json:"worker,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Detail  string    `json:"detail,omitempty"` // free text or JSON
}

// StoreRestored is the audit event that opens a store restored from a backup (store.Restore).
func StoreRestored(now time.Time, detail string) Change {
	return EventAppend{Event: Event{Time: now, Kind: eventStoreRestored, Actor: "gtc restore", Detail: detail}}
}

const eventStoreRestored = "store_restored"

// MergeRequest is one request in the merge queue.
type MergeRequest struct {
	ID        string     `json:"id"`
	IssueID   string     `json:"issue_id"`
	Worker    string     `json:"worker"`
	Branch    string     `json:"branch"`
	Commit    string     `json:"commit"`
	Target    string     `json:"target"`
	Files     []string   `json:"files,omitempty"`
	State     string     `json:"state"` // pending, merging, merged, failed, cancelled
	Attempts  int        `json:"attempts"`
	Refinery  string     `json:"refinery,omitempty"`
	Epoch     int64      `json:"epoch,omitempty"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Error     string     `json:"error,omitempty"`
	Conflicts []string   `json:"conflicts,omitempty"`
	// Progress is the refinery's latest note on the attempt running (its heartbeat's progress, e.g.
	// waiting for local changes to go); cleared when an attempt starts or ends; not stored.
	Progress string `json:"progress,omitempty"`
}

// Snapshot is everything the core needs to rebuild itself after a restart.
type Snapshot struct {
	Issues   []IssueMeta
	Leases   []Lease // live leases only
	Workers  []WorkerRow
	Merges   []MergeRequest // not yet merged, failed or cancelled
	Meta     map[string]string
	MaxEpoch int64 // highest lease epoch ever issued
}

// IssueMeta is the small projection of an issue the scheduler keeps in memory (bodies stay in SQLite).
type IssueMeta struct {
	ID          string
	Status      string
	Priority    int
	IssueType   string
	Assignee    string
	Labels      []string
	Deps        []Dep
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeferUntil  *time.Time
	Pinned      bool
	Ephemeral   bool
	CloseReason string
	Attempts    int
	NotBefore   time.Time
	StartedAt   *time.Time // first ack; kept so started_at is set only once
}

// Dep is one dependency edge of an IssueMeta: this issue depends on On.
type Dep struct {
	On       string
	Type     string
	Metadata string
}

// MetaOf projects a parsed issue to the scheduler's view.
func MetaOf(is beads.Issue) IssueMeta {
	m := IssueMeta{
		ID: is.ID, Status: is.Status, Priority: is.Priority, IssueType: is.IssueType, Assignee: is.Assignee,
		Labels: is.Labels, CreatedAt: is.CreatedAt, UpdatedAt: is.UpdatedAt, DeferUntil: is.DeferUntil,
		Pinned: is.Pinned, Ephemeral: is.Ephemeral, CloseReason: is.CloseReason, StartedAt: is.StartedAt,
	}
	for _, d := range is.Dependencies {
		m.Deps = append(m.Deps, Dep{On: d.DependsOnID, Type: d.Type, Metadata: d.Metadata})
	}
	return m
}

// Persister makes changes durable: Commit returns only after all of them are committed, in one transaction.
// The engine hands IssueState, LeasePut and EventAppend changes as pointers into memory it reuses for a
// later batch once Commit has returned (CommitAsync: once the outcome is sent): a Persister must not keep
// or change them after that — nor copies of them, whose time pointers (a lease's EndedAt, an IssueState's
// StartedAt and ClosedAt) point into the same memory. Its sub-components' changes (and other callers') may
// be values. A Persister that numbers the audit log sets the Seq of each *EventAppend it commits before
// Commit returns, so the published event carries it.
type Persister interface {
	Commit(ctx context.Context, changes []Change) error
}

// AsyncPersister is an optional Persister extension: CommitAsync queues changes and later sends their
// outcome (what Commit would return) on done, which must have room for it; the engine then needs no
// goroutine per commit.
type AsyncPersister interface {
	CommitAsync(ctx context.Context, changes []Change, done chan<- error)
}

// Loader rebuilds the core's state after a restart.
type Loader interface {
	Load(ctx context.Context) (*Snapshot, error)
}
