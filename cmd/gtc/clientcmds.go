package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/mattn/go-runewidth"
	"github.com/urfave/cli/v2"
)

// withClient runs fn on a client-role connection named name and closes it afterwards.
func withClient(c *cli.Context, name string, fn func(cl *rpc.Client, t dialTarget) error) error {
	cl, _, err := openClient(c, name)
	if err != nil {
		return err
	}
	defer cl.Close()
	return fn(cl, targetOf(c))
}

// wantArgs returns the n positional arguments (flags after them are applied, see argsOf).
func wantArgs(c *cli.Context, n int, usage string) ([]string, error) {
	args, err := argsOf(c)
	if err != nil {
		return nil, err
	}
	if len(args) != n {
		return nil, usageError(fmt.Errorf("%s takes %d argument(s), got %d: usage: gtc %s", c.Command.Name, n, len(args), usage))
	}
	return args, nil
}

// commandPath is the command's name with its parents' ("issue create"; the app's root is left out).
func commandPath(c *cli.Context) string {
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" && x.Command.Name != c.App.Name {
			names = append([]string{x.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}

// argsOf returns the positional arguments and applies the flags that follow them (urfave/cli stops
// parsing flags at the first argument, so `gtc complete L-5 --summary S` would otherwise lose --summary).
// Call it once per command.
func argsOf(c *cli.Context) ([]string, error) {
	in := c.Args().Slice()
	var out []string
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			return append(out, in[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(c.Command.Flags, name)
		if f == nil {
			return nil, usageError(fmt.Errorf("flag provided but not defined: -%s (see gtc %s --help)", name, commandPath(c)))
		}
		if _, isBool := f.(*cli.BoolFlag); isBool && !hasVal {
			val, hasVal = "true", true
		}
		if !hasVal {
			if i+1 >= len(in) {
				return nil, usageError(fmt.Errorf("flag needs an argument: -%s", name))
			}
			i++
			val = in[i]
		}
		if err := c.Set(f.Names()[0], val); err != nil {
			return nil, usageError(fmt.Errorf("invalid value %q for flag -%s: %v", val, name, err))
		}
	}
	return out, nil
}

// lookupFlag finds a flag by any of its names.
func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func statusCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "status",
		Usage: "show how many issues are ready, leased, closed, dead-lettered and how many workers are busy",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "status [--json]"); err != nil {
				return err
			}
			cl, h, err := openClient(c, cliName)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := callCtx(c, 0)
			defer cancel()
			st, err := cl.CoordStatus(ctx)
			if err != nil {
				return remoteError(targetOf(c), "status", err)
			}
			// People count workers: CLI sessions (role client, like this one) are left out, in the table
			// and in --json alike.
			k, clients := st.Workers, 0
			if ws, err := cl.CoordWorkers(ctx); err == nil {
				k = rpc.WorkerCounts{}
				for _, x := range ws.Workers {
					if x.Role == "client" {
						// connected, and not a gtc command's own session (this one, or one that just ended
						// and whose disconnect the server has not seen yet)
						if x.Name != h.Worker && !isCommandSession(x.Name) && x.State != coord.WorkerGone {
							clients++
						}
						continue
					}
					countWorker(&k, x.State)
				}
			}
			st.Workers = k
			w := c.App.Writer
			if c.Bool("json") {
				return printJSON(w, st)
			}
			state := "assigning work"
			if st.Paused {
				state = "PAUSED: no work is handed out until `gtc resume`"
			}
			fmt.Fprintf(w, "gtc %s at %s: %s\n", h.Version, targetOf(c), state)
			if sy := st.Sync; sy != nil {
				switch {
				case sy.FailingSince != nil:
					fmt.Fprintf(w, "JSONL sync: FAILING since %s (%s); issues.jsonl is left as it is until a sync succeeds: %s\n",
						sy.FailingSince.Local().Format("15:04:05"), ago(time.Now(), *sy.FailingSince), sy.Error)
				case sy.LastOK != nil:
					fmt.Fprintf(w, "JSONL sync: ok, last %s\n", ago(time.Now(), *sy.LastOK))
				}
			}
			if si := st.Store; si != nil {
				switch {
				case si.FailingSince != nil:
					fmt.Fprintf(w, "STORAGE: FAILING since %s (%s): changes are refused or wait until it recovers (lease deadlines are held meanwhile): %s\n",
						si.FailingSince.Local().Format("15:04:05"), ago(time.Now(), *si.FailingSince), si.Error)
				case si.CommitStalledSince != nil:
					fmt.Fprintf(w, "STORAGE: a commit has been running since %s (%s): changes wait for it (lease deadlines are held meanwhile); a frozen or hung disk? from 10s: unhealthy, CLI sessions read-only\n",
						si.CommitStalledSince.Local().Format("15:04:05"), ago(time.Now(), *si.CommitStalledSince))
				}
				fmt.Fprintf(w, "store: %s\n", storeLine(si, time.Now()))
			}
			fmt.Fprintln(w)
			// BLOCKED BY DEPS is readiness (open issues waiting on others), not the status `blocked`; OTHER is the
			// rest of TOTAL (deferred, in backoff, not schedulable types, waiting in another status).
			t := newTable(w, "ISSUES", "READY", "LEASED", "CLOSED", "DEAD-LETTERED", "BLOCKED BY DEPS", "OTHER", "TOTAL")
			i := st.Issues
			t.Append([]string{"", itoa(i.Ready), itoa(i.Leased), itoa(i.Closed), itoa(i.DeadLettered), itoa(i.Blocked), itoa(i.Other), itoa(i.Total)})
			t.Render()
			if i.ReadyForAbsent > 0 {
				// ready, but only for their assignee, who is away: no other worker takes them (CLI trial)
				fmt.Fprintf(w, "(%d of the ready issues are assigned to workers not connected, and go to no one else: see the FOR column of `gtc ready`)\n", i.ReadyForAbsent)
			}
			fmt.Fprintln(w)
			t = newTable(w, "WORKERS", "IDLE", "BUSY", "DRAINING", "STALLED", "GONE")
			t.Append([]string{"", itoa(k.Idle), itoa(k.Busy), itoa(k.Draining), itoa(k.Stalled), itoa(k.Gone)})
			t.Render()
			if clients > 0 {
				fmt.Fprintf(w, "\n(%d connected CLI session(s) not counted; see `gtc workers`)\n", clients)
			}
			return nil
		},
	})
}

