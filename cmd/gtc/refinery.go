package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/gastown/gtc/refinery"
	"github.com/gastown/gtc/rpc"
	"github.com/urfave/cli/v2"
)

func init() {
	refineryFlags = append(refineryFlags,
		&cli.StringFlag{Name: "repo", EnvVars: []string{"GTC_REPO"}, Usage: "refinery: git repository merges land in (default: --dir); each merge is built and gated in a worktree under its git directory, then moves the target"},
	)
}

// runRefinery runs the reference refinery worker (`gtc worker --role refinery`): it takes merge
// requests pushed by the coordinator, merges them with git and reports the result.
func runRefinery(c *cli.Context) error {
	name := c.String("name")
	if name == "" {
		return usageError(errors.New("--name must not be empty"))
	}
	repo := c.String("repo")
	if repo == "" {
		repo = c.String("dir")
	}
	gateTimeout, err := gateTimeoutOf(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runRefineryLoop(ctx, refineryOptions{Target: targetOf(c), Name: name, Repo: repo, Gate: c.String("gate"),
		GateTimeout: gateTimeout, Out: c.App.Writer, Log: slog.Default()})
}

// refineryOptions configure runRefineryLoop.
type refineryOptions struct {
	Target dialTarget
	Name   string
	Repo   string // git work tree merges land in
	Gate   string // shell command run on the merged tree (in the refinery's worktree); the target moves only when it passes ("" = none)
	// NameWait is how long hellos refused because the name is held are retried (default 6m).
	NameWait time.Duration
	// GateTimeout bounds Gate (running over is a gate failure): 0 means refinery.DefaultGateTimeout, negative no bound.
	GateTimeout time.Duration
	Out         io.Writer
	Log         *slog.Logger
	BackoffMax  time.Duration // longest reconnect delay (default 10s)
	// LocalWait is how long a merge that would overwrite local changes in the work tree that has the
	// target checked out (refinery.ErrLocalChanges) waits, holding its slot and retrying every
	// LocalRetry, for them to go before it is reported failed (a failed attempt). Defaults 10m, 5s.
	LocalWait, LocalRetry time.Duration
	// HeartbeatWait is how long a heartbeat may go unanswered before the refinery reconnects (default
	// 30s); HeartbeatEvery how often it beats (default: a third of the coordinator's heartbeat timeout).
	HeartbeatWait, HeartbeatEvery time.Duration
}

// refineryLoop connects as role refinery, merges what is pushed one at a time and reports each
// result; it reconnects after a lost connection and returns when ctx ends (nil) or the first
// connection fails.
type refineryLoop struct {
	o    refineryOptions
	jobs chan coord.MergeRequest

	mu        sync.Mutex
	cl        *rpc.Client
	queued    map[mergeSlot]bool  // merges waiting in jobs
	cur       *coord.MergeRequest // the merge running, if any
	stopCur   context.CancelFunc  // stops cur's merge (its gate is killed; the target has not moved)
	cancelled map[mergeSlot]bool  // slots the coordinator cancelled (kept: a later push of one is skipped)
	cancelQ   []mergeSlot         // cancelled, oldest first, to bound it
}

// mergeSlot names one merge attempt: the request and the epoch of the slot it was pushed at.
type mergeSlot struct {
	id    string
	epoch int64
}

func slotOf(m coord.MergeRequest) mergeSlot { return mergeSlot{m.ID, m.Epoch} }

// maxCancelled bounds the cancelled slots a refinery remembers (request ids are never reused).
const maxCancelled = 1024

func runRefineryLoop(ctx context.Context, o refineryOptions) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	r := &refineryLoop{o: o, jobs: make(chan coord.MergeRequest, 64), queued: map[mergeSlot]bool{}, cancelled: map[mergeSlot]bool{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.mergeLoop(ctx) }()
	defer wg.Wait()
	backoff := 200 * time.Millisecond
	names := nameWait{wait: o.NameWait}
	if names.wait <= 0 {
		names.wait = 6 * time.Minute
	}
	for first := true; ; first = false {
		cl, hr, err := connect(ctx, o.Target, rpc.HelloParams{Name: o.Name, Role: coord.RoleRefinery, Capacity: 1},
			func(cl *rpc.Client) {
				cl.OnMerge(func(_ context.Context, m coord.MergeRequest) bool { return r.take(m) })
				cl.OnCancel(r.cancel)
			})
		if err != nil {
			// a name held by another connection is retried for a while even at the first connect
			held, giveUp := names.refused(err)
			if giveUp != nil {
				return giveUp
			}
			if (first && !held) || ctx.Err() != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			o.Log.Warn("refinery: reconnect failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, o.BackoffMax)
			continue
		}
		backoff = 200 * time.Millisecond
		names.reset()
		fmt.Fprintf(o.Out, "refinery %s: connected to %s, merging into %s\n", o.Name, o.Target, o.Repo)
		r.setClient(cl)
		if !first {
			r.reconcile(ctx, cl)
		}
		every := cmp.Or(o.HeartbeatEvery, time.Duration(hr.HeartbeatMS)*time.Millisecond)
		if every <= 0 {
			every = 20 * time.Second
		}
		tick := time.NewTicker(every) // heartbeats renew the merge slots held (long gates)
	conn:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				r.setClient(nil)
				cl.Close()
				return nil
			case <-cl.Done():
				break conn
			case <-tick.C:
				hctx, cancel := context.WithTimeout(ctx, cmp.Or(o.HeartbeatWait, callTimeout))
				_, err := cl.Heartbeat(hctx, rpc.HeartbeatParams{})
				cancel()
				if err != nil && !retryOnConn(cl, err) {
					// no answer (a partition, a dead coordinator): a new connection, as gtc worker does;
					// this one would come back only when the kernel's retransmissions get through
					o.Log.Warn("refinery: heartbeat failed; reconnecting", "err", err)
					break conn
				}
			}
		}
		tick.Stop()
		r.setClient(nil)
		cl.Close()
		o.Log.Warn("refinery: connection lost; reconnecting")
	}
}

