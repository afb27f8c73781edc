package rpc

import (
	"context"
	"time"

	"github.com/gastown/gtc/coord"
)

// Transports a Session can arrive on.
const (
	TransportUnix = "unix"
	TransportTCP  = "tcp"
	TransportHTTP = "http"
)

// Session is one connection (or one HTTP request) as the Backend sees it.
// Worker, Role, Capacity and Filters are set from hello before Backend.Hello is called and never change after.
type Session struct {
	ID        uint64 // unique per server run
	Transport string // unix, tcp or http
	Remote    string // peer address
	Worker    string
	Role      string // worker, refinery or client
	Capacity  int
	Filters   coord.Filters
}

// AsyncBackend is a Backend that can answer complete, fail and issue.create without holding the
// caller's goroutine: it calls done exactly once, from any goroutine, when the outcome is durable; done
// does not block. The server uses it for socket requests without an idempotency key. ctx ends when the
// connection closes (for what a method reads before it hands the request on).
type AsyncBackend interface {
	CompleteAsync(ctx context.Context, s *Session, p CompleteParams, done func(*CompleteResult, error))
	FailAsync(ctx context.Context, s *Session, p FailParams, done func(*FailResult, error))
	IssueCreateAsync(ctx context.Context, s *Session, p IssueCreateParams, done func(*IssueResult, error))
}

