package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/refinery"
	"github.com/gastown/gtc/rpc"
	"github.com/urfave/cli/v2"
)

// refineryFlags are extra flags of `gtc worker` for the refinery role; refinery.go may append to it
// from an init function.
var refineryFlags []cli.Flag

func workerCommand() *cli.Command {
	host, _ := os.Hostname()
	if host == "" {
		host = "worker"
	}
	flags := append(connFlags(),
		&cli.StringFlag{Name: "name", Value: host, EnvVars: []string{"GTC_WORKER_NAME", "GTC_NAME"}, Usage: "worker name; give each worker its own (leases are resumed by name after a restart)"},
		&cli.IntFlag{Name: "capacity", Value: 1, EnvVars: []string{"GTC_CAPACITY"}, Usage: "commands run at once"},
		&cli.StringFlag{Name: "role", Value: "worker", Usage: "worker (runs --exec per issue) or refinery (merges)"},
		&cli.StringFlag{Name: "exec", EnvVars: []string{"GTC_EXEC"}, Usage: "shell command run for each issue (sh -c), e.g. 'claude -p \"$GTC_PROMPT\"'"},
		&cli.StringFlag{Name: "gate", EnvVars: []string{"GTC_GATE"}, Usage: "shell command run after --exec succeeds (e.g. 'go test ./...'); the issue completes only if it exits 0"},
		&cli.DurationFlag{Name: "gate-timeout", Value: refinery.DefaultGateTimeout, EnvVars: []string{"GTC_GATE_TIMEOUT"},
			Usage: "a --gate running longer is killed: the worker fails the attempt, the refinery fails the merge (as a failing gate) instead of holding the slot; 0 means no bound (the queue still takes a refinery's slot back after 1h)"},
		&cli.StringSliceFlag{Name: "label", Usage: "only take issues with this label (repeatable: issues with all of them)"},
		&cli.StringSliceFlag{Name: "type", Usage: "only take issues of this type (repeatable: any of them), e.g. --type task --type bug to leave epics alone"},
		&cli.StringFlag{Name: "convoy", Usage: "convoy-first: take this convoy's ready issues before any other work"},
		&cli.BoolFlag{Name: "convoy-only", Usage: "with --convoy: take only the convoy's issues"},
		&cli.StringFlag{Name: "outcome", Value: coord.OutcomeSuccess, Usage: "outcome reported when --exec (and --gate) pass: success closes the issue; code_complete leaves it to the merge queue when the server runs with --code-complete-status"},
		&cli.DurationFlag{Name: "kill-grace", Value: 5 * time.Second, Usage: "after SIGTERM to a cancelled command's process group, wait this long before SIGKILL"},
		&cli.BoolFlag{Name: "exit-when-drained", EnvVars: []string{"GTC_EXIT_WHEN_DRAINED"}, Usage: "when an operator drains this worker (gtc drain NAME), drain as on Ctrl-C: running commands finish and report, then exit 0"},
	)
	return usageOnError(&cli.Command{
		Name:  "worker",
		Usage: "run a reference worker: for each pushed issue run --exec with the issue in GTC_* variables and as JSON on stdin",
		Description: "Exit 0 of the command completes the issue (outcome success, summary: the tail of its output);\n" +
			"any other exit fails the attempt (retried after a backoff). Variables: GTC_ISSUE_ID, GTC_ISSUE_TITLE,\n" +
			"GTC_LEASE_ID, GTC_LEASE_EPOCH, GTC_PROMPT (title and description), GTC_ISSUE_JSON, GTC_ATTEMPT, GTC_WORKER,\n" +
			"and the coordinator's GTC_SOCKET (or GTC_ADDR and GTC_TOKEN), so gtc commands it runs reach the same server.\n" +
			"Ctrl-C (or SIGTERM) drains: no new work, running commands finish and report, then exit 0;\n" +
			"a second Ctrl-C kills the running commands and releases their leases. An operator's `gtc drain NAME`\n" +
			"stops the pushes and is logged; with --exit-when-drained the worker then drains and exits as on Ctrl-C.",
		Flags: append(flags, refineryFlags...),
		Action: func(c *cli.Context) error {
			if args, err := argsOf(c); err != nil {
				return err
			} else if len(args) > 0 {
				return usageError(fmt.Errorf("worker takes no arguments (quote the command: --exec '...'), got %q", args[0]))
			}
			switch c.String("role") {
			case "refinery":
				return runRefinery(c)
			case "worker":
			default:
				return usageError(fmt.Errorf("--role %q: want worker or refinery", c.String("role")))
			}
			if c.String("exec") == "" {
				return usageError(errors.New("worker needs --exec CMD: the shell command run for each issue, e.g. --exec 'claude -p \"$GTC_PROMPT\"'"))
			}
			if c.Int("capacity") < 1 {
				return usageError(errors.New("--capacity must be at least 1"))
			}
			if c.String("name") == "" {
				return usageError(errors.New("--name must not be empty"))
			}
			if g := c.Duration("kill-grace"); g <= 0 {
				// read as the default (5 s) further down, silently
				return usageError(fmt.Errorf("--kill-grace %s: want more than 0", g))
			}
			gateTimeout, err := gateTimeoutOf(c)
			if err != nil {
				return err
			}
			drain, stopDrain := context.WithCancel(c.Context)
			defer stopDrain()
			kill, stopKill := context.WithCancel(context.Background())
			defer stopKill()
			sigs := make(chan os.Signal, 2)
			signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sigs)
			go func() {
				for n := 0; ; n++ {
					select {
					case <-sigs:
					case <-kill.Done():
						return
					}
					if n == 0 {
						fmt.Fprintln(c.App.ErrWriter, "gtc worker: draining: no new work; waiting for running commands (Ctrl-C again kills them)")
						stopDrain()
						continue
					}
					fmt.Fprintln(c.App.ErrWriter, "gtc worker: killing running commands and releasing their leases")
					stopKill()
					return
				}
			}()
			o := workerOptions{Target: targetOf(c), Name: c.String("name"), Capacity: c.Int("capacity"),
				Exec: c.String("exec"), Gate: c.String("gate"), GateTimeout: gateTimeout, Out: c.App.Writer,
				Log: slog.Default(), Kill: kill, KillGrace: c.Duration("kill-grace")}
			if c.Bool("exit-when-drained") {
				o.Drained = stopDrain
			}
			f, err := filtersOf(c, c.StringSlice("type"))
			if err != nil {
				return err
			}
			o.Filters = f
			switch o.Outcome = c.String("outcome"); o.Outcome {
			case coord.OutcomeSuccess, coord.OutcomeCodeComplete:
			default:
				return usageError(fmt.Errorf("--outcome %q: want %s or %s", o.Outcome, coord.OutcomeSuccess, coord.OutcomeCodeComplete))
			}
			return runWorker(drain, o)
		},
	})
}

