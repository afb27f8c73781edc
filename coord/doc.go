// Package coord is the gtc scheduler: a pure core (no I/O, time passed in) that decides which
// worker gets which issue, and an Engine goroutine that owns the core, commits every decision
// through a Persister (one Commit per batch of requests) and only then replies and delivers
// Effects through an Outbox.
//
// Ready set: classic `bd ready` (status open; not pinned, ephemeral, deferred, a workflow type or a
// -mol-/-wisp- id; no open blocker through blocks, conditional-blocks or waits-for; blocking
// propagates down parent-child up to depth 50), kept incrementally through a reverse-edge index, plus
// the scheduler's own rules: no live lease and no retry backoff pending. Order: priority (0 first),
// created_at, id; optional aging (Config.Aging).
//
// Decisions worth knowing:
//   - ack timeout requeues with no attempt penalty and marks the worker stalled (no pushes until it
//     shows life); reject, release and operator cancel are penalty-free too;
//   - heartbeat expiry, grace expiry and failed outcomes cost an attempt, with jittered exponential
//     backoff; MaxAttempts failed attempts dead-letter the issue (status blocked + gtc:failed);
//   - a Commit failure answers the whole batch with EUnavailable and rebuilds the core from the last
//     durable state (a fold of committed Changes kept by the engine), so nothing undurable survives;
//   - Filters.Convoy is convoy-first (the harness's getNextIssue): the convoy's ready issues before all
//     others, falling back to other work; Filters.ConvoyOnly restricts to the convoy. Idle workers are
//     served longest idle first, round robin over capacity; parked claims are served before pushes;
//   - merge queue (Config.MergeQueue = mergeq.Factory): slots are pushed to connected refinery workers
//     (Outbox.PushMerge), expire at their deadline or when a refinery stays away past Grace; a conflict
//     or failed gate reopens the issue with Config.ReworkLabel; a convoy's tracking issue (type convoy,
//     never handed out) is closed when every issue labelled convoy:<name> is closed;
//   - health (Engine.HealthReport): package health's rules over recent session outcomes (expiries
//     count as failures), stalled busy workers and the storage state.
//
// Store contract: an IssuePut must keep the stored Attempts, NotBefore and (when the put has none)
// StartedAt of an existing issue; IssueState carries them absolutely.
package coord
