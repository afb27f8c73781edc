package coord

import "time"

// Hello is what a worker says when it connects.
type Hello struct {
	Name     string
	Role     string // worker (gets pushes), refinery or client; empty means worker
	Capacity int    // live leases pushed at once; 0 means 1
	Filters  Filters
}

// Assignment is one lease handed to a worker; the transport adds the issue body from the store.
type Assignment struct {
	Lease Lease `json:"lease"`
	// ReadySince is when the issue entered the ready queue before this push (Unix nanoseconds; 0 when
	// unknown, as for a lease resumed after a reconnect): the start of its ready→push latency.
	ReadySince int64 `json:"-"`
}

// Session outcomes reported by workers (the harness's SessionOutcome).
const (
	OutcomeSuccess         = "success"
	OutcomeCodeComplete    = "code_complete"
	OutcomeFailure         = "failure"
	OutcomePartial         = "partial"
	OutcomeContextOverflow = "context_overflow"
)

// SessionResult is how a worker reports the end of a session.
type SessionResult struct {
	Outcome     string `json:"outcome"`
	Summary     string `json:"summary,omitempty"`
	GitCommit   string `json:"git_commit,omitempty"`
	ContextUsed int    `json:"context_used,omitempty"`
	DurationMs  int64  `json:"duration_ms,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Dependent is an issue that depends on another one (its child, for type parent-child).
type Dependent struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Title  string `json:"title"`
}

// Result is what complete, fail and release answer.
type Result struct {
	IssueID      string `json:"issue_id"`
	Status       string `json:"status"`
	Outcome      string `json:"outcome,omitempty"`
	Attempt      int    `json:"attempt"`
	DeadLettered bool   `json:"dead_lettered"`
}

// IssueCounts counts issues by scheduling state.
type IssueCounts struct {
	Ready        int `json:"ready"`
	Leased       int `json:"leased"`
	Closed       int `json:"closed"`
	DeadLettered int `json:"dead_lettered"`
	Blocked      int `json:"blocked"` // open but held back by a dependency
	Total        int `json:"total"`
}

// WorkerCounts counts workers by state.
type WorkerCounts struct {
	Idle     int `json:"idle"`
	Busy     int `json:"busy"`
	Draining int `json:"draining"`
	Stalled  int `json:"stalled"`
	Gone     int `json:"gone"`
}

// Status is the coordinator overview (coord.status).
type Status struct {
	Issues     IssueCounts  `json:"issues"`
	Workers    WorkerCounts `json:"workers"`    // worker and refinery sessions (CLI sessions left out)
	Refineries WorkerCounts `json:"refineries"` // the refineries among Workers
	Paused     bool         `json:"paused"`
}

// WorkerStatus is one worker as coord.workers shows it.
type WorkerStatus struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Capacity  int       `json:"capacity"`
	State     string    `json:"state"`
	Connected bool      `json:"connected"`
	Draining  bool      `json:"draining,omitempty"` // drained: no pushes, also while gone (state says gone then)
	Leases    []Lease   `json:"leases"`
	LastSeen  time.Time `json:"last_seen"`
}

// Worker states.
const (
	WorkerIdle     = "idle"
	WorkerBusy     = "busy"
	WorkerDraining = "draining"
	WorkerStalled  = "stalled"
	WorkerGone     = "gone"
)

// outEffect is something the engine delivers after a decision is durable; concrete types below.
type outEffect interface{ isEffect() }

// pushEffect sends an assignment to a worker's session.
type pushEffect struct {
	Worker  string
	Session uint64
	A       Assignment
}

// cancelNote tells a worker's session that a lease was taken away.
type cancelNote struct {
	Worker  string
	Session uint64
	LeaseID string
	Epoch   int64
	IssueID string
	Reason  string
}

// drainNote tells a worker's session that an operator drained it (no new work) or undid the drain.
type drainNote struct {
	Worker   string
	Session  uint64
	Draining bool
	By       string // who drained or undrained it ("" when told at its hello of a drain in force)
}

// claimEffect answers a parked claim (nil when its wait ran out).
type claimEffect struct {
	waiter uint64
	a      *Assignment
}

func (pushEffect) isEffect()  {}
func (cancelNote) isEffect()  {}
func (drainNote) isEffect()   {}
func (claimEffect) isEffect() {}
