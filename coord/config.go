package coord

import (
	"math/rand/v2"
	"time"

	"github.com/gastown/gtc/coord/health"
)

// Config tunes the scheduler; the zero value of every field means its default.
type Config struct {
	// AckTimeout is how long a pushed lease may wait for its ack. Defaults to 10s.
	AckTimeout time.Duration
	// HeartbeatTimeout is how long an acked lease lives without a heartbeat. Defaults to 60s.
	HeartbeatTimeout time.Duration
	// Grace is how long a disconnected worker keeps its leases before they expire. Defaults to 30s.
	Grace time.Duration
	// ForgetGone is how long a worker that went away stays listed (state gone) before it is forgotten:
	// its row is dropped, unless it still holds a lease or a merge slot or is drained by an operator.
	// A restart counts from the row's last sign of life, with at least Grace to come back. Defaults to 24h.
	ForgetGone time.Duration
	// RejectHold is how long an issue a worker session rejected is not pushed to that session again;
	// then it may be (a worker rejects for reasons that pass: at capacity, a command still stopping).
	// Defaults to 30s.
	RejectHold time.Duration
	// MaxAttempts is the number of failed attempts after which an issue is dead-lettered. Defaults to 3.
	MaxAttempts int
	// BackoffBase is the retry backoff after the first failed attempt; it doubles per attempt. Defaults to 5s.
	BackoffBase time.Duration
	// BackoffMax caps the retry backoff. Defaults to 5m.
	BackoffMax time.Duration
	// Aging, when positive, raises a waiting issue by one priority level per Aging of age. Defaults to 0 (off).
	Aging time.Duration
	// WorkflowTypes are issue types never handed out. Defaults to merge-request, gate, molecule, message, agent, role, rig, convoy.
	WorkflowTypes []string
	// ModernReady applies bd v1's readiness rules (a workspace written by bd ≥ 0.50) instead of classic
	// bd's: a blocks or conditional-blocks target holds its dependents in any status but closed or pinned
	// (custom statuses too; any close ends a conditional-blocks edge), and the children of a parent
	// deferred to later wait for it. Defaults to false; Engine.SetModernReady switches at run time.
	ModernReady bool
	// ExcludeIDPatterns are id substrings never handed out. Defaults to "-mol-" and "-wisp-".
	ExcludeIDPatterns []string
	// StatusOpen is the status of a ready issue. Defaults to "open".
	StatusOpen string
	// StatusHooked is the status of a pushed, not yet acked issue. Defaults to "hooked".
	StatusHooked string
	// StatusInProgress is the status of an acked issue. Defaults to "in_progress".
	StatusInProgress string
	// StatusClosed is the status of a completed issue. Defaults to "closed".
	StatusClosed string
	// StatusBlocked is the status of a dead-lettered issue. Defaults to "blocked".
	StatusBlocked string
	// FailedLabel marks a dead-lettered issue. Defaults to "gtc:failed".
	FailedLabel string
	// CodeCompleteStatus is the status a code_complete outcome leaves (assignee kept); empty closes the issue. Defaults to "" (close).
	CodeCompleteStatus string
	// BatchMax is the most requests the engine applies in one group commit. Defaults to 256.
	BatchMax int
	// MergeQueue builds the merge queue (mergeq.Factory(cfg)); nil disables the merge methods (EUnavailable).
	MergeQueue func() MergeQueue
	// ReworkLabel is added to an issue reopened because its merge conflicted or failed its gate. Defaults to "gtc:rework".
	ReworkLabel string
	// Health holds the health thresholds (success rate, stalled workers, stall timeout 10m).
	Health health.Config
	// Rand is the jitter source for retry backoff. Defaults to a PCG seeded from the clock.
	Rand rand.Source
	// OnStep, when set, is called by the engine after every loop step — the batch's requests and due timers
	// applied and dispatched, in memory; the group commit that follows runs alongside the next step — with the
	// step's wall time and the number of requests it batched; it runs on the loop, so keep it cheap.
	OnStep func(d time.Duration, batch int)
	// Monotonic is the process's own clock, for noticing that the engine did not run for a while (the
	// process was stopped or starved: SIGSTOP, a debugger, a swap storm); the lease clocks are held for
	// such a pause. Defaults to time.Now with RealClock; with another clock (a test's) nil disables it.
	Monotonic func() time.Time
	// OnPause, when set, is told each pause the engine noticed (see Monotonic), on the loop.
	OnPause func(d time.Duration)
}

// DefaultWorkflowTypes are the issue types classic `bd ready` leaves out.
var DefaultWorkflowTypes = []string{"merge-request", "gate", "molecule", "message", "agent", "role", "rig", "convoy"}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults(now time.Time) Config {
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	s := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	d(&cfg.AckTimeout, 10*time.Second)
	d(&cfg.HeartbeatTimeout, 60*time.Second)
	d(&cfg.Grace, 30*time.Second)
	d(&cfg.RejectHold, 30*time.Second)
	d(&cfg.ForgetGone, 24*time.Hour)
	d(&cfg.BackoffBase, 5*time.Second)
	d(&cfg.BackoffMax, 5*time.Minute)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.WorkflowTypes == nil {
		cfg.WorkflowTypes = DefaultWorkflowTypes
	}
	if cfg.ExcludeIDPatterns == nil {
		cfg.ExcludeIDPatterns = []string{"-mol-", "-wisp-"}
	}
	s(&cfg.StatusOpen, "open")
	s(&cfg.StatusHooked, "hooked")
	s(&cfg.StatusInProgress, "in_progress")
	s(&cfg.StatusClosed, "closed")
	s(&cfg.StatusBlocked, "blocked")
	s(&cfg.FailedLabel, "gtc:failed")
	s(&cfg.ReworkLabel, "gtc:rework")
	if cfg.BatchMax <= 0 {
		cfg.BatchMax = 256
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(uint64(now.UnixNano()), 0x9e3779b97f4a7c15)
	}
	return cfg
}