// gateTimeoutOf reads --gate-timeout: negative for no bound (the flag's 0), as workerOptions and
// refineryOptions take it.
func gateTimeoutOf(c *cli.Context) (time.Duration, error) {
	d := c.Duration("gate-timeout")
	switch {
	case d < 0:
		return 0, usageError(fmt.Errorf("--gate-timeout %v: want a duration >= 0 (0: no bound)", d))
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// nameWait tracks hellos refused because the worker name is held by another connection (EConflict):
// this process's previous one, which the server has not seen end yet (after a crash, a half-open
// connection lasts until the server's idle timeout), or another process under the name. They are
// retried for wait, then given up.
type nameWait struct {
	wait  time.Duration
	since time.Time // when the refusals began (zero: none since the last success)
}

// refused notes a failed connect: held says the name was held (retry); giveUp, that it has been for
// longer than wait.
func (n *nameWait) refused(err error) (held bool, giveUp error) {
	if coord.ErrorCode(err) != coord.EConflict {
		n.since = time.Time{}
		return false, nil
	}
	if n.since.IsZero() {
		n.since = time.Now()
	}
	if time.Since(n.since) > n.wait {
		return true, fmt.Errorf("gave up after %s: %w", n.wait, err)
	}
	return true, nil
}

// left is how long the refusals may go on.
func (n *nameWait) left() time.Duration { return n.wait - time.Since(n.since) }

// reset forgets the refusals (a hello succeeded).
func (n *nameWait) reset() { n.since = time.Time{} }

// workerOptions configure runWorker; zero values mean the defaults noted.
type workerOptions struct {
	Target        dialTarget
	Name          string
	Capacity      int             // commands at once (default 1)
	Exec          string          // run with sh -c for each assignment
	Gate          string          // run after Exec exits 0; its failure fails the attempt ("" = none)
	Outcome       string          // reported when Exec (and Gate) pass (default coord.OutcomeSuccess)
	GateTimeout   time.Duration   // a Gate running longer is killed and fails the attempt (default 30m; negative: no bound)
	Filters       *coord.Filters  // hello filters (nil = all issues)
	Out           io.Writer       // the commands' output, each line prefixed with the issue id (default io.Discard)
	Log           *slog.Logger    // worker log (default slog.Default())
	Kill          context.Context // when done, running commands are killed and their leases released (nil = never)
	BackoffMin    time.Duration   // first reconnect delay (default 200ms)
	BackoffMax    time.Duration   // longest reconnect delay (default 10s)
	KillGrace     time.Duration   // SIGTERM → SIGKILL of a cancelled command's process group (default 5s)
	TailBytes     int             // output tail reported as summary or error (default 2000)
	ReportTimeout time.Duration   // after a drain, how long to keep trying to report results to an absent server (default 1m)
	CallTimeout   time.Duration   // one request to the server (default 10s)
	NameWait      time.Duration   // how long hellos refused because the name is held are retried (default 6m: past the server's 5m idle timeout)
	Drained       func()          // called when an operator drains the worker (nil: the drain is only logged); --exit-when-drained
}

func (o workerOptions) withDefaults() workerOptions {
	if o.Capacity <= 0 {
		o.Capacity = 1
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Kill == nil {
		o.Kill = context.Background()
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 200 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 10 * time.Second
	}
	if o.KillGrace <= 0 {
		o.KillGrace = 5 * time.Second
	}
	if o.TailBytes <= 0 {
		o.TailBytes = 2000
	}
	if o.ReportTimeout <= 0 {
		o.ReportTimeout = time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 10 * time.Second
	}
	if o.GateTimeout == 0 {
		o.GateTimeout = refinery.DefaultGateTimeout
	}
	if o.Outcome == "" {
		o.Outcome = coord.OutcomeSuccess
	}
	if o.NameWait <= 0 {
		o.NameWait = 6 * time.Minute
	}
	return o
}

// job is one lease this worker runs (or ran and has still to report).
type job struct {
	a       rpc.Assignment
	issue   string
	cancel  context.CancelFunc
	lost    bool // the lease was taken away: the command is killed and nothing is reported
	running bool // its command runs (a lost one's too, until it has died)
	done    bool // the command finished; res holds what to report
	refused bool // res replaces a report the coordinator refused (flush)
	res     jobResult
}

// jobResult is the outcome of one command.
type jobResult struct {
	ok      bool   // exit 0 (and the gate passed)
	killed  bool   // killed by the worker's Kill: release the lease
	summary string // success: tail of the output
	errMsg  string // failure: why, with the tail of the output
	dur     time.Duration
	// merges are the command's `gtc merge submit`s, held back while a --gate was to run (see
	// mergeDeferEnv): submitted when the gate passed, before the result
	merges []rpc.MergeSubmitParams
}

// mergeDeferEnv names the file a `gtc merge submit` run by a command of a worker with a --gate writes
// its request to instead of sending it: the worker submits it once the gate has passed. Sent at once, a
// branch that then failed the worker's gate could merge before the attempt failed, and close the issue.
const mergeDeferEnv = "GTC_MERGE_DEFER"

// workerLoop is the state of one runWorker call.
type workerLoop struct {
	o        workerOptions
	log      *slog.Logger
	mu       sync.Mutex
	jobs     map[string]*job // by lease id
	draining bool
	drainAt  time.Time
	wake     chan struct{}
	wg       sync.WaitGroup // job goroutines
	outMu    sync.Mutex     // serialises writes to o.Out
	ended    *sync.Cond     // on mu: a command ended (waitForSlot)
}

// drainWake is what wakes a backoff wait to start the drain: ctx's end, once — a drain already under way
// has seen it, and its done channel would end every wait at once (the loop spun while the coordinator was down).
func (w *workerLoop) drainWake(ctx context.Context) <-chan struct{} {
	if w.isDraining() {
		return nil
	}
	return ctx.Done()
}

// runWorker connects to the coordinator as o.Name and runs o.Exec for every assignment pushed to it,
// reconnecting with backoff whenever the connection ends. When ctx ends it drains: it takes no new
// work, waits for the running commands, reports them and returns nil. It returns an error only when
// the coordinator refuses the worker (bad token, bad hello) or results cannot be reported after a drain.
func runWorker(ctx context.Context, o workerOptions) error {
	w := &workerLoop{o: o.withDefaults(), jobs: map[string]*job{}, wake: make(chan struct{}, 1)}
	w.ended = sync.NewCond(&w.mu)
	w.log = w.o.Log.With("worker", o.Name)
	defer w.wg.Wait()
	defer w.killAll() // only matters on an error return: a drain returns with no jobs left
	killC := w.o.Kill.Done()
	backoff := w.o.BackoffMin
	names := nameWait{wait: w.o.NameWait}
	for {
		if ctx.Err() != nil {
			w.startDrain()
		}
		if w.finished() {
			return nil
		}
		role, capacity := "worker", w.o.Capacity
		if w.isDraining() {
			role, capacity = "client", 0 // a client gets no pushes but keeps its leases and reports them
		}
		before := w.jobIDs()
		// Not the Kill context: after a kill the releases still have to be sent.
		cl, h, err := connect(context.Background(), w.o.Target, rpc.HelloParams{Name: w.o.Name, Role: role, Capacity: capacity, Filters: w.o.Filters},
			func(cl *rpc.Client) {
				cl.OnAssign(w.onAssign)
				cl.OnCancel(w.onCancel)
				cl.OnDrain(w.onDrain)
			})
		if err != nil {
			var ee *exitErr
			held, giveUp := names.refused(err)
			if giveUp != nil {
				return giveUp
			}
			// refused: retrying cannot help — but for busy (the coordinator at --max-conns), which passes
			if !held && errors.As(err, &ee) && (ee.code == exitRefused || ee.code == exitUsage) && coord.ErrorCode(err) != coord.EBusy {
				return err
			}
			if w.isDraining() && w.running() == 0 && (w.o.Kill.Err() != nil || time.Since(w.drainedAt()) > w.o.ReportTimeout) {
				// Killed, or drained and out of patience: the coordinator's grace expires the leases.
				return fmt.Errorf("could not report %d result(s) before giving up: %w", w.pending(), err)
			}
			if !held {
				w.log.Warn("coordinator unreachable; retrying", "in", backoff, "err", oneLine(err))
			} else {
				w.log.Warn("the worker name is held by another connection (another process, or this worker's previous connection); retrying",
					"name", w.o.Name, "in", backoff, "giving_up_in", names.left().Round(time.Second))
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-w.drainWake(ctx):
			case <-killC:
				killC = nil
				w.killAll()
			case <-w.wake:
			}
			t.Stop()
			backoff = min(backoff*2, w.o.BackoffMax)
			continue
		}
		names.reset()
		w.checkConvoy(cl) // before "connected": a reader of the log sees the warning with it
		w.log.Info("connected", "server", w.o.Target.String(), "version", h.Version, "role", role, "leases", len(h.Leases))
		w.reconcile(cl, h.Leases, before)
		began := time.Now()
		killC = w.serve(ctx, cl, h, role, killC)
		cl.Close()
		// A session that lasted is a healthy one: start the backoff over. One that ended at once (a
		// persistent error on report or heartbeat) must not turn into a storm of reconnects.
		if time.Since(began) > 10*w.o.BackoffMax {
			backoff = w.o.BackoffMin
		} else if !w.finished() {
			select {
			case <-w.drainWake(ctx):
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, w.o.BackoffMax)
		}
	}
}

// finished reports a drained worker with nothing left to run or report.
func (w *workerLoop) finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.draining && len(w.jobs) == 0
}

func (w *workerLoop) isDraining() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.draining }

func (w *workerLoop) drainedAt() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.drainAt }