// countWorker adds one worker in state st to k.
func countWorker(k *rpc.WorkerCounts, st string) {
	switch st {
	case coord.WorkerIdle:
		k.Idle++
	case coord.WorkerBusy:
		k.Busy++
	case coord.WorkerDraining:
		k.Draining++
	case coord.WorkerStalled:
		k.Stalled++
	case coord.WorkerGone:
		k.Gone++
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// shortDuration is d as a flag would give it: 720h, 1h30m, 90s (not 720h0m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// storeLine says how big gtc.db is and how long it keeps its history, for gtc status.
func storeLine(si *rpc.StoreInfo, now time.Time) string {
	line := fmt.Sprintf("%s %.1f MB (WAL %.1f MB); ", si.Path, float64(si.Bytes)/1e6, float64(si.WALBytes)/1e6)
	if si.RetainMS <= 0 {
		return line + "history kept for good (--retain 0)"
	}
	line += "history kept " + shortDuration(time.Duration(si.RetainMS)*time.Millisecond)
	switch {
	case si.PruneError != "":
		line += ", pruning FAILS: " + si.PruneError
	case si.LastPrune == nil:
		line += ", not pruned since the start yet"
	default:
		line += ", pruned " + ago(now, *si.LastPrune)
	}
	if p := si.Pruned; p != nil && p.Events+p.Leases+p.MergeRequests > 0 {
		line += fmt.Sprintf(" (since the start: %d events, %d leases, %d merge requests)", p.Events, p.Leases, p.MergeRequests)
	}
	return line
}

func readyCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "ready",
		Usage: "list ready issues in the order gtc would assign them",
		Flags: clientFlags(&cli.IntFlag{Name: "limit", Aliases: []string{"n"}, Value: defaultListLimit, Usage: "show at most N issues (0: all)"}),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "ready [--limit N] [--json]"); err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return usageError(errors.New("--limit must not be negative"))
			}
			// FOR: an issue with an assignee goes to that worker only (CLI trial: nothing in the list said
			// why a #1 issue stayed unassigned beside idle workers). The table is printed a page at a time.
			var tb *pagedTable
			if !c.Bool("json") {
				tb = &pagedTable{w: c.App.Writer, header: []string{"#", "ID", "PRI", "TYPE", "FOR", "TITLE", "LABELS"}}
			}
			reserved, n := 0, 0
			return request(c, "ready", func(ctx context.Context, cl *rpc.Client) (*rpc.IssueListResult, error) {
				return listPages(c.Int("limit"), func(offset, limit int) (*rpc.IssueListResult, error) {
					r, err := cl.IssueReady(ctx, rpc.IssueReadyParams{Limit: limit, Offset: offset})
					if err == nil && tb != nil {
						rows := make([][]string, 0, len(r.Issues))
						for _, raw := range r.Issues {
							v := viewOf(raw)
							if v.Assignee != "" {
								reserved++
							}
							n++
							rows = append(rows, []string{itoa(n), v.ID, v.priority(), orDash(v.IssueType), forWorker(v.Assignee),
								truncate(v.Title, 60), orDash(strings.Join(v.Labels, ","))})
						}
						tb.page(rows)
					}
					return r, err
				})
			}, func(r *rpc.IssueListResult) error {
				defer noteMore(c, r, "ready issues")
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				if len(r.Issues) == 0 {
					fmt.Fprintln(c.App.Writer, "nothing is ready (see `gtc status` for leased and blocked issues)")
					return nil
				}
				if reserved > 0 {
					fmt.Fprintf(c.App.ErrWriter, "(%d of these go only to the worker in FOR, their assignee; `gtc issue update ID --assignee \"\"` frees one)\n", reserved)
				}
				return nil
			})
		},
	})
}

func workersCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "workers",
		Usage: "list the workers the coordinator knows, with their state and live leases",
		Flags: clientFlags(&cli.BoolFlag{Name: "all", Usage: "also the CLI sessions that are gone and hold no lease (hidden by default)"}),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "workers [--all] [--json]"); err != nil {
				return err
			}
			return request(c, "workers", func(ctx context.Context, cl *rpc.Client) (*rpc.WorkersResult, error) {
				return cl.CoordWorkers(ctx)
			}, func(r *rpc.WorkersResult) error {
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				if len(r.Workers) == 0 {
					fmt.Fprintln(c.App.Writer, "no workers yet: start one with `gtc worker --exec CMD`")
					return nil
				}
				// LAST SEEN before the leases, whose list makes rows long; names in natural order
				// (agent-2 before agent-10)
				tb := newTable(c.App.Writer, "NAME", "ROLE", "STATE", "CAP", "LAST SEEN", "LEASES")
				now := time.Now()
				hidden := 0
				slices.SortStableFunc(r.Workers, func(a, b rpc.WorkerInfo) int { return naturalCompare(a.Name, b.Name) })
				for _, w := range r.Workers {
					if w.Role == "client" && w.State == coord.WorkerGone && len(w.Leases) == 0 && !c.Bool("all") {
						hidden++ // one per CLI name that ever ran a command: they pile up
						continue
					}
					var ls []string
					for _, l := range w.Leases {
						ls = append(ls, fmt.Sprintf("%s %s %s", l.ID, l.IssueID, l.State))
					}
					state := w.State
					if w.Draining && state != coord.WorkerDraining {
						state += " (drained)"
					}
					tb.Append([]string{w.Name, w.Role, state, itoa(w.Capacity), ago(now, w.LastSeen), orDash(strings.Join(ls, ", "))})
				}
				tb.Render()
				if hidden > 0 {
					fmt.Fprintf(c.App.Writer, "(%d gone CLI session(s) without leases not shown; --all shows them)\n", hidden)
				}
				return nil
			})
		},
	})
}

// ago renders how long ago t was, for people.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}

// filtersOf builds the filters of --label, --convoy and --convoy-only (and the given types); nil when
// none is set.
func filtersOf(c *cli.Context, types []string) (*coord.Filters, error) {
	f := coord.Filters{Labels: c.StringSlice("label"), Types: types, Convoy: c.String("convoy"), ConvoyOnly: c.Bool("convoy-only")}
	if f.ConvoyOnly && f.Convoy == "" {
		return nil, usageError(errors.New("--convoy-only goes with --convoy NAME"))
	}
	if len(f.Labels) == 0 && len(f.Types) == 0 && f.Convoy == "" {
		return nil, nil
	}
	return &f, nil
}

func claimCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "claim",
		Usage: "take the best ready issue yourself: prints its lease id and epoch (finish with complete/fail/release)",
		Flags: clientFlags(
			&cli.StringFlag{Name: "as", EnvVars: []string{"GTC_NAME"}, Usage: "name to hold the lease under (default cli-$USER)"},
			&cli.DurationFlag{Name: "wait", Usage: "wait this long for an issue to become ready (e.g. 30s)"},
			&cli.StringSliceFlag{Name: "label", Usage: "only issues with this label (repeatable: issues with all of them)"},
			&cli.StringFlag{Name: "convoy", Usage: "convoy-first: this convoy's ready issues before any other"},
			&cli.BoolFlag{Name: "convoy-only", Usage: "with --convoy: only the convoy's issues"},
		),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "claim [--as NAME] [--wait D] [--label L] [--convoy NAME [--convoy-only]] [--json]"); err != nil {
				return err
			}
			if c.Duration("wait") < 0 {
				return usageError(errors.New("--wait must not be negative"))
			}
			name := c.String("as")
			if name == "" {
				name = defaultClaimName()
			}
			cl, hello, err := openClient(c, name)
			if err != nil {
				return err
			}
			defer cl.Close()
			t := targetOf(c)
			return func() error {
				p := rpc.ClaimParams{WaitMS: c.Duration("wait").Milliseconds()}
				if p.Filters, err = filtersOf(c, nil); err != nil {
					return err
				}
				if name := c.String("convoy"); name != "" {
					// a one-off claim names a convoy that exists (a typo would claim other work)
					ctx, cancel := callCtx(c, 0)
					_, err := cl.ConvoyShow(ctx, rpc.ConvoyShowParams{Name: name})
					cancel()
					if coord.ErrorCode(err) == coord.ENotFound {
						return refused("no convoy %q: see `gtc convoy list`", name)
					} else if err != nil {
						return remoteError(t, "convoy "+name, err)
					}
				}
				// Long waits go as a series of claims of at most a minute each, so the connection is never
				// silent for the server's idle timeout.
				var (
					r   *rpc.ClaimResult
					err error
				)
				for left := c.Duration("wait"); ; {
					chunk := min(left, time.Minute)
					p.WaitMS = chunk.Milliseconds()
					ctx, cancel := callCtx(c, chunk)
					r, err = cl.Claim(ctx, p)
					cancel()
					if err != nil {
						return remoteError(t, "claim", err)
					}
					if left -= chunk; r.Assignment != nil || left <= 0 {
						break
					}
				}
				w := c.App.Writer
				if c.Bool("json") {
					if err := printJSON(w, struct {
						Worker     string          `json:"worker"`
						Assignment *rpc.Assignment `json:"assignment"`
					}{name, r.Assignment}); err != nil {
						return err
					}
				}
				if r.Assignment == nil {
					if ls := c.StringSlice("label"); len(ls) > 0 || c.Bool("convoy-only") {
						// the filters may be why (CLI trial: a typo'd label read as an empty queue)
						what := "with label " + strings.Join(ls, " and ")
						if len(ls) == 0 {
							what = "in convoy " + c.String("convoy")
						}
						return fmt.Errorf("nothing ready %s to claim (waited %s): check the filter against `gtc ready`, wait longer with --wait, or add work with `gtc issue create`",
							what, c.Duration("wait"))
					}
					return fmt.Errorf("nothing ready to claim (waited %s): wait longer with --wait, or add work with `gtc issue create`", c.Duration("wait"))
				}
				if c.Bool("json") {
					return nil
				}
				a := r.Assignment
				v := viewOf(a.Issue)
				fmt.Fprintf(w, "claimed %s %q as %s: lease %s epoch %d (attempt %d)\n", a.Lease.IssueID, v.Title, name, a.Lease.ID, a.Lease.Epoch, a.Lease.Attempt)
				if a.Prompt != "" {
					fmt.Fprintf(w, "\n%s\n\n", printable(strings.TrimSpace(a.Prompt), true))
				}
				fmt.Fprintf(w, "finish with `gtc complete %s`, `gtc fail %s --reason R` or `gtc release %s`.\n", a.Lease.ID, a.Lease.ID, a.Lease.ID)
				fmt.Fprintf(w, "the lease is kept for the coordinator's --grace (%s) after each gtc command as %s; `gtc heartbeat %s` renews it.\n",
					time.Duration(hello.GraceMS)*time.Millisecond, name, a.Lease.ID)
				return nil
			}()
		},
	})
}