// note sends the coordinator a heartbeat carrying progress, which becomes the note of the merges this
// refinery holds (the reference refinery runs one at a time); a failure is only logged.
func (r *refineryLoop) note(ctx context.Context, progress string) {
	cl := r.client()
	if cl == nil {
		return
	}
	hctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := cl.Heartbeat(hctx, rpc.HeartbeatParams{Progress: progress}); err != nil {
		r.o.Log.Debug("refinery: note not sent", "err", err)
	}
}

func (r *refineryLoop) setClient(cl *rpc.Client) { r.mu.Lock(); r.cl = cl; r.mu.Unlock() }
func (r *refineryLoop) client() *rpc.Client      { r.mu.Lock(); defer r.mu.Unlock(); return r.cl }

// take answers a merge push: queued, unless the slot is cancelled already (the cancel can be read first:
// it runs on the connection's reader, the push on a goroutine of its own) or is one the refinery holds
// (after a reconnect the coordinator pushes the slots of the refinery again: the copy running or queued
// reports it). False when the queue is full: the slot expires and is pushed again.
func (r *refineryLoop) take(m coord.MergeRequest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := slotOf(m)
	if r.cancelled[s] || r.queued[s] || (r.cur != nil && slotOf(*r.cur) == s) {
		return true
	}
	select {
	case r.jobs <- m:
		r.queued[s] = true
		return true
	default:
		return false
	}
}