// Backend serves the protocol methods; the server calls it with decoded params and sends what it returns.
// Errors should be *coord.Error (see ErrorCode); anything else is answered -32603.
// Methods run on a per-connection pool and may block; ctx ends when the connection closes.
type Backend interface {
	// Hello opens a session (s.Worker, Role, Capacity, Filters already set from p); the token is checked by the server.
	Hello(ctx context.Context, s *Session, p HelloParams) (*HelloResult, error)
	// Heartbeat extends a lease, or only records liveness when p.LeaseID is empty.
	Heartbeat(ctx context.Context, s *Session, p HeartbeatParams) (*HeartbeatResult, error)
	// Complete ends a lease with the session result.
	Complete(ctx context.Context, s *Session, p CompleteParams) (*CompleteResult, error)
	// Fail ends a lease as failed (retry or dead-letter).
	Fail(ctx context.Context, s *Session, p FailParams) (*FailResult, error)
	// Release gives a lease back without penalty.
	Release(ctx context.Context, s *Session, p ReleaseParams) (*ReleaseResult, error)
	// Claim returns an already-acked assignment, waiting up to p.WaitMS; nil Assignment when none.
	Claim(ctx context.Context, s *Session, p ClaimParams) (*ClaimResult, error)

	// IssueGet returns one issue's raw record.
	IssueGet(ctx context.Context, s *Session, p IssueGetParams) (*IssueResult, error)
	// IssueList returns raw records matching the filters.
	IssueList(ctx context.Context, s *Session, p IssueListParams) (*IssueListResult, error)
	// IssueReady returns ready issues in assignment order.
	IssueReady(ctx context.Context, s *Session, p IssueReadyParams) (*IssueListResult, error)
	// IssueCreate creates an issue.
	IssueCreate(ctx context.Context, s *Session, p IssueCreateParams) (*IssueResult, error)
	// IssueUpdate changes the non-nil fields of an issue.
	IssueUpdate(ctx context.Context, s *Session, p IssueUpdateParams) (*IssueResult, error)
	// IssueClose closes an issue.
	IssueClose(ctx context.Context, s *Session, p IssueCloseParams) (*IssueResult, error)
	// IssueDepAdd adds a dependency edge.
	IssueDepAdd(ctx context.Context, s *Session, p IssueDepParams) (*IssueResult, error)
	// IssueDepRemove removes a dependency edge.
	IssueDepRemove(ctx context.Context, s *Session, p IssueDepParams) (*IssueResult, error)
	// IssueLabelAdd adds a label.
	IssueLabelAdd(ctx context.Context, s *Session, p IssueLabelParams) (*IssueResult, error)
	// IssueLabelRemove removes a label.
	IssueLabelRemove(ctx context.Context, s *Session, p IssueLabelParams) (*IssueResult, error)
	// IssueComment appends a comment.
	IssueComment(ctx context.Context, s *Session, p IssueCommentParams) (*IssueResult, error)

	// CoordStatus returns the counters of coord.status.
	CoordStatus(ctx context.Context, s *Session, p EmptyParams) (*StatusResult, error)
	// CoordWorkers lists workers with their live leases.
	CoordWorkers(ctx context.Context, s *Session, p EmptyParams) (*WorkersResult, error)
	// CoordPause stops assignments.
	CoordPause(ctx context.Context, s *Session, p PauseParams) (*PauseResult, error)
	// CoordResume restarts assignments.
	CoordResume(ctx context.Context, s *Session, p PauseParams) (*PauseResult, error)
	// CoordProfile returns the harness-shaped profile report computed from the server's samples.
	CoordProfile(ctx context.Context, s *Session, p ProfileParams) (*ProfileResult, error)
	// EventsSubscribe authorises a subscription; on success the server starts forwarding Publish'd events.
	EventsSubscribe(ctx context.Context, s *Session, p SubscribeParams) (*SubscribeResult, error)
	// EventsList returns a page of the audit log (events.list).
	EventsList(ctx context.Context, s *Session, p EventsListParams) (*EventsListResult, error)

	// Acked is called when the client accepted a pushed assignment.
	Acked(ctx context.Context, s *Session, leaseID string, epoch int64)
	// Rejected is called when the client declined a pushed assignment (requeue, no penalty).
	// A reply error or no reply within Options.AckTimeout counts as no ack: nothing is called and the
	// lease's ack deadline decides.
	Rejected(ctx context.Context, s *Session, leaseID string, epoch int64, reason string)
	// Disconnected is called once after a connection that completed hello has ended, and after a hello
	// that failed once it reached Hello (the backend may have applied it); it must ignore a session it
	// never connected.
	Disconnected(ctx context.Context, s *Session)

	// MergeSubmit queues the branch of an issue for merging (merge.submit).
	MergeSubmit(ctx context.Context, s *Session, p MergeSubmitParams) (*MergeSubmitResult, error)
	// MergeList lists live merge requests (merge.list).
	MergeList(ctx context.Context, s *Session, p MergeListParams) (*MergeListResult, error)
	// MergeReport records a refinery's result for a pushed merge (merge.report).
	MergeReport(ctx context.Context, s *Session, p MergeReportParams) (*MergeReportResult, error)
	// MergeCancel withdraws a pending or merging request (merge.cancel).
	MergeCancel(ctx context.Context, s *Session, p MergeCancelParams) (*MergeCancelResult, error)
	// ConvoyCreate labels issues convoy:<name> and creates the tracking issue (convoy.create).
	ConvoyCreate(ctx context.Context, s *Session, p ConvoyCreateParams) (*ConvoyResult, error)
	// ConvoyList returns every convoy's progress (convoy.list).
	ConvoyList(ctx context.Context, s *Session, p EmptyParams) (*ConvoyListResult, error)
	// ConvoyShow returns one convoy's progress (convoy.show).
	ConvoyShow(ctx context.Context, s *Session, p ConvoyShowParams) (*ConvoyResult, error)
	// CoordHealth classifies the coordinator healthy, degraded or unhealthy (coord.health).
	CoordHealth(ctx context.Context, s *Session, p EmptyParams) (*HealthResult, error)
	// CoordDrain stops pushes to a worker; its leases run to their end (coord.drain).
	CoordDrain(ctx context.Context, s *Session, p DrainParams) (*DrainResult, error)
	// LeaseCancel takes a live lease away; the issue is requeued without penalty (lease.cancel).
	LeaseCancel(ctx context.Context, s *Session, p LeaseCancelParams) (*LeaseCancelResult, error)
}

// Observer receives transport metrics; every method must be cheap and non-blocking. Optional.
type Observer interface {
	// RPC records one served request: method ("" when unparseable), JSON-RPC code (0 = success), duration.
	RPC(method string, code int, d time.Duration)
	// Conns records a connection opened (+1) or closed (-1) on a transport.
	Conns(transport string, delta int)
	// Bytes records bytes read ("in") or written ("out").
	Bytes(direction string, n int)
}

type nopObserver struct{}

func (nopObserver) RPC(string, int, time.Duration) {}
func (nopObserver) Conns(string, int)              {}
func (nopObserver) Bytes(string, int)              {}
