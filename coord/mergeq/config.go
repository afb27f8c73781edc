// Package mergeq is the merge queue: a pure state machine that orders merge requests, hands the
// merge slot of a target branch to one refinery at a time as an expiring lease, and returns the
// durable changes (coord.MergePut, coord.EventAppend) each step implies. It does no I/O; every
// method takes the current time.
package mergeq

import "time"

// Config tunes a Queue; the zero value of each field selects the default named in its comment.
type Config struct {
	// MaxParallel is how many requests of one target branch may be merging at once; further slots
	// go only to requests whose files are disjoint from those merging. Default 1.
	MaxParallel int
	// LeaseTimeout is how long a refinery holds a merge slot before it expires (Extend renews it). Default 10m.
	LeaseTimeout time.Duration
	// MaxHold bounds how long one attempt holds its slot, renewals included: a refinery that keeps
	// showing life (heartbeats renew its slots) but never reports — its report gave up, its gate or git
	// hangs — loses the slot then, as on a missed deadline, and the target's queue moves on. Default 1h.
	MaxHold time.Duration
	// MaxAttempts bounds the tries of one request (expiries and retryable failures). Default 3.
	MaxAttempts int
	// PriorityStep is how much waiting one priority level is worth: a P2 request created at t ranks
	// like a P0 request created at t+2*PriorityStep, so older low-priority work is never starved. Default 15m.
	PriorityStep time.Duration
	// RetryPenalty is added to a request's rank time per failed attempt. Default 1m.
	RetryPenalty time.Duration
	// MaxRetryPenalty caps the total retry penalty. Default 5m.
	MaxRetryPenalty time.Duration
	// KeepIssueOnConflict disables the rework decision: by default a merge that fails with conflicts
	// (or a failing gate, or out of attempts) asks the core to reopen the issue.
	KeepIssueOnConflict bool
	// KeepDone is how many finished (merged, failed, cancelled) requests stay queryable in memory. Default 1000.
	KeepDone int
	// DefaultTarget is the target branch of a submission that names none. Default "main".
	DefaultTarget string
}

// MaxPriority is the lowest issue priority (beads priorities run 0..4, 0 highest); larger values are clamped.
const MaxPriority = 4

func (c Config) withDefaults() Config {
	if c.MaxParallel <= 0 {
		c.MaxParallel = 1
	}
	if c.LeaseTimeout <= 0 {
		c.LeaseTimeout = 10 * time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 3
	}
	if c.MaxHold <= 0 {
		c.MaxHold = time.Hour
	}
	if c.PriorityStep <= 0 {
		c.PriorityStep = 15 * time.Minute
	}
	if c.RetryPenalty <= 0 {
		c.RetryPenalty = time.Minute
	}
	if c.MaxRetryPenalty <= 0 {
		c.MaxRetryPenalty = 5 * time.Minute
	}
	if c.KeepDone <= 0 {
		c.KeepDone = 1000
	}
	if c.DefaultTarget == "" {
		c.DefaultTarget = "main"
	}
	return c
}