// cancel takes the coordinator's cancel notification for a merge slot (merge.cancel): a queued merge
// is skipped, a running one stopped (gate killed, target not moved) unless its landing has begun, and a push
// of the slot read after the cancel is not taken.
func (r *refineryLoop) cancel(p rpc.CancelParams) {
	if p.MergeID == "" {
		return // a lease cancel: a refinery holds none
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := mergeSlot{p.MergeID, p.Epoch}
	if !r.cancelled[s] {
		r.cancelled[s] = true
		r.cancelQ = append(r.cancelQ, s)
		if len(r.cancelQ) > maxCancelled {
			delete(r.cancelled, r.cancelQ[0])
			r.cancelQ = r.cancelQ[1:]
		}
	}
	if r.cur != nil && slotOf(*r.cur) == s {
		r.stopCur()
	}
}

// reconcile stops the merges this refinery runs or has queued whose slot the coordinator no longer
// gives it: cancelled (merge.cancel) or taken back while it was disconnected, when no cancel could reach
// it. Left running, such a merge could land a cancelled branch; its report would be refused anyway.
// When the list cannot be read, nothing is stopped (as before a reconnect).
func (r *refineryLoop) reconcile(ctx context.Context, cl *rpc.Client) {
	r.mu.Lock()
	held := make([]mergeSlot, 0, len(r.queued)+1)
	for s := range r.queued {
		held = append(held, s)
	}
	if r.cur != nil {
		held = append(held, slotOf(*r.cur))
	}
	r.mu.Unlock()
	if len(held) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	res, err := cl.MergeList(cctx, rpc.MergeListParams{})
	cancel()
	if err != nil {
		r.o.Log.Warn("refinery: cannot check the slots held after a reconnect", "err", err)
		return
	}
	live := map[mergeSlot]bool{}
	for _, m := range res.Requests {
		if r.holdsNow(m) {
			live[slotOf(m)] = true
		}
	}
	for _, s := range held {
		if !live[s] {
			fmt.Fprintf(r.o.Out, "%s: no longer held after the reconnect (cancelled or taken back); stopping it\n", s.id)
			r.cancel(rpc.CancelParams{MergeID: s.id, Epoch: s.epoch})
		}
	}
}

// mergeLoop lands pushed merges one at a time and reports them; a merge cancelled by the coordinator
// is skipped, or stopped and not reported.
func (r *refineryLoop) mergeLoop(ctx context.Context) {
	for {
		var m coord.MergeRequest
		select {
		case <-ctx.Done():
			return
		case m = <-r.jobs:
		}
		jctx, stopJob := context.WithCancel(ctx)
		r.mu.Lock()
		delete(r.queued, slotOf(m))
		skip := r.cancelled[slotOf(m)]
		if !skip {
			r.cur, r.stopCur = &m, stopJob
		}
		r.mu.Unlock()
		if skip {
			stopJob()
			fmt.Fprintf(r.o.Out, "%s %s: cancelled before it started\n", m.ID, m.IssueID)
			continue
		}
		p, send := r.merge(jctx, m)
		r.mu.Lock()
		cancelled := r.cancelled[slotOf(m)]
		r.cur, r.stopCur = nil, nil
		r.mu.Unlock()
		stopJob()
		if ctx.Err() != nil {
			return
		}
		if cancelled && !p.Merged {
			fmt.Fprintf(r.o.Out, "%s %s: cancelled; the merge was stopped before it landed\n", m.ID, m.IssueID)
			continue
		}
		if cancelled {
			// It landed (the push had begun) before the cancel: the report is refused, the queue keeps it cancelled.
			fmt.Fprintf(r.o.Out, "%s %s: cancelled after it landed as %s; the queue keeps it cancelled\n", m.ID, m.IssueID, p.MergeCommit)
		}
		if send {
			r.report(ctx, p)
		}
	}
}

// merge runs one merge and builds its report. A merge that would overwrite local changes in the
// target's work tree is retried while they stay (up to LocalWait) rather than reported as a failed
// attempt at once: nothing is wrong with the change, and the queue would retry it to no avail.
func (r *refineryLoop) merge(ctx context.Context, m coord.MergeRequest) (rpc.MergeReportParams, bool) {
	p := rpc.MergeReportParams{ID: m.ID, Epoch: m.Epoch}
	rf := &refinery.Refinery{GateTimeout: r.o.GateTimeout, BeforeLand: func(ctx context.Context) error { return r.holds(ctx, m) }}
	req := refinery.Request{Branch: m.Branch, Target: m.Target, Commit: m.Commit, IssueID: m.IssueID, Worker: m.Worker}
	wait, every := r.o.LocalWait, r.o.LocalRetry
	if wait <= 0 {
		wait = 10 * time.Minute
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	var res refinery.Result
	var err error
	for waited := false; ; waited = true {
		res, err = rf.Merge(ctx, r.o.Repo, req, r.o.Gate)
		if !errors.Is(err, refinery.ErrLocalChanges) || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		if !waited {
			note := fmt.Sprintf("waiting up to %v for local changes to go: %s", wait, oneLine(err))
			fmt.Fprintf(r.o.Out, "%s %s: %s\n", m.ID, m.IssueID, note)
			r.note(ctx, note) // shown by gtc merge list until the attempt ends
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
	if res.Warning != "" {
		fmt.Fprintf(r.o.Out, "%s %s: warning: %s\n", m.ID, m.IssueID, res.Warning)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		p.Reason = oneLine(err) // stopped (cancelled or shutting down): not reported
	case errors.Is(err, refinery.ErrNotLanded):
		// the coordinator says the slot is not this refinery's: another may be merging into the target;
		// nothing to report on a slot that was taken back
		p.Reason = oneLine(err)
		fmt.Fprintf(r.o.Out, "%s %s: %s\n", m.ID, m.IssueID, p.Reason)
		return p, false
	case err != nil:
		p.Reason = oneLine(err) // retried by the queue
		fmt.Fprintf(r.o.Out, "%s %s: error: %s\n", m.ID, m.IssueID, p.Reason)
	case res.Merged:
		p.Merged, p.MergeCommit = true, res.MergeCommit
		fmt.Fprintf(r.o.Out, "%s %s: merged %s onto %s as %s\n", m.ID, m.IssueID, m.Branch, m.Target, res.MergeCommit)
	case res.NoCommits:
		// Nothing to merge (the agent did not commit): the change is at fault, as with a failing gate.
		what := "branch " + m.Branch
		if m.Commit != "" {
			what += " at " + m.Commit
		}
		p.Rework = true
		p.Reason = fmt.Sprintf("%s has no commits beyond target %s", what, m.Target)
		fmt.Fprintf(r.o.Out, "%s %s: %s\n", m.ID, m.IssueID, p.Reason)
	case len(res.Conflicts) > 0:
		p.Conflicts = res.Conflicts
		p.Reason = "conflicts in " + strings.Join(res.Conflicts, ", ")
		fmt.Fprintf(r.o.Out, "%s %s: %s\n", m.ID, m.IssueID, p.Reason)
	case res.GateFailed:
		p.Rework = true
		p.Reason = gateReason(res)
		fmt.Fprintf(r.o.Out, "%s %s: gate failed\n", m.ID, m.IssueID)
	default:
		p.Reason = "not merged"
	}
	return p, true
}

// landCheckTimeout bounds the check a merge makes before it lands (holds).
const landCheckTimeout = 5 * time.Second

// holds confirms, right before a merge lands, that the coordinator still gives this refinery m's slot:
// one cut off from the coordinator may have lost the slot (its heartbeats did not arrive) to another
// refinery, which could be merging into the same target. The slot is renewed first (a heartbeat), so it
// does not run out while the merge lands. Without an answer it asks again every landCheckRetry (the
// slot comes back to it, or the job is stopped: a cancel, a reconnect that finds the slot gone, the
// shutdown); an answer that the slot is not its own stops the merge with nothing landed.
func (r *refineryLoop) holds(ctx context.Context, m coord.MergeRequest) error {
	for said := false; ; {
		err := r.checkSlot(ctx, m)
		if err == nil || errors.Is(err, errSlotGone) {
			return err
		}
		if !said {
			said = true
			fmt.Fprintf(r.o.Out, "%s %s: gated; waiting to confirm the slot before landing: %s\n", m.ID, m.IssueID, oneLine(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(landCheckRetry):
		}
	}
}

// holdsNow says whether merge.list shows m merging under this refinery (its slot: slotOf(m)).
func (r *refineryLoop) holdsNow(m coord.MergeRequest) bool {
	return m.State == mergeq.StateMerging && m.Refinery == r.o.Name
}

// errSlotGone is wrapped by checkSlot's answer that the slot is no longer the refinery's.
var errSlotGone = errors.New("the slot is no longer this refinery's")

// landCheckRetry is how often holds asks again while the coordinator does not answer.
const landCheckRetry = time.Second

// checkSlot asks the coordinator once whether m's slot is this refinery's (see holds).
func (r *refineryLoop) checkSlot(ctx context.Context, m coord.MergeRequest) error {
	cl := r.client()
	if cl == nil {
		return errors.New("not connected to the coordinator")
	}
	cctx, cancel := context.WithTimeout(ctx, landCheckTimeout)
	defer cancel()
	if _, err := cl.Heartbeat(cctx, rpc.HeartbeatParams{}); err != nil {
		return fmt.Errorf("renew the slot: %w", err)
	}
	res, err := cl.MergeList(cctx, rpc.MergeListParams{Target: m.Target})
	if err != nil {
		return fmt.Errorf("read the merge queue: %w", err)
	}
	for _, q := range res.Requests {
		if q.ID != m.ID {
			continue
		}
		if !r.holdsNow(q) || slotOf(q) != slotOf(m) {
			return fmt.Errorf("%w (%s is %s, epoch %d, by %q)", errSlotGone, m.ID, q.State, q.Epoch, q.Refinery)
		}
		return nil
	}
	return fmt.Errorf("%w (%s is no longer queued)", errSlotGone, m.ID)
}

// report sends a merge's result, retrying briefly over reconnects; a report that never arrives
// lets the slot expire and the request is pushed again.
func (r *refineryLoop) report(ctx context.Context, p rpc.MergeReportParams) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if cl := r.client(); cl != nil {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			_, err := cl.MergeReport(cctx, p)
			cancel()
			switch code := coord.ErrorCode(err); {
			case err == nil:
				return
			case code == coord.EStaleEpoch || code == coord.EConflict || code == coord.ENotFound:
				r.o.Log.Warn("refinery: report refused", "merge", p.ID, "err", err)
				return
			}
			r.o.Log.Debug("refinery: report failed; retrying", "merge", p.ID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.o.Log.Warn("refinery: gave up reporting after a minute; unless it got through, the slot expires and the merge is pushed again", "merge", p.ID)
}

// tailLines keeps the last n lines of s.
// gateReason is the reason a failed gate's merge is sent back with: how the gate ended and the tail of its
// output, or that it printed nothing (before, such a gate's reason was "gate failed: " and nothing more).
func gateReason(res refinery.Result) string {
	r := "gate failed"
	if res.GateExit != "" {
		r += " (" + res.GateExit + ")"
	}
	if out := tailLines(res.GateOutput, 20); strings.TrimSpace(out) != "" {
		return r + ": " + out
	}
	return r + " with no output"
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