// leaseRef is a live lease found by lease or issue id.
type leaseRef struct {
	Lease     coord.Lease
	Found     bool
	Connected bool // its holder is a connected worker (not a CLI session)
}

// findLease looks up the live lease named by arg (a lease id like L-17, or an issue id) with coord.workers.
func findLease(ctx context.Context, cl *rpc.Client, arg string) (leaseRef, error) {
	r, err := cl.CoordWorkers(ctx)
	if err != nil {
		return leaseRef{}, err
	}
	for _, w := range r.Workers {
		for _, l := range w.Leases {
			if l.ID == arg || l.IssueID == arg {
				// A client-role holder is a person's CLI session (e.g. `gtc claim` that just exited, whose
				// disconnect may not be processed yet): acting in its name is what the next command is for.
				return leaseRef{Lease: l, Found: true, Connected: w.State != coord.WorkerGone && w.Role != "client"}, nil
			}
		}
	}
	return leaseRef{}, nil
}

// leaseEpochOf parses the epoch out of a lease id (L-17 → 17).
func leaseEpochOf(id string) (int64, bool) {
	if !strings.HasPrefix(id, "L-") {
		return 0, false
	}
	n, err := strconv.ParseInt(id[2:], 10, 64)
	return n, err == nil
}

// leaseFlags are the flags of the commands that act on a lease.
func leaseFlags(own ...cli.Flag) []cli.Flag {
	return clientFlags(append([]cli.Flag{
		&cli.StringFlag{Name: "as", EnvVars: []string{"GTC_NAME"}, Usage: "act as this holder (default: the lease's holder)"},
		&cli.Int64Flag{Name: "epoch", Usage: "the lease epoch (default: the live lease's)"},
		&cli.BoolFlag{Name: "force", Usage: "a holder that is connected: release takes the lease back from it (as gtc cancel); complete, fail and heartbeat are refused (it reports its own result)"},
	}, own...)...)
}