// running counts commands still running.
func (w *workerLoop) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, j := range w.jobs {
		if !j.done {
			n++
		}
	}
	return n
}

// pending counts results waiting to be reported.
func (w *workerLoop) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.jobs)
}

func (w *workerLoop) startDrain() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.draining {
		w.draining, w.drainAt = true, time.Now()
		w.log.Info("draining", "running", len(w.jobs))
	}
}

// killAll cancels every running command; their leases are released when reported.
func (w *workerLoop) killAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.draining = true
	if w.drainAt.IsZero() {
		w.drainAt = time.Now()
	}
	for _, j := range w.jobs {
		if !j.done {
			j.cancel()
		}
	}
}

func (w *workerLoop) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// onAssign answers a push: accept and start the command, or reject when draining or full.
func (w *workerLoop) onAssign(_ context.Context, a rpc.Assignment) (bool, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.draining {
		return false, "worker is draining"
	}
	if w.jobs[a.Lease.ID] != nil {
		return true, "" // a repeated push of a lease we run
	}
	if w.busyLocked() >= w.o.Capacity {
		return false, "worker is at capacity"
	}
	w.startLocked(a)
	return true, ""
}

// busyLocked counts the slots in use: the leases whose commands have not finished, but for those the
// coordinator took away, whose slots it counts free at once even while their commands are still being
// stopped (rejecting the next push as "at capacity" kept that issue from this worker). w.mu is held.
func (w *workerLoop) busyLocked() int {
	n := 0
	for _, j := range w.jobs {
		if !j.done && !j.lost {
			n++
		}
	}
	return n
}

