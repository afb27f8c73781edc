// Package mergeq is the merge queue: a pure state machine that orders merge requests, hands the
// merge slot of a target branch to one refinery at a time as an expiring lease, and returns the
// durable changes (coord.MergePut, coord.EventAppend) each step implies. It does no I/O; every
// method takes the current time.
package mergeq

import (
	"time"

	"github.com/gastown/gtc/coord"
)

// Config tunes a Queue; the zero value of each field selects the default named in its comment.
type Config struct {
	// MaxParallel is how many requests of one target branch may be merging at once; further slots
	// would go only to requests whose files are disjoint from those merging. Default 1, and Validate
	// refuses more (see there): the queue's ordering supports it, the refineries' merging does not.
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
	// RetryDelay is how long a request retried after a failed attempt (an error, an expired or abandoned
	// slot) waits before it may start again, doubling per attempt, at most MaxRetryPenalty: a branch not
	// pushed yet, or a remote that failed, gets time instead of the next attempts within milliseconds.
	// A waiting request keeps its files from lower-ranked requests, as one that must wait for a clash.
	// Default 10s.
	RetryDelay time.Duration
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

// Validate refuses a configuration the merge queue cannot honour (coord.EInvalid): MaxParallel above 1.
// Parallel slots on one target race: each refinery merges onto the target as it fetched it and gates
// only its own change, so two merges on disjoint files (or files not given, which never conflict) are
// each tested without the other and their combination lands untested, or the second push is rejected
// as a non-fast-forward, counted as a failed attempt, and after MaxAttempts the issue is reopened for
// rework it does not need; two refinery processes sharing one workspace would also run git in it at
// once. Doing it soundly needs a merge train (gate each merge on top of those ahead of it), which no
// refinery does, so a target merges one request at a time.
func (c Config) Validate() error {
	if c.MaxParallel > 1 {
		return coord.Errorf(coord.EInvalid, "merge queue MaxParallel %d: only one merge per target branch at a time is supported "+
			"(parallel merges are gated apart, so their combination would land untested or be refused at the push); use 0 or 1", c.MaxParallel)
	}
	return nil
}

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
	if c.RetryDelay <= 0 {
		c.RetryDelay = 10 * time.Second
	}
	if c.KeepDone <= 0 {
		c.KeepDone = 1000
	}
	if c.DefaultTarget == "" {
		c.DefaultTarget = "main"
	}
	return c
}