// leaseAction resolves the lease named by the argument, connects as its holder and runs do.
func leaseAction(c *cli.Context, arg string, do func(ctx context.Context, cl *rpc.Client, l coord.Lease) (any, string, error)) error {
	t := targetOf(c)
	cl, _, err := openClient(c, cliName)
	if err != nil {
		return err
	}
	ctx, cancel := callCtx(c, 0)
	defer cancel()
	ref, err := findLease(ctx, cl, arg)
	var status string // the issue's, when arg names one without a live lease
	if err == nil && !ref.Found {
		if r, gerr := cl.IssueGet(ctx, rpc.IssueGetParams{ID: arg}); gerr == nil {
			status = viewOf(r.Issue).Status
		}
	}
	cl.Close()
	if err != nil {
		return remoteError(t, "look up "+arg, err)
	}
	l := ref.Lease
	if !ref.Found {
		n, ok := leaseEpochOf(arg)
		switch {
		case !ok && (status == "closed" || status == "tombstone"):
			return refused("issue %s is %s and has no live lease: nothing to report", arg, status)
		case !ok:
			return refused("issue %s has no live lease: see `gtc workers` (close an unleased issue with `gtc issue close %s`)", arg, arg)
		}
		l = coord.Lease{ID: arg, Epoch: n}
	}
	name := c.String("as")
	if name == "" {
		name = l.Worker
	}
	if name == "" {
		name = defaultClaimName()
	}
	if ref.Found && ref.Connected && name == l.Worker {
		// one connection per worker name: nobody can act in a connected worker's name
		if !c.Bool("force") || c.Command.Name != "release" {
			return refused("lease %s (%s) is held by %q, which is connected and reports its own result: take it back with `gtc cancel %s` (or `gtc release %s --force`)", l.ID, l.IssueID, l.Worker, l.ID, l.ID)
		}
		return forceRelease(c, l)
	}
	if c.IsSet("epoch") {
		l.Epoch = c.Int64("epoch")
	}
	hcl, _, err := openClient(c, name)
	if err != nil {
		return err
	}
	defer hcl.Close()
	res, human, err := do(ctx, hcl, l)
	if err != nil {
		return remoteError(t, c.Command.Name+" "+l.ID, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintln(c.App.Writer, human)
	return nil
}

// forceRelease takes a lease back from its connected holder (release --force): an operator's cancel,
// which tells the holder to stop and makes the issue ready again with no attempt counted.
func forceRelease(c *cli.Context, l coord.Lease) error {
	return withClient(c, cliUserName(), func(cl *rpc.Client, t dialTarget) error {
		ctx, cancel := callCtx(c, 0)
		defer cancel()
		reason := c.String("reason")
		if reason == "" {
			reason = "released by an operator (--force)"
		}
		r, err := cl.LeaseCancel(ctx, rpc.LeaseCancelParams{LeaseID: l.ID, Reason: reason})
		if err != nil {
			return remoteError(t, "release "+l.ID, err)
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, leaseResult{LeaseID: r.LeaseID, Epoch: l.Epoch, IssueID: l.IssueID, Status: "open", Outcome: "cancelled"})
		}
		fmt.Fprintf(c.App.Writer, "took lease %s (%s) back from %s: it was told to stop; the issue is ready again\n", l.ID, l.IssueID, l.Worker)
		return nil
	})
}

// leaseResult is the JSON answer of complete, fail, release and heartbeat.
type leaseResult struct {
	LeaseID      string     `json:"lease_id"`
	Epoch        int64      `json:"epoch"`
	IssueID      string     `json:"issue_id,omitempty"`
	Status       string     `json:"status,omitempty"`
	Outcome      string     `json:"outcome,omitempty"`
	Attempt      int        `json:"attempt,omitempty"`
	DeadLettered bool       `json:"dead_lettered,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
}

func completeCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "complete",
		Usage:     "report a lease done (by lease id or issue id); success closes the issue",
		ArgsUsage: "LEASE_OR_ISSUE_ID",
		Flags: leaseFlags(
			&cli.StringFlag{Name: "outcome", Value: coord.OutcomeSuccess, Usage: "success, code_complete, failure, partial or context_overflow"},
			&cli.StringFlag{Name: "summary", Usage: "what was done"},
			&cli.StringFlag{Name: "commit", Usage: "git commit of the work"},
		),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "complete LEASE_OR_ISSUE_ID [--outcome success] [--summary S]")
			if err != nil {
				return err
			}
			switch c.String("outcome") {
			case coord.OutcomeSuccess, coord.OutcomeCodeComplete, coord.OutcomeFailure, coord.OutcomePartial, coord.OutcomeContextOverflow:
			default:
				return usageError(fmt.Errorf("--outcome %q: want success, code_complete, failure, partial or context_overflow", c.String("outcome")))
			}
			return leaseAction(c, args[0], func(ctx context.Context, cl *rpc.Client, l coord.Lease) (any, string, error) {
				r, err := cl.Complete(ctx, rpc.CompleteParams{LeaseID: l.ID, Epoch: l.Epoch, SessionResult: rpc.SessionResult{
					Outcome: c.String("outcome"), Summary: c.String("summary"), GitCommit: c.String("commit")}})
				if err != nil {
					return nil, "", err
				}
				return leaseResult{LeaseID: l.ID, Epoch: l.Epoch, IssueID: r.IssueID, Status: r.Status, Outcome: r.Outcome},
					fmt.Sprintf("completed %s (lease %s, %s): issue is now %s", r.IssueID, l.ID, r.Outcome, r.Status), nil
			})
		},
	})
}

func failCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "fail",
		Usage:     "report a lease failed (by lease id or issue id): a failed attempt, retried after a backoff",
		ArgsUsage: "LEASE_OR_ISSUE_ID",
		Flags:     leaseFlags(&cli.StringFlag{Name: "reason", Usage: "what went wrong (required)"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "fail LEASE_OR_ISSUE_ID --reason R")
			if err != nil {
				return err
			}
			if c.String("reason") == "" {
				return usageError(errors.New("fail needs --reason R: say what went wrong (it is kept with the attempt)"))
			}
			return leaseAction(c, args[0], func(ctx context.Context, cl *rpc.Client, l coord.Lease) (any, string, error) {
				r, err := cl.Fail(ctx, rpc.FailParams{LeaseID: l.ID, Epoch: l.Epoch, Error: c.String("reason")})
				if err != nil {
					return nil, "", err
				}
				human := fmt.Sprintf("failed %s (lease %s, attempt %d): issue is now %s", r.IssueID, l.ID, r.Attempt, r.Status)
				if r.DeadLettered {
					human += " (dead-lettered: out of attempts)"
				}
				return leaseResult{LeaseID: l.ID, Epoch: l.Epoch, IssueID: r.IssueID, Status: r.Status, Attempt: r.Attempt, DeadLettered: r.DeadLettered}, human, nil
			})
		},
	})
}

func releaseCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "release",
		Usage:     "give a lease back without penalty (by lease id or issue id): the issue is ready again",
		ArgsUsage: "LEASE_OR_ISSUE_ID",
		Flags:     leaseFlags(&cli.StringFlag{Name: "reason", Usage: "why"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "release LEASE_OR_ISSUE_ID [--reason R]")
			if err != nil {
				return err
			}
			return leaseAction(c, args[0], func(ctx context.Context, cl *rpc.Client, l coord.Lease) (any, string, error) {
				r, err := cl.Release(ctx, rpc.ReleaseParams{LeaseID: l.ID, Epoch: l.Epoch, Reason: c.String("reason")})
				if err != nil {
					return nil, "", err
				}
				return leaseResult{LeaseID: l.ID, Epoch: l.Epoch, IssueID: r.IssueID, Status: r.Status},
					fmt.Sprintf("released %s (lease %s): issue is now %s", r.IssueID, l.ID, r.Status), nil
			})
		},
	})
}

func heartbeatCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "heartbeat",
		Usage:     "renew a lease you claimed (by lease id or issue id)",
		ArgsUsage: "LEASE_OR_ISSUE_ID",
		Flags:     leaseFlags(&cli.StringFlag{Name: "progress", Usage: "free text shown with the lease"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "heartbeat LEASE_OR_ISSUE_ID [--progress P]")
			if err != nil {
				return err
			}
			return leaseAction(c, args[0], func(ctx context.Context, cl *rpc.Client, l coord.Lease) (any, string, error) {
				r, err := cl.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: l.ID, Epoch: l.Epoch, Progress: c.String("progress")})
				if err != nil {
					return nil, "", err
				}
				return leaseResult{LeaseID: l.ID, Epoch: l.Epoch, IssueID: l.IssueID, Deadline: &r.Deadline},
					fmt.Sprintf("renewed lease %s until %s", l.ID, r.Deadline.Local().Format(time.RFC3339)), nil
			})
		},
	})
}

func pauseCommand() *cli.Command {
	return pauseResume("pause", "stop handing out work (running leases go on)", (*rpc.Client).CoordPause,
		"paused: no work is handed out until `gtc resume`")
}

func resumeCommand() *cli.Command {
	return pauseResume("resume", "hand out work again after `gtc pause`", (*rpc.Client).CoordResume,
		"resumed: work is handed out again")
}

func pauseResume(name, usage string, call func(*rpc.Client, context.Context, rpc.PauseParams) (*rpc.PauseResult, error), human string) *cli.Command {
	return usageOnError(&cli.Command{
		Name:  name,
		Usage: usage,
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, name+" [--json]"); err != nil {
				return err
			}
			// the user's session: the audit log names it as who paused or resumed
			return withClient(c, cliUserName(), func(cl *rpc.Client, t dialTarget) error {
				ctx, cancel := callCtx(c, 0)
				defer cancel()
				r, err := call(cl, ctx, rpc.PauseParams{})
				if err != nil {
					return remoteError(t, name, err)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				fmt.Fprintln(c.App.Writer, human)
				return nil
			})
		},
	})
}

func watchCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "watch",
		Usage: "print the coordinator's events live until Ctrl-C, reconnecting across restarts (--json: one JSON object per line)",
		Flags: clientFlags(
			&cli.StringSliceFlag{Name: "kind", Usage: "only events of this kind (repeatable): assigned, acked, completed, failed, requeued, ..."},
			&cli.IntFlag{Name: "count", Usage: "exit after this many events (0: never)"},
		),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "watch [--kind K] [--count N] [--json]"); err != nil {
				return err
			}
			if c.Int("count") < 0 {
				return usageError(errors.New("--count must not be negative"))
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return watch(ctx, c, c.App.Writer)
		},
	})
}

// eventsCommand is `gtc events`: the audit log so far, oldest first (watch is live only).
func eventsCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "events",
		Usage: "print the coordinator's past events, oldest first (--issue: one issue's history: assigned, completed, failed, merged, ...)",
		Flags: clientFlags(
			&cli.StringFlag{Name: "issue", Usage: "only the events of this issue"},
			&cli.Int64Flag{Name: "after", Usage: "only events after this sequence number"},
			&cli.IntFlag{Name: "limit", Value: 200, Usage: "at most this many events (0: all)"},
		),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "events [--issue ID] [--after SEQ] [--limit N] [--json]"); err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return usageError(errors.New("--limit must not be negative"))
			}
			return withClient(c, cliName, func(cl *rpc.Client, t dialTarget) error {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetEscapeHTML(false)
				after, left := c.Int64("after"), c.Int("limit")
				if left == 0 {
					left = math.MaxInt // all of them, as issue list --limit 0
				}
				header, printed, more := !c.Bool("json"), 0, false
				cols := newEventCols()
				if id := c.String("issue"); id != "" {
					// an issue that does not exist is an error, as for gtc issue show (its history may
					// have been pruned, the issue remains)
					ctx, cancel := callCtx(c, 0)
					_, err := cl.IssueGet(ctx, rpc.IssueGetParams{ID: id})
					cancel()
					if err != nil {
						return remoteError(t, "events of "+id, err)
					}
				}
				for left > 0 {
					ctx, cancel := callCtx(c, 0)
					r, err := cl.EventsList(ctx, rpc.EventsListParams{AfterSeq: after, Limit: min(left, 1000), IssueID: c.String("issue")})
					cancel()
					if err != nil {
						return remoteError(t, "events", err)
					}
					if header && len(r.Events) > 0 {
						header = false
						for _, ev := range r.Events { // the first page sets the widths the header shows
							cols.fit(ev)
						}
						cols.header = func() {
							fmt.Fprintf(c.App.Writer, "%6s  %-23s  %-*s %-*s %-*s %-*s %s\n", "SEQ", "TIME", cols.kind, "KIND", cols.issue, "ISSUE",
								cols.lease, "LEASE", cols.worker, "WORKER", "DETAIL")
						}
						cols.header()
					}
					for _, ev := range r.Events {
						if err := printEvent(c, c.App.Writer, enc, cols, ev, fmt.Sprintf("%6d  ", ev.Seq), "2006-01-02 15:04:05.000"); err != nil {
							return err
						}
					}
					left -= len(r.Events)
					printed += len(r.Events)
					after, more = r.NextSeq, r.More
					if !r.More {
						break
					}
				}
				if more { // the limit cut the log: say where the rest is (stderr: the output stays the events)
					issue := ""
					if id := c.String("issue"); id != "" {
						issue = "--issue " + id + " "
					}
					fmt.Fprintf(c.App.ErrWriter, "(%d events shown, oldest first; more follow: gtc events %s--after %d, or gtc watch for the live ones)\n", printed, issue, after)
				}
				if header { // nothing printed: say so (stderr: the output stays empty for scripts)
					fmt.Fprintln(c.App.ErrWriter, "no events")
				}
				return nil
			})
		},
	})
}

// eventCols are the widths of an event table's issue, lease and worker columns, in terminal columns
// (a CJK character or an emoji takes two): they start at what short ids need and widen, for good, to
// the widest value seen, so that columns stay aligned once a long id (a workspace prefix of ten
// letters) has appeared. header, if set, prints the column header again after a widening (gtc events:
// the rows below it no longer line up with the first one).
type eventCols struct {
	kind, issue, lease, worker int
	header                     func()
}

func newEventCols() *eventCols {
	k := &eventCols{issue: 12, lease: 8, worker: 12}
	for _, ek := range rpc.EventKinds {
		k.kind = max(k.kind, len(ek.Kind))
	}
	return k
}

// fit widens the columns to ev's values and says whether any widened.
func (k *eventCols) fit(ev coord.Event) bool {
	was := *k
	k.kind = max(k.kind, runewidth.StringWidth(ev.Kind)) // a newer server's kind
	k.issue = max(k.issue, runewidth.StringWidth(printable(ev.IssueID, false)))
	k.lease = max(k.lease, runewidth.StringWidth(ev.LeaseID))
	k.worker = max(k.worker, runewidth.StringWidth(printable(ev.Worker, false)))
	return k.kind != was.kind || k.issue != was.issue || k.lease != was.lease || k.worker != was.worker
}

// padCols pads s with spaces to w terminal columns.
func padCols(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-runewidth.StringWidth(s)))
}

// printEvent prints one event: as JSON with --json (enc, onto w), else a line on w starting with prefix
// and its time in layout, its columns cols wide (widened to fit it).
func printEvent(c *cli.Context, w io.Writer, enc *json.Encoder, cols *eventCols, ev coord.Event, prefix, layout string) error {
	if c.Bool("json") {
		return enc.Encode(ev)
	}
	detail := ev.Detail
	if ev.Actor != "" && ev.Actor != "gtc" { // a person's or the file's change (status_changed, an operator's)
		detail = strings.TrimSpace(detail + " (by " + ev.Actor + ")")
	}
	if cols.fit(ev) && cols.header != nil {
		cols.header()
	}
	line := fmt.Sprintf("%s%s  %s %s %s %s %s", prefix, ev.Time.Local().Format(layout), padCols(ev.Kind, cols.kind),
		padCols(orDash(printable(ev.IssueID, false)), cols.issue), padCols(orDash(ev.LeaseID), cols.lease),
		padCols(orDash(printable(ev.Worker, false)), cols.worker), tableText(detail))
	_, err := fmt.Fprintln(w, strings.TrimRight(line, " ")) // no trailing blanks on a row without detail
	return err
}

// tableText keeps a free-text field (an event's detail: a gate's output tail, an agent's summary) on its
// table row: line breaks and other control characters become " ⏎ " and spaces.
func tableText(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\n' {
			return ' '
		}
		return r
	}, strings.ReplaceAll(s, "\n", " ⏎ "))
}

// watch subscribes and prints events until ctx ends, --count is reached or the server goes away.
func watch(ctx context.Context, c *cli.Context, w io.Writer) error {
	t := targetOf(c)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	ws := watchState{left: c.Int("count")} // left 0: never stop
	lastErr := ""
	for first := true; ; first = false {
		cl, events, seq, err := watchConnect(ctx, c, t)
		if err != nil {
			if first || ctx.Err() != nil {
				return err
			}
			if c := coord.ErrorCode(err); c == coord.EUnauthorized || c == coord.EInvalid {
				// the coordinator came back with another token, or refuses the subscription: that
				// does not fix itself
				return err
			}
			// the coordinator is restarting (or gone for now): try again until it is back or Ctrl-C,
			// saying why when that changes
			if msg := oneLine(err); msg != lastErr {
				lastErr = msg
				fmt.Fprintf(c.App.ErrWriter, "%s; retrying every %s\n", msg, watchRetry)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(watchRetry):
			}
			continue
		}
		lastErr = ""
		if first && !c.Bool("json") {
			fmt.Fprintf(c.App.ErrWriter, "watching %s (Ctrl-C to stop)\n", t)
		} else if !first {
			fmt.Fprintf(c.App.ErrWriter, "reconnected to %s at %s\n", t, time.Now().Format("15:04:05"))
			if done, err := watchCatchUp(ctx, c, w, enc, t, &ws); done || err != nil {
				cl.Close()
				return err
			}
		}
		if !ws.began {
			ws.from, ws.began = seq, true
		}
		gone, err := watchSession(ctx, c, w, enc, cl, events, &ws)
		cl.Close()
		if !gone {
			return err
		}
		// the server also drops a watch whose output is not read fast enough (its queue filled): the
		// catch-up after the reconnect prints what was missed either way
		fmt.Fprintf(c.App.ErrWriter, "the connection to the coordinator at %s ended at %s (it stopped, or it dropped this watch for not reading its events fast enough); reconnecting, the missed events follow (Ctrl-C to stop)\n", t, time.Now().Format("15:04:05"))
	}
}

// watchConnect opens a client session subscribed to the events watch prints; they arrive on the channel,
// after the audit log's event number seq.
func watchConnect(ctx context.Context, c *cli.Context, t dialTarget) (cl *rpc.Client, events <-chan coord.Event, seq int64, err error) {
	ch := make(chan coord.Event, 256)
	cl, _, err = connect(ctx, t, rpc.HelloParams{Name: cliName, Role: "client"}, func(cl *rpc.Client) {
		cl.OnEvent(func(ev coord.Event) {
			select {
			case ch <- ev:
			case <-cl.Done():
			}
		})
	})
	if err != nil {
		return nil, nil, 0, err
	}
	events = ch
	sctx, cancel := callCtx(c, 0)
	r, err := cl.EventsSubscribe(sctx, rpc.SubscribeParams{Kinds: c.StringSlice("kind")})
	cancel()
	if err != nil {
		cl.Close()
		return nil, nil, 0, remoteError(t, "subscribe", err)
	}
	return cl, events, r.Seq, nil
}

// watchState is what a watch carries across its sessions.
type watchState struct {
	cols  *eventCols
	left  int   // events still to print for --count (0: no bound)
	last  int64 // the audit-log number of the last event printed (0: none yet)
	from  int64 // the number the first subscription's live events followed (events.subscribe's seq)
	began bool  // a subscription began: from holds
}

// show prints one event unless it was printed already (a live event the catch-up listed); done reports
// that --count is reached (or printing failed).
func (ws *watchState) show(c *cli.Context, w io.Writer, enc *json.Encoder, ev coord.Event) (done bool, err error) {
	if ev.Seq != 0 && ev.Seq <= ws.last {
		return false, nil
	}
	if ws.cols == nil {
		ws.cols = newEventCols()
	}
	if err := printEvent(c, w, enc, ws.cols, ev, "", "15:04:05.000"); err != nil {
		return true, err
	}
	ws.last = max(ws.last, ev.Seq)
	if ws.left > 0 {
		ws.left--
		return ws.left == 0, nil
	}
	return false, nil
}

// watchRetry is how often a watch tries to reconnect while the coordinator is away (a variable for tests).
var watchRetry = time.Second

// watchCatchUpMax bounds the events a reconnected watch reads back from the audit log.
const watchCatchUpMax = 10_000

// watchCatchUp prints, after a reconnect, the events of the watched kinds the audit log holds after the
// last one printed (or the first session's start): those committed while the watch was away, so a
// restart loses none. The live ones
// of the new subscription that the log lists too are skipped by show. It reads on a connection of its
// own: the subscription's may block on events not read yet.
func watchCatchUp(ctx context.Context, c *cli.Context, w io.Writer, enc *json.Encoder, t dialTarget, ws *watchState) (done bool, err error) {
	// from the last event printed or, if later (a --kind none of whose events came yet), where the first
	// session's live events began: the ones before were never the watch's to print
	ws.last = max(ws.last, ws.from)
	kinds := c.StringSlice("kind")
	from := ws.last
	gaps := seqGaps{next: from + 1}
	cl, _, err := connect(ctx, t, rpc.HelloParams{Name: cliName, Role: "client"})
	if err == nil {
		defer cl.Close()
		for read := 0; read < watchCatchUpMax; {
			lctx, cancel := callCtx(c, 0)
			page, lerr := cl.EventsList(lctx, rpc.EventsListParams{AfterSeq: ws.last, Limit: 1000})
			cancel()
			if err = lerr; err != nil {
				break
			}
			for _, ev := range page.Events {
				if lo, hi, gap := gaps.see(ev.Seq); gap {
					fmt.Fprintf(c.App.ErrWriter, "events %d to %d were pruned from the audit log (gtc serve --retain) before the watch was back: not shown\n", lo, hi)
				}
				if len(kinds) > 0 && !slices.Contains(kinds, ev.Kind) {
					ws.last = max(ws.last, ev.Seq)
					continue
				}
				if done, err := ws.show(c, w, enc, ev); done {
					return true, err
				}
			}
			read += len(page.Events)
			if !page.More {
				return false, nil
			}
		}
	}
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "could not read the events after %d back (%s): see gtc events --after %d\n", from, oneLine(err), ws.last)
	} else {
		fmt.Fprintf(c.App.ErrWriter, "more than %d events since %d: the rest with gtc events --after %d\n", watchCatchUpMax, from, ws.last)
	}
	return false, nil
}

// seqGaps finds the numbers missing from a read of the audit log, which is numbered without gaps: the
// events the retention deleted.
type seqGaps struct{ next int64 } // the seq the next event read should have

// see takes the next event's seq and returns the range missing before it, if any.
func (g *seqGaps) see(seq int64) (lo, hi int64, gap bool) {
	lo, hi, gap = g.next, seq-1, seq > g.next
	g.next = max(g.next, seq+1)
	return lo, hi, gap
}

// watchSession prints the events of one session until ctx ends, --count is reached, or the connection
// closes (gone).
func watchSession(ctx context.Context, c *cli.Context, w io.Writer, enc *json.Encoder, cl *rpc.Client, events <-chan coord.Event, ws *watchState) (gone bool, err error) {
	// The server drops a peer that sends nothing for its idle timeout (5 min), events or not: say
	// something now and then (a heartbeat; its answer does not matter).
	keepAlive := time.NewTicker(time.Minute)
	defer keepAlive.Stop()
	show := func(ev coord.Event) (bool, error) { return ws.show(c, w, enc, ev) }
	for {
		select {
		case <-keepAlive.C:
			hctx, hcancel := callCtx(c, 0)
			_, _ = cl.Heartbeat(hctx, rpc.HeartbeatParams{})
			hcancel()
		case <-ctx.Done():
			return false, nil
		case <-cl.Done():
			for { // the events that arrived before the connection closed are printed first
				select {
				case ev := <-events:
					if done, err := show(ev); done {
						return false, err
					}
				default:
					return true, nil
				}
			}
		case ev := <-events:
			if done, err := show(ev); done {
				return false, err
			}
		}
	}
}

func issueCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "issue",
		Usage: "create, show, list, update and close issues, their dependencies and comments through the coordinator",
		Subcommands: []*cli.Command{
			issueCreateCommand(), issueShowCommand(), issueListCommand(), issueUpdateCommand(), issueCloseCommand(),
			issueDepCommand(), issueCommentCommand(),
		},
	})
}

// printIssue prints one issue record as JSON or as a line for people.
func printIssue(c *cli.Context, verb string, raw json.RawMessage) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, raw)
	}
	v := viewOf(raw)
	fmt.Fprintf(c.App.Writer, "%s %s %q (%s, %s)\n", verb, v.ID, v.Title, v.priority(), v.Status)
	return nil
}

func issueCreateCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "create",
		Usage:     "create an issue (the title is --title or the argument)",
		ArgsUsage: "[TITLE]",
		Flags: clientFlags(
			&cli.StringFlag{Name: "title", Usage: "one-line title"},
			&cli.StringFlag{Name: "description", Aliases: []string{"d"}, Usage: "what to do (the agent's prompt)"},
			&cli.IntFlag{Name: "priority", Aliases: []string{"p"}, Value: 2, Usage: "0 (highest) to 4"},
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "task", Usage: "task, bug, feature, epic, chore, ..."},
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "label (repeatable)"},
			&cli.StringSliceFlag{Name: "dep", Usage: "issue this one depends on, ID or ID:TYPE (repeatable; type defaults to blocks)"},
			&cli.StringFlag{Name: "assignee", Usage: "assignee"},
			&cli.StringFlag{Name: "id", Usage: "issue id (generated when absent)"},
			&cli.StringFlag{Name: "parent", Usage: "a child of this issue (parent-child dependency), numbered PARENT.1, PARENT.2, ... as bd does unless --id is given"},
			&cli.DurationFlag{Name: "wait", Usage: "while no coordinator answers (restarting), retry this long before giving up (e.g. 30s; 0: fail at once)"},
		),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c)
			if err != nil {
				return err
			}
			title := c.String("title")
			switch {
			case title == "" && len(args) == 1:
				title = args[0]
			case title == "" || len(args) > 0:
				return usageError(errors.New("issue create needs one title, as --title or as the argument: gtc issue create \"Fix login\""))
			}
			p := rpc.IssueCreateParams{ID: c.String("id"), Title: title, Description: c.String("description"),
				Type: c.String("type"), Labels: c.StringSlice("label"), Assignee: c.String("assignee"), Parent: c.String("parent")}
			prio := c.Int("priority")
			p.Priority = &prio
			for _, d := range c.StringSlice("dep") {
				id, typ, _ := strings.Cut(d, ":")
				p.Deps = append(p.Deps, rpc.DepSpec{ID: id, Type: typ})
			}
			// a retry only follows a connection that failed: nothing was sent, nothing created twice
			return retryNoServer(c, c.Duration("wait"), func() error {
				return request(c, "create issue", func(ctx context.Context, cl *rpc.Client) (*rpc.IssueResult, error) {
					return cl.IssueCreate(ctx, p)
				}, func(r *rpc.IssueResult) error {
					return printIssue(c, "created", r.Issue)
				})
			})
		},
	})
}

func issueShowCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "show",
		Usage:     "show one issue (--json: its JSONL record as stored)",
		ArgsUsage: "ID",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "issue show ID [--json]")
			if err != nil {
				return err
			}
			return request(c, "show "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.IssueResult, error) {
				return cl.IssueGet(ctx, rpc.IssueGetParams{ID: args[0]})
			}, func(r *rpc.IssueResult) error {
				if c.Bool("json") {
					return printJSON(c.App.Writer, r.Issue)
				}
				v := viewOf(r.Issue)
				w := c.App.Writer
				fmt.Fprintf(w, "%s  %s\n\n", printable(v.ID, false), printable(v.Title, false))
				tb := newTable(w)
				var deps []string
				for _, d := range v.Dependencies {
					deps = append(deps, d.DependsOnID+" ("+d.Type+")")
				}
				rows := [][2]string{{"status", v.Status}, {"ready", r.Readiness}, {"priority", v.priority()}, {"type", v.IssueType},
					{"assignee", v.Assignee}, {"labels", strings.Join(v.Labels, ", ")}, {"depends on", strings.Join(deps, ", ")},
					{"defer until", shownTime(v.DeferUntil)}, {"close reason", v.CloseReason}, {"created", shownTime(v.CreatedAt)},
					{"updated", shownTime(v.UpdatedAt)}}
				for _, r := range rows {
					tb.Append([]string{r[0], orDash(r[1])})
				}
				tb.Render()
				if v.Description != "" {
					fmt.Fprintf(w, "\n%s\n", printable(v.Description, true))
				}
				if v.Notes != "" {
					fmt.Fprintf(w, "\nnotes:\n%s\n", printable(v.Notes, true))
				}
				if len(v.Comments) > 0 {
					fmt.Fprintf(w, "\ncomments (oldest first):\n")
					for _, cm := range v.Comments {
						fmt.Fprintf(w, "%s  %s:\n  %s\n", printable(cm.CreatedAt, false), printable(orDash(cm.Author), false),
							strings.ReplaceAll(printable(cm.Text, true), "\n", "\n  "))
					}
				}
				if len(r.Dependents) > 0 {
					more := ""
					if r.DependentsTotal > len(r.Dependents) {
						more = fmt.Sprintf(", the first %d of %d", len(r.Dependents), r.DependentsTotal)
					}
					fmt.Fprintf(w, "\ndepended on by (children: parent-child%s):\n", more)
					dt := newTable(w, "ID", "TYPE", "STATUS", "TITLE")
					for _, d := range r.Dependents {
						dt.Append([]string{d.ID, d.Type, d.Status, truncate(d.Title, 60)})
					}
					dt.Render()
				}
				if len(r.Leases) > 0 {
					fmt.Fprintf(w, "\nattempts (newest last):\n")
					at := newTable(w, "LEASE", "ATTEMPT", "WORKER", "STATE", "OUTCOME", "ENDED", "REPORT")
					for _, l := range r.Leases {
						ended := ""
						if l.EndedAt != nil {
							ended = shownTime(l.EndedAt.Format(time.RFC3339Nano)) // as the issue's own times
						}
						report := l.Error // why it failed; else the summary of a success or the last progress note
						if report == "" {
							report = l.Progress
						}
						at.Append([]string{l.ID, strconv.Itoa(l.Attempt), l.Worker, string(l.State), orDash(l.Outcome), orDash(ended),
							orDash(firstLine(report, 100))})
					}
					at.Render()
				} else if v.Status == "closed" || v.StartedAt != "" {
					// worked on, by gtc or by hand: an attempt history older than the retention was pruned
					fmt.Fprintf(w, "\nno attempts on record (gtc keeps the attempt history for `gtc serve --retain`, 30 days by default)\n")
				}
				return nil
			})
		},
	})
}

func issueListCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:  "list",
		Usage: "list issues (all statuses unless --status)",
		Flags: clientFlags(
			&cli.StringFlag{Name: "status", Aliases: []string{"s"}, Usage: "open, in_progress, hooked, blocked, closed, ..."},
			&cli.StringFlag{Name: "label", Aliases: []string{"l"}, Usage: "with this label"},
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Usage: "of this type"},
			&cli.StringFlag{Name: "assignee", Usage: "assigned to"},
			&cli.IntFlag{Name: "limit", Aliases: []string{"n"}, Value: defaultListLimit, Usage: "at most N issues (0: all)"},
		),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "issue list [--status S] [--label L] [--type T] [--assignee A] [--limit N] [--json]"); err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return usageError(errors.New("--limit must not be negative"))
			}
			var tb *pagedTable // a page at a time: 20,000 issues began to print only after ~1 s
			if !c.Bool("json") {
				tb = &pagedTable{w: c.App.Writer, header: []string{"ID", "PRI", "TYPE", "STATUS", "ASSIGNEE", "TITLE"}}
			}
			return request(c, "list issues", func(ctx context.Context, cl *rpc.Client) (*rpc.IssueListResult, error) {
				return listPages(c.Int("limit"), func(offset, limit int) (*rpc.IssueListResult, error) {
					r, err := cl.IssueList(ctx, rpc.IssueListParams{Status: c.String("status"), Label: c.String("label"),
						Type: c.String("type"), Assignee: c.String("assignee"), Limit: limit, Offset: offset})
					if err == nil && tb != nil {
						rows := make([][]string, 0, len(r.Issues))
						for _, raw := range r.Issues {
							v := viewOf(raw)
							rows = append(rows, []string{v.ID, v.priority(), orDash(v.IssueType), orDash(v.Status), orDash(v.Assignee), truncate(v.Title, 60)})
						}
						tb.page(rows)
					}
					return r, err
				})
			}, func(r *rpc.IssueListResult) error {
				defer noteMore(c, r, "issues")
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				if len(r.Issues) == 0 {
					fmt.Fprintln(c.App.Writer, "no issues match")
				}
				return nil
			})
		},
	})
}

// defaultListLimit is how many issues `gtc issue list` and `gtc ready` show without --limit.
const defaultListLimit = 200

// listPages asks for up to limit issues (0: all) a page at a time (the server answers at most
// rpc.MaxListIssues records or rpc.MaxListBytes per call, saying when more match); More says issues
// beyond limit match. Pages are read by offset: an issue that changes meanwhile may be skipped or
// shown twice.
func listPages(limit int, page func(offset, limit int) (*rpc.IssueListResult, error)) (*rpc.IssueListResult, error) {
	out := &rpc.IssueListResult{Issues: []json.RawMessage{}}
	offset := 0
	for {
		want := 0
		if limit > 0 {
			want = limit - len(out.Issues)
		}
		r, err := page(offset, want)
		if err != nil {
			return nil, err
		}
		out.Issues = append(out.Issues, r.Issues...)
		if !r.More || r.NextOffset <= offset && len(r.Issues) == 0 {
			return out, nil
		}
		if offset = r.NextOffset; offset == 0 { // a server that does not say: after what it sent
			offset = len(out.Issues)
		}
		if limit > 0 && len(out.Issues) >= limit {
			out.More = true
			return out, nil
		}
	}
}

// noteMore tells on stderr that more issues match than were shown.
func noteMore(c *cli.Context, r *rpc.IssueListResult, what string) {
	if r.More {
		fmt.Fprintf(c.App.ErrWriter, "(the first %d %s shown; more match: --limit N for more, --limit 0 for all)\n", len(r.Issues), what)
	}
}

// failedLabel is the scheduler's dead-letter label (coord.Config.FailedLabel's default).
const failedLabel = "gtc:failed"

func issueUpdateCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "update",
		Usage:     "change fields of an issue (only the flags given)",
		ArgsUsage: "ID",
		Flags: clientFlags(
			&cli.StringFlag{Name: "title"},
			&cli.StringFlag{Name: "description", Aliases: []string{"d"}},
			&cli.IntFlag{Name: "priority", Aliases: []string{"p"}, DefaultText: "unchanged", Usage: "0 (highest) to 4"},
			&cli.StringFlag{Name: "status", Aliases: []string{"s"}},
			&cli.StringFlag{Name: "assignee"},
			&cli.StringFlag{Name: "notes"},
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}},
			&cli.StringSliceFlag{Name: "add-label", Usage: "add this label (repeatable)"},
			&cli.StringSliceFlag{Name: "remove-label", Usage: "remove this label (repeatable)"},
		),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "issue update ID [--title T] [--priority N] [--status S] [--add-label L] [--remove-label L] ...")
			if err != nil {
				return err
			}
			p := rpc.IssueUpdateParams{ID: args[0]}
			str := func(name string, dst **string) {
				if c.IsSet(name) {
					v := c.String(name)
					*dst = &v
				}
			}
			str("title", &p.Title)
			str("description", &p.Description)
			str("status", &p.Status)
			str("assignee", &p.Assignee)
			str("notes", &p.Notes)
			str("type", &p.Type)
			if c.IsSet("priority") {
				v := c.Int("priority")
				p.Priority = &v
			}
			add, remove := c.StringSlice("add-label"), c.StringSlice("remove-label")
			fields := p.Title != nil || p.Description != nil || p.Status != nil || p.Assignee != nil || p.Notes != nil || p.Type != nil || p.Priority != nil
			if !fields && len(add) == 0 && len(remove) == 0 {
				return usageError(errors.New("nothing to update: pass at least one of --title, --description, --priority, --status, --assignee, --notes, --type, --add-label, --remove-label"))
			}
			if slices.Contains(add, failedLabel) || slices.Contains(remove, failedLabel) {
				// refused before anything changes: --status open alone revives a dead-lettered issue and drops it
				return usageError(fmt.Errorf("%s is the scheduler's dead-letter label: --status open revives the issue and removes it", failedLabel))
			}
			return request(c, "update "+p.ID, func(ctx context.Context, cl *rpc.Client) (r *rpc.IssueResult, err error) {
				if len(remove) > 0 { // checked first: a missing label must not leave the other changes made
					cur, err := cl.IssueGet(ctx, rpc.IssueGetParams{ID: p.ID})
					if err != nil {
						return nil, err
					}
					have := viewOf(cur.Issue).Labels
					for _, l := range remove {
						if !slices.Contains(have, l) {
							return nil, &exitErr{code: exitError, err: fmt.Errorf("update %s: it has no label %q; nothing changed", p.ID, l)}
						}
					}
				}
				if fields {
					if r, err = cl.IssueUpdate(ctx, p); err != nil {
						return nil, err
					}
				}
				for _, l := range add {
					if r, err = cl.IssueLabelAdd(ctx, rpc.IssueLabelParams{ID: p.ID, Label: l}); err != nil {
						return nil, fmt.Errorf("add label %q: %w", l, err)
					}
				}
				for _, l := range remove {
					if r, err = cl.IssueLabelRemove(ctx, rpc.IssueLabelParams{ID: p.ID, Label: l}); err != nil {
						return nil, fmt.Errorf("remove label %q: %w", l, err)
					}
				}
				return r, nil
			}, func(r *rpc.IssueResult) error {
				if err := printIssue(c, "updated", r.Issue); err != nil || c.Bool("json") {
					return err
				}
				if v := viewOf(r.Issue); p.Status != nil && v.Status != strings.TrimSpace(*p.Status) {
					// the status shown is the issue's now: the scheduler acted on the change at once
					fmt.Fprintf(c.App.Writer, "(status set to %s; it is %s now: the coordinator acted on the change at once, see `gtc issue show %s`)\n",
						*p.Status, v.Status, v.ID)
				}
				return nil
			})
		},
	})
}

func issueCloseCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "close",
		Usage:     "close an issue",
		ArgsUsage: "ID",
		Flags:     clientFlags(&cli.StringFlag{Name: "reason", Usage: "why it is closed"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "issue close ID [--reason R]")
			if err != nil {
				return err
			}
			return request(c, "close "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.IssueResult, error) {
				return cl.IssueClose(ctx, rpc.IssueCloseParams{ID: args[0], Reason: c.String("reason")})
			}, func(r *rpc.IssueResult) error {
				return printIssue(c, "closed", r.Issue)
			})
		},
	})
}

func drainCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "drain",
		Usage:     "stop pushing work to a worker (until `gtc drain --undo`); its running leases go on to their end",
		ArgsUsage: "WORKER",
		Flags:     clientFlags(&cli.BoolFlag{Name: "undo", Usage: "end the drain: push the worker work again"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "drain WORKER [--undo] [--json]")
			if err != nil {
				return err
			}
			return request(c, "drain "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.DrainResult, error) {
				return cl.CoordDrain(ctx, rpc.DrainParams{Worker: args[0], Undo: c.Bool("undo")})
			}, func(r *rpc.DrainResult) error {
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				switch {
				case !r.Draining:
					fmt.Fprintf(c.App.Writer, "%s is pushed work again\n", r.Worker)
					return nil
				case c.Bool("undo"):
					fmt.Fprintf(c.App.Writer, "the operator's drain of %s is undone, but it drains itself (shutting down): no new work until it reconnects\n", r.Worker)
					return nil
				}
				fmt.Fprintf(c.App.Writer, "draining %s: no new work, across its reconnects and the coordinator's restarts, until `gtc drain --undo %s`; its leases run to their end\n", r.Worker, r.Worker)
				return nil
			})
		},
	})
}

func cancelCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "cancel",
		Usage:     "take a live lease away from its holder (by lease id or issue id): the issue is ready again, no penalty",
		ArgsUsage: "LEASE_OR_ISSUE_ID",
		Flags:     clientFlags(&cli.StringFlag{Name: "reason", Usage: "told to the holder"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "cancel LEASE_OR_ISSUE_ID [--reason R]")
			if err != nil {
				return err
			}
			return withClient(c, cliUserName(), func(cl *rpc.Client, t dialTarget) error {
				ctx, cancel := callCtx(c, 0)
				defer cancel()
				id := args[0]
				if _, isLease := leaseEpochOf(id); !isLease {
					ref, err := findLease(ctx, cl, id)
					if err != nil {
						return remoteError(t, "look up "+id, err)
					}
					if !ref.Found {
						return refused("issue %s has no live lease: see `gtc workers`", id)
					}
					id = ref.Lease.ID
				}
				r, err := cl.LeaseCancel(ctx, rpc.LeaseCancelParams{LeaseID: id, Reason: c.String("reason")})
				if err != nil {
					return remoteError(t, "cancel "+id, err)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				fmt.Fprintf(c.App.Writer, "cancelled lease %s: its holder was told to stop; the issue is ready again\n", r.LeaseID)
				return nil
			})
		},
	})
}

// forWorker is the FOR cell of gtc ready: the worker an assigned issue waits for, "any" otherwise.
func forWorker(assignee string) string {
	if assignee == "" {
		return "any"
	}
	return printable(assignee, false)
}

// naturalCompare orders names with their digit runs compared as numbers: agent-2 before agent-10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digitRun is the length of the ASCII digits s starts with.
func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// shownTime renders a record's timestamp for people: to the second, in the local zone (the record keeps
// its nanoseconds; CLI trial: issue show printed them); text that is not a time is shown as it is.
func shownTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}