// onCancel kills the command of a lease the coordinator took away (runs on the reader: no blocking).
func (w *workerLoop) onCancel(p rpc.CancelParams) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.jobs[p.LeaseID]
	if j == nil || j.a.Lease.Epoch != p.Epoch {
		return
	}
	w.log.Info("lease cancelled by the coordinator; stopping its command", "lease", p.LeaseID, "issue", p.IssueID, "reason", p.Reason)
	w.loseLocked(p.LeaseID, j)
}

// onDrain logs an operator's drain or its undo (runs on the reader: no blocking); with Drained set, a
// drain starts the worker's own drain, as Ctrl-C does.
func (w *workerLoop) onDrain(n rpc.DrainNotice) {
	var by []any // a drain in force when the worker connected names no one
	if n.By != "" {
		by = []any{"by", n.By}
	}
	switch {
	case !n.Draining:
		w.log.Info("the operator's drain was undone: work is pushed again", by...)
	case w.o.Drained != nil:
		w.log.Info("drained by the operator: no new work; exiting once the running commands end", append(by, "running", w.running())...)
		w.o.Drained()
	default:
		w.log.Info("drained by the operator: no new work is pushed until `gtc drain --undo` (running commands go on)", by...)
	}
}

// loseLocked forgets a lease that is no longer ours and kills its command.
func (w *workerLoop) loseLocked(id string, j *job) {
	j.lost = true
	if j.done {
		delete(w.jobs, id)
		return
	}
	j.cancel()
}

// startLocked starts the command of an assignment.
func (w *workerLoop) startLocked(a rpc.Assignment) {
	jctx, cancel := context.WithCancel(w.o.Kill)
	j := &job{a: a, issue: a.Lease.IssueID, cancel: cancel}
	w.jobs[a.Lease.ID] = j
	w.log.Info("running", "issue", j.issue, "lease", a.Lease.ID, "epoch", a.Lease.Epoch, "attempt", a.Lease.Attempt)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer cancel()
		var res jobResult
		if w.waitForSlot(jctx, j) {
			res = w.execute(jctx, a)
		} else {
			res = jobResult{killed: true, errMsg: "stopped before its command started"}
		}
		w.mu.Lock()
		j.done, j.res, j.running = true, res, false
		if j.lost {
			delete(w.jobs, a.Lease.ID)
		}
		w.ended.Broadcast()
		w.mu.Unlock()
		w.poke()
	}()
}

// waitForSlot holds a job's command back while commands of leases the coordinator took away, still
// being killed (up to --kill-grace), fill the capacity: the coordinator counts their slots free at once
// and may push the very issue again, which must not run twice at once in one checkout. It reports
// whether the command may start: false when ctx ended first.
func (w *workerLoop) waitForSlot(ctx context.Context, j *job) bool {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.ended.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for ctx.Err() == nil {
		n, dying := 0, 0
		for _, o := range w.jobs {
			if o.running {
				n++
				if o.lost {
					dying++
				}
			}
		}
		if dying == 0 || n < w.o.Capacity {
			j.running = true
			return true
		}
		w.ended.Wait()
	}
	return false
}

// jobIDs lists the leases this worker holds now.
func (w *workerLoop) jobIDs() map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := make(map[string]bool, len(w.jobs))
	for id := range w.jobs {
		ids[id] = true
	}
	return ids
}

// reconcile matches the leases hello returned with the jobs held before the hello (before): a job
// whose lease is gone is stopped, a returned lease not running here is resumed (or released when
// draining, full or never acked). Jobs pushed on the new connection are left alone.
func (w *workerLoop) reconcile(cl *rpc.Client, leases []rpc.Assignment, before map[string]bool) {
	live := make(map[string]bool, len(leases))
	var release []rpc.Assignment
	w.mu.Lock()
	for _, a := range leases {
		live[a.Lease.ID] = true
	}
	for id, j := range w.jobs {
		if before[id] && !live[id] {
			w.log.Warn("lease no longer ours after reconnect; dropping it", "lease", id, "issue", j.issue)
			w.loseLocked(id, j)
		}
	}
	n := w.busyLocked()
	var ack []rpc.Assignment
	for _, a := range leases {
		if w.jobs[a.Lease.ID] != nil {
			if a.Lease.State == coord.LeasePushed {
				ack = append(ack, a) // running, but the ack was lost with the old connection
			}
			continue // running or waiting to report: never run twice
		}
		if w.draining || a.Lease.State != coord.LeaseAcked || n >= w.o.Capacity {
			release = append(release, a)
			continue
		}
		w.log.Info("resuming lease after reconnect", "lease", a.Lease.ID, "issue", a.Lease.IssueID)
		w.startLocked(a)
		n++
	}
	w.mu.Unlock()
	for _, a := range ack { // a heartbeat on a pushed lease acks it
		ctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
		_, err := cl.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, Progress: "resumed after reconnect"})
		cancel()
		w.log.Info("acked a running lease after reconnect", "lease", a.Lease.ID, "issue", a.Lease.IssueID, "err", err)
	}
	for _, a := range release {
		ctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
		_, err := cl.Release(ctx, rpc.ReleaseParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, Reason: "worker restarted and does not run it",
			Idempotency: rpc.Idempotency{IdempotencyKey: w.o.Name + "/" + a.Lease.ID + "/release"}})
		cancel()
		w.log.Info("released a lease this worker does not run", "lease", a.Lease.ID, "issue", a.Lease.IssueID, "err", err)
	}
}

// checkConvoy warns when the convoy of --convoy does not exist (yet): a typo would take other work
// (convoy-first) or nothing (--convoy-only) without a word.
func (w *workerLoop) checkConvoy(cl *rpc.Client) {
	f := w.o.Filters
	if f == nil || f.Convoy == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
	defer cancel()
	_, err := cl.ConvoyShow(ctx, rpc.ConvoyShowParams{Name: f.Convoy})
	if coord.ErrorCode(err) != coord.ENotFound {
		return
	}
	then := "taking other work until it exists"
	if f.ConvoyOnly {
		then = "taking nothing until it exists"
	}
	w.log.Warn("no convoy of that name (see gtc convoy list): "+then, "convoy", f.Convoy)
}

// serve runs one connection: heartbeats, result reports, drain. It returns when the connection must
// be replaced (closed by the server, or switching to the drain role) or the worker is done.
func (w *workerLoop) serve(ctx context.Context, cl *rpc.Client, h *rpc.HelloResult, role string, killC <-chan struct{}) <-chan struct{} {
	every := time.Duration(h.HeartbeatMS) * time.Millisecond
	if every <= 0 {
		every = 20 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	drainC := ctx.Done()
	if w.isDraining() {
		drainC = nil
	}
	for {
		if !w.flush(cl) {
			return killC
		}
		if w.finished() {
			return killC
		}
		select {
		case <-cl.Done():
			w.log.Warn("connection to the coordinator ended; reconnecting")
			return killC
		case <-drainC:
			drainC = nil
			w.startDrain()
			if role == "worker" && !w.finished() {
				// No more pushes: coord.drain, or else reconnect as a client (which gets none either).
				dctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
				_, err := cl.CoordDrain(dctx, rpc.DrainParams{Worker: w.o.Name, Session: true})
				cancel()
				if err != nil {
					w.log.Warn("coord.drain refused; reconnecting as a client to stop pushes", "err", oneLine(err))
					return killC
				}
			}
		case <-killC:
			killC = nil
			w.killAll()
		case <-w.wake:
		case <-tick.C:
			hctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
			_, err := cl.Heartbeat(hctx, rpc.HeartbeatParams{})
			cancel()
			if err != nil && retryOnConn(cl, err) {
				// the coordinator is up but cannot commit (its storage fails): it does not count that
				// time against our leases, and a reconnect would only have hello refused too
				w.log.Warn("heartbeat refused; trying again at the next one", "err", oneLine(err))
			} else if err != nil {
				what := "heartbeat refused; reconnecting"
				if errors.Is(err, context.DeadlineExceeded) {
					what = fmt.Sprintf("no answer to a heartbeat within %v; reconnecting", w.o.CallTimeout)
				}
				w.log.Warn(what, "err", oneLine(err))
				return killC
			}
		}
	}
}

// flush reports every finished job; false means the connection failed and must be replaced.
func (w *workerLoop) flush(cl *rpc.Client) bool {
	w.mu.Lock()
	var done []*job
	for _, j := range w.jobs {
		if j.done && !j.lost {
			done = append(done, j)
		}
	}
	w.mu.Unlock()
	for _, j := range done {
		err := w.report(cl, j)
		c := coord.ErrorCode(err)
		if err != nil && retryOnConn(cl, err) {
			w.log.Warn("could not report a result; trying again at the next heartbeat", "lease", j.a.Lease.ID, "err", oneLine(err))
			return true // kept: flush runs again at the next heartbeat tick (or wake)
		}
		if err != nil && (c == coord.EUnavailable || c == coord.EBusy || c == coord.EInternal || errors.Is(err, context.DeadlineExceeded)) {
			w.log.Warn("could not report a result; retrying after reconnect", "lease", j.a.Lease.ID, "err", oneLine(err))
			return false
		}
		switch {
		case err == nil:
		case c == coord.EStaleEpoch || c == coord.ENotFound || c == coord.ENotHolder:
			w.log.Warn("result not accepted; the lease had moved on", "lease", j.a.Lease.ID, "issue", j.issue, "err", oneLine(err))
		case !j.refused:
			// Refused for another reason (over the coordinator's --max-message, say): the lease is still
			// ours, and dropped here it lived on, renewed by our heartbeats (they name no lease), with no
			// one to report it. Report a failed attempt with a short reason instead, on this connection
			// or (the refusal closed it) the next.
			w.log.Warn("result refused by the coordinator; reporting a failed attempt with a short reason instead",
				"lease", j.a.Lease.ID, "issue", j.issue, "err", oneLine(err))
			w.mu.Lock()
			j.refused = true
			j.res = jobResult{errMsg: "the worker's report was refused: " + firstLine(oneLine(err), 300), dur: j.res.dur}
			w.mu.Unlock()
			return false
		default:
			w.log.Warn("result refused by the coordinator again; dropping it", "lease", j.a.Lease.ID, "issue", j.issue, "err", oneLine(err))
		}
		w.mu.Lock()
		if w.jobs[j.a.Lease.ID] == j {
			delete(w.jobs, j.a.Lease.ID)
		}
		w.mu.Unlock()
	}
	return true
}

// retryOnConn says whether a refused call is better retried on the same connection: the coordinator
// answered unavailable or busy (its storage fails, or it is overloaded) and the connection is open. A
// connection that ended, or a call that got no answer in time, is retried after a reconnect.
func retryOnConn(cl *rpc.Client, err error) bool {
	if c := coord.ErrorCode(err); c != coord.EUnavailable && c != coord.EBusy {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	select {
	case <-cl.Done():
		return false
	default:
		return coord.ErrorMessage(err) != "connection closed"
	}
}

// report sends the result of a finished job; a passed job's held-back merge submits go first.
func (w *workerLoop) report(cl *rpc.Client, j *job) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.o.CallTimeout)
	defer cancel()
	l := j.a.Lease
	key := rpc.Idempotency{IdempotencyKey: w.o.Name + "/" + l.ID + "/report"}
	res := j.res
	if res.ok {
		for i, p := range res.merges {
			p.LeaseID, p.Epoch = l.ID, l.Epoch
			p.IdempotencyKey = w.o.Name + "/" + l.ID + "/submit-" + strconv.Itoa(i)
			m, err := cl.MergeSubmit(ctx, p)
			if coord.ErrorCode(err) == coord.EUnavailable {
				return err // retried with the report
			}
			if err != nil {
				// the gate passed but the branch cannot be queued: the attempt did not deliver
				res = jobResult{errMsg: fmt.Sprintf("merge submit of %s after the gate: %v", p.Branch, oneLine(err)), dur: res.dur}
				break
			}
			w.log.Info("merge submitted after the gate", "issue", l.IssueID, "request", m.Request.ID, "branch", m.Request.Branch)
		}
	}
	switch {
	case res.killed:
		r, err := cl.Release(ctx, rpc.ReleaseParams{LeaseID: l.ID, Epoch: l.Epoch, Reason: "worker stopped before the command finished", Idempotency: key})
		if err == nil {
			w.log.Info("released", "issue", r.IssueID, "lease", l.ID, "status", r.Status)
		}
		return err
	case res.ok:
		r, err := cl.Complete(ctx, rpc.CompleteParams{LeaseID: l.ID, Epoch: l.Epoch, Idempotency: key, SessionResult: rpc.SessionResult{
			Outcome: w.o.Outcome, Summary: res.summary, DurationMS: res.dur.Milliseconds()}})
		if err == nil {
			w.log.Info("completed", "issue", r.IssueID, "lease", l.ID, "status", r.Status, "took", res.dur.Round(time.Millisecond))
		}
		return err
	default:
		r, err := cl.Fail(ctx, rpc.FailParams{LeaseID: l.ID, Epoch: l.Epoch, Error: res.errMsg, Idempotency: key})
		if err == nil {
			w.log.Info("failed", "issue", r.IssueID, "lease", l.ID, "status", r.Status, "attempt", r.Attempt, "dead_lettered", r.DeadLettered,
				"reason", firstLine(res.errMsg, 200))
		}
		return err
	}
}

// firstLine is s up to its first line break, cut to at most n bytes (on a rune boundary).
func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// envValueMax keeps one environment variable under the kernel's per-string limit (128 KiB).
const envValueMax = 100_000

// execute runs the command (and the gate) of one assignment.
func (w *workerLoop) execute(ctx context.Context, a rpc.Assignment) jobResult {
	start := time.Now()
	v := viewOf(a.Issue)
	prompt := a.Prompt
	if len(prompt) > envValueMax {
		prompt = strings.ToValidUTF8(prompt[:envValueMax], "") // cut; the whole issue is on stdin
	}
	env := append(os.Environ(),
		"GTC_ISSUE_ID="+a.Lease.IssueID,
		"GTC_ISSUE_TITLE="+v.Title,
		"GTC_LEASE_ID="+a.Lease.ID,
		"GTC_LEASE_EPOCH="+strconv.FormatInt(a.Lease.Epoch, 10),
		"GTC_ATTEMPT="+strconv.Itoa(a.Lease.Attempt),
		"GTC_WORKER="+w.o.Name,
		"GTC_PROMPT="+prompt,
	)
	// the coordinator this worker talks to, so that a gtc command the agent runs (gtc merge submit) reaches
	// it too whatever --socket or --addr the worker was given (review: it looked for <dir>/.beads/gtc.sock)
	if t := w.o.Target; t.Network == "unix" {
		sock := t.Addr
		if abs, err := filepath.Abs(sock); err == nil {
			sock = abs
		}
		env = append(env, "GTC_SOCKET="+sock, "GTC_ADDR=") // an empty GTC_ADDR: the CLI dials the socket
	} else if t.Addr != "" {
		env = append(env, "GTC_ADDR="+t.Addr, "GTC_TOKEN="+t.Token)
	}
	issueJSON := bytes.TrimSpace(a.Issue)
	if len(issueJSON) <= envValueMax {
		env = append(env, "GTC_ISSUE_JSON="+string(issueJSON))
	}
	var deferFile string
	if w.o.Gate != "" {
		dir, err := os.MkdirTemp("", "gtc-merge-defer-")
		if err != nil {
			return jobResult{errMsg: fmt.Sprintf("worker: %v", err)}
		}
		defer os.RemoveAll(dir)
		deferFile = filepath.Join(dir, "submits.jsonl")
		env = append(env, mergeDeferEnv+"="+deferFile)
	}
	out := &prefixWriter{w: w.o.Out, mu: &w.outMu, prefix: "[" + a.Lease.IssueID + "] "}
	tail := &tailBuffer{max: w.o.TailBytes}
	sink := io.MultiWriter(out, tail)
	code, err := runShell(ctx, w.o.Exec, env, issueJSON, sink, w.o.KillGrace)
	what := "command"
	timedOut := false
	if err == nil && code == 0 && w.o.Gate != "" && ctx.Err() == nil {
		tail.Reset()
		what = "gate `" + w.o.Gate + "`"
		gctx, cancel := ctx, context.CancelFunc(func() {})
		if w.o.GateTimeout > 0 {
			gctx, cancel = context.WithTimeout(ctx, w.o.GateTimeout)
		}
		code, err = runShell(gctx, w.o.Gate, env, issueJSON, sink, w.o.KillGrace)
		// a gate that passed just as the bound ran out passed
		timedOut = gctx.Err() != nil && ctx.Err() == nil && (err != nil || code != 0)
		cancel()
	}
	out.Flush()
	res := jobResult{dur: time.Since(start)}
	switch {
	case ctx.Err() != nil:
		res.killed = true
		res.errMsg = "killed"
	case timedOut:
		res.errMsg = fmt.Sprintf("%s still running after --gate-timeout %v: killed", what, w.o.GateTimeout)
		if t := tail.String(); t != "" {
			res.errMsg += "; its output: " + t
		}
	case err != nil:
		res.errMsg = fmt.Sprintf("%s did not run: %v", what, err)
	case code != 0:
		res.errMsg = fmt.Sprintf("%s exited with status %d", what, code)
		if t := tail.String(); t != "" {
			res.errMsg += ": " + t
		}
	default:
		res.ok, res.summary = true, tail.String()
		if deferFile != "" {
			if res.merges, err = readDeferredSubmits(deferFile); err != nil {
				res.ok, res.errMsg = false, fmt.Sprintf("worker: read the command's merge submits: %v", err)
			}
		}
	}
	return res
}

// readDeferredSubmits reads the merge submits a command wrote to path (one JSON object a line; none
// when the file does not exist).
func readDeferredSubmits(path string) ([]rpc.MergeSubmitParams, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []rpc.MergeSubmitParams
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var p rpc.MergeSubmitParams
		if err := json.Unmarshal(line, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// lifelineWatch starts, before the script, a watcher in the command's process group that blocks
// reading fd 3 (the read end of a pipe whose write end only the worker holds) and, at EOF — the worker
// is gone, kill -9 included, without stopping the command — sends the group SIGTERM, then SIGKILL after
// %d seconds. It is started through a subshell that exits at once, so it is no child of the script's
// shell (a bare `wait` in the script does not wait for it); the worker kills it with the group when the
// command ends. Without it, a killed worker's agents ran on, and their late work (commits, merge
// submits) landed beside the rerun the coordinator gave another worker.
const lifelineWatch = "( ( trap '' TERM; while read -r _ <&3; do :; done; kill -TERM 0; sleep %d; kill -KILL 0 ) " +
	">/dev/null 2>&1 </dev/null & ); exec 3<&-\n"

// runShell runs script with sh -c in its own process group and returns its exit status (-1 when
// killed by a signal). When ctx ends the group gets SIGTERM, then SIGKILL after grace; when this
// process dies, the group's watcher does the same (lifelineWatch).
func runShell(ctx context.Context, script string, env []string, stdin []byte, out io.Writer, grace time.Duration) (int, error) {
	lr, lw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("lifeline pipe: %w", err)
	}
	defer lw.Close() // after the group is killed below: the watcher is gone by then
	cmd := exec.Command("sh", "-c", fmt.Sprintf(lifelineWatch, max(1, int(grace.Round(time.Second)/time.Second)))+script)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{lr} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = grace
	err = cmd.Start()
	lr.Close() // the child has its copy
	if err != nil {
		return 0, err
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case err = <-waited:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			err = <-waited
		}
		t.Stop()
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // leftovers of the group (background jobs of the command)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		return ee.ExitCode(), nil
	case errors.Is(err, exec.ErrWaitDelay):
		return cmd.ProcessState.ExitCode(), nil
	}
	return 0, err
}

// prefixWriter writes whole lines to w, each prefixed; the last partial line waits for Flush.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

// maxPartialLine bounds the unfinished line a prefixWriter holds (progress bars print \r, not \n).
const maxPartialLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > maxPartialLine {
		p.Flush()
	}
	return len(b), nil
}

// Flush writes the last partial line.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = io.WriteString(p.w, p.prefix)
	_, _ = p.w.Write(line)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max  int
	buf  []byte
	lost bool
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.lost = true
	}
	return len(b), nil
}

// Reset forgets what was written.
func (t *tailBuffer) Reset() { t.buf, t.lost = t.buf[:0], false }

// String is the kept tail, trimmed, marked with "…" when the start was cut.
func (t *tailBuffer) String() string {
	s := string(bytes.ToValidUTF8(bytes.TrimSpace(t.buf), nil))
	if t.lost && s != "" {
		s = "…" + s
	}
	return s
}
