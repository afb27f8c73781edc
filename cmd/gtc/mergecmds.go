package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/gastown/gtc/refinery"
	"github.com/gastown/gtc/rpc"
	"github.com/urfave/cli/v2"
)

// This file holds the merge queue, convoy and health commands: gtc merge submit|list|cancel,
// gtc convoy create|list|show, gtc health (gtc drain and gtc cancel live in clientcmds.go).

// mergeCommand is `gtc merge submit|list|cancel`.
func mergeCommand() *cli.Command {
	return &cli.Command{
		Name:  "merge",
		Usage: "the merge queue: submit a branch for an issue, list queued merges, cancel one",
		Subcommands: []*cli.Command{
			{
				Name:      "submit",
				Usage:     "queue BRANCH of ISSUE_ID for merging by a refinery (`gtc worker --role refinery`)",
				ArgsUsage: "ISSUE_ID BRANCH",
				Flags: clientFlags(
					&cli.StringFlag{Name: "commit", Usage: "the exact commit to merge (default: the branch tip when it merges)"},
					&cli.StringFlag{Name: "target", Usage: "branch to merge onto (default: the server's, main)"},
					&cli.StringSliceFlag{Name: "file", Usage: "a path the change touches, for conflict detection (repeatable; default: git diff TARGET...BRANCH in --dir)"},
					&cli.StringFlag{Name: "as", Usage: "worker name the request is filed under (default: cli-<user>)"},
					&cli.StringFlag{Name: "lease", Usage: "the issue's live lease the work was done under: filed under its worker, refused once it ended (default: GTC_LEASE_ID when GTC_ISSUE_ID is ISSUE_ID, as in a gtc worker --exec)"},
					&cli.Int64Flag{Name: "epoch", Usage: "the lease's epoch (default: GTC_LEASE_EPOCH with GTC_LEASE_ID)"},
					&cli.DurationFlag{Name: "wait", Value: 60 * time.Second, Usage: "while no coordinator answers (restarting), retry this long before giving up (0: fail at once)"},
				),
				Action: func(c *cli.Context) error {
					args, err := wantArgs(c, 2, "merge submit ISSUE_ID BRANCH [--commit SHA] [--target BRANCH] [--file PATH]...")
					if err != nil {
						return err
					}
					name := c.String("as")
					if name == "" {
						name = defaultClaimName()
					}
					files := c.StringSlice("file")
					if len(files) == 0 {
						files = changedFiles(c, args[1])
						if rev := cmp.Or(c.String("commit"), args[1]); files == nil && revMissing(c, rev) {
							// a trial: a typo'd branch was queued silently, and the refinery spent three retries on it
							fmt.Fprintf(c.App.ErrWriter, "note: %s is not a branch or commit of the git repository in %s: queued anyway (a refinery "+
								"fetching from a remote may find it), but with no files it is never held back by overlapping requests\n", rev, c.String("dir"))
						}
					}
					lease, epoch := c.String("lease"), c.Int64("epoch")
					if lease == "" && os.Getenv("GTC_ISSUE_ID") == args[0] {
						// run by a worker's --exec for this issue: the work was done under its lease
						lease = os.Getenv("GTC_LEASE_ID")
						if !c.IsSet("epoch") {
							epoch, _ = strconv.ParseInt(os.Getenv("GTC_LEASE_EPOCH"), 10, 64)
						}
					}
					if lease != "" && epoch <= 0 {
						return usageError(fmt.Errorf("--lease %s needs its --epoch", lease))
					}
					p := rpc.MergeSubmitParams{IssueID: args[0], Branch: args[1], Commit: c.String("commit"),
						Target: c.String("target"), Files: files, LeaseID: lease, Epoch: epoch}
					if f := os.Getenv(mergeDeferEnv); f != "" && lease != "" && lease == os.Getenv("GTC_LEASE_ID") {
						// run by a command of a worker with a --gate: the worker submits it once the gate passed
						return deferSubmit(c, f, p)
					}
					p.IdempotencyKey = "submit-" + rand.Text() // a retry after a lost reply queues nothing twice
					return retryNoServer(c, c.Duration("wait"), func() error {
						return withClient(c, name, func(cl *rpc.Client, t dialTarget) error {
							return submitOnce(c, cl, t, p)
						})
					})
				},
			},

			{
				Name:  "list",
				Usage: "list live merge requests: merging first, then pending in the order they will start",
				Flags: clientFlags(&cli.StringFlag{Name: "target", Usage: "only requests onto this branch"}),
				Action: func(c *cli.Context) error {
					if _, err := wantArgs(c, 0, "merge list [--target BRANCH] [--json]"); err != nil {
						return err
					}
					others := 0 // with --target and none onto it: requests onto other branches
					return request(c, "merge list", func(ctx context.Context, cl *rpc.Client) (*rpc.MergeListResult, error) {
						r, err := cl.MergeList(ctx, rpc.MergeListParams{Target: c.String("target")})
						if err == nil && len(r.Requests) == 0 && c.String("target") != "" {
							if all, err := cl.MergeList(ctx, rpc.MergeListParams{}); err == nil {
								others = len(all.Requests)
							}
						}
						return r, err
					}, func(r *rpc.MergeListResult) error {
						if c.Bool("json") {
							return printJSON(c.App.Writer, r)
						}
						if len(r.Requests) == 0 {
							if others > 0 { // CLI trial: "the merge queue is empty" beside 59 requests onto main
								fmt.Fprintf(c.App.Writer, "no merge requests onto %s (%d onto other branches: `gtc merge list`)\n", c.String("target"), others)
								return nil
							}
							fmt.Fprintln(c.App.Writer, "the merge queue is empty")
							return nil
						}
						tb := newTable(c.App.Writer, "ID", "ISSUE", "STATE", "BRANCH", "TARGET", "TRIES", "REFINERY", "NOTE")
						for _, m := range r.Requests {
							note := m.Error // why the last attempt failed
							if m.Progress != "" {
								note = m.Progress // the refinery's word on the attempt running
							}
							// TRIES: the attempts started; attempts counts those that failed, so the one a
							// refinery runs now is one more (trial: TRIES 0 beside merge_started "attempt 1")
							tries := m.Attempts
							if m.State == mergeq.StateMerging {
								tries++
							}
							tb.Append([]string{m.ID, m.IssueID, m.State, m.Branch, m.Target, strconv.Itoa(tries),
								orDash(m.Refinery), truncate(orDash(note), 60)})
						}
						tb.Render()
						return nil
					})
				},
			},
			mergeCancelCommand(),
		},
	}
}

// mergeCancelCommand is `gtc merge cancel MR_ID | --issue ISSUE_ID`.
func mergeCancelCommand() *cli.Command {
	const usage = "merge cancel MR_ID [--reason R] | merge cancel --issue ISSUE_ID [--reason R]"
	return &cli.Command{
		Name: "cancel",
		Usage: "withdraw a pending or merging request, by its id or by its issue; a merging one's refinery is told to stop " +
			"(a merge already being pushed may still land); the issue is left as it is",
		ArgsUsage: "[MR_ID]",
		Flags: clientFlags(
			&cli.StringFlag{Name: "issue", Usage: "cancel the pending or merging request of this issue instead of naming the request"},
			&cli.StringFlag{Name: "reason", Usage: "kept on the request and told to its refinery (default: cancelled by operator)"},
		),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c)
			if err != nil {
				return err
			}
			p := rpc.MergeCancelParams{IssueID: c.String("issue"), Reason: c.String("reason")}
			switch {
			case len(args) > 1:
				return usageError(fmt.Errorf("merge cancel takes at most 1 argument, got %d: usage: gtc %s", len(args), usage))
			case len(args) == 1 && p.IssueID != "":
				return usageError(fmt.Errorf("merge cancel: give MR_ID or --issue, not both: usage: gtc %s", usage))
			case len(args) == 0 && p.IssueID == "":
				return usageError(fmt.Errorf("merge cancel needs MR_ID or --issue ISSUE_ID: usage: gtc %s", usage))
			case len(args) == 1:
				p.ID = args[0]
			}
			what := p.ID
			if what == "" {
				what = "the merge request of " + p.IssueID
			}
			return request(c, "merge cancel "+what, func(ctx context.Context, cl *rpc.Client) (*rpc.MergeCancelResult, error) {
				return cl.MergeCancel(ctx, p)
			}, func(r *rpc.MergeCancelResult) error {
				if c.Bool("json") {
					return printJSON(c.App.Writer, r)
				}
				m := r.Request
				if m.Refinery != "" {
					fmt.Fprintf(c.App.Writer, "cancelled %s (%s): it was merging on %s, which was told to stop\n", m.ID, m.IssueID, m.Refinery)
				} else {
					fmt.Fprintf(c.App.Writer, "cancelled %s (%s): removed from the queue\n", m.ID, m.IssueID)
				}
				// an issue waiting for this merge (--code-complete-status) would wait for good
				fmt.Fprintf(c.App.Writer, "%s keeps its status: `gtc issue update %s --status open` to have it redone, or `gtc issue close %s`\n",
					m.IssueID, m.IssueID, m.IssueID)
				return nil
			})
		},
	}
}

// convoyCommand is `gtc convoy create|list|show`.
func convoyCommand() *cli.Command {
	return &cli.Command{
		Name:  "convoy",
		Usage: "convoys: issues labelled convoy:<name> tracked by one convoy issue",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "label the issues convoy:NAME and create the convoy's tracking issue",
				ArgsUsage: "NAME ISSUE_ID...",
				Flags:     clientFlags(&cli.StringFlag{Name: "title", Usage: "title of the tracking issue (default: Convoy NAME)"}),
				Action: func(c *cli.Context) error {
					args, err := argsOf(c)
					if err != nil {
						return err
					}
					if len(args) < 2 {
						return usageError(errors.New("convoy create needs a NAME and at least one ISSUE_ID: usage: gtc convoy create NAME ISSUE_ID... [--title T]"))
					}
					return request(c, "convoy create "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.ConvoyResult, error) {
						return cl.ConvoyCreate(ctx, rpc.ConvoyCreateParams{Name: args[0], Title: c.String("title"), IssueIDs: args[1:]})
					}, func(r *rpc.ConvoyResult) error {
						if c.Bool("json") {
							return printJSON(c.App.Writer, r)
						}
						fmt.Fprintf(c.App.Writer, "convoy %s: %d issues, tracked by %s\n", r.Convoy.Name, r.Convoy.Total, r.Convoy.TrackingID)
						return nil
					})
				},
			},
			{
				Name:  "list",
				Usage: "list convoys with their progress",
				Flags: clientFlags(),
				Action: func(c *cli.Context) error {
					if _, err := wantArgs(c, 0, "convoy list [--json]"); err != nil {
						return err
					}
					return request(c, "convoy list", func(ctx context.Context, cl *rpc.Client) (*rpc.ConvoyListResult, error) {
						return cl.ConvoyList(ctx)
					}, func(r *rpc.ConvoyListResult) error {
						if c.Bool("json") {
							return printJSON(c.App.Writer, r)
						}
						if len(r.Convoys) == 0 {
							fmt.Fprintln(c.App.Writer, "no convoys")
							return nil
						}
						tb := newTable(c.App.Writer, "NAME", "PROGRESS", "CLOSED", "IN PROGRESS", "FAILED", "OPEN", "TRACKING")
						for _, p := range r.Convoys {
							tb.Append([]string{p.Name, donePercent(p.Closed, p.Total), fmt.Sprintf("%d/%d", p.Closed, p.Total),
								strconv.Itoa(p.InProgress), strconv.Itoa(p.Failed), strconv.Itoa(p.Open),
								orDash(strings.TrimSpace(p.TrackingID + " " + p.Tracking))})
						}
						tb.Render()
						return nil
					})
				},
			},
			{
				Name:      "show",
				Usage:     "show one convoy's progress and issues",
				ArgsUsage: "NAME",
				Flags:     clientFlags(),
				Action: func(c *cli.Context) error {
					args, err := wantArgs(c, 1, "convoy show NAME [--json]")
					if err != nil {
						return err
					}
					return request(c, "convoy show "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.ConvoyResult, error) {
						return cl.ConvoyShow(ctx, rpc.ConvoyShowParams{Name: args[0]})
					}, func(r *rpc.ConvoyResult) error {
						if c.Bool("json") {
							return printJSON(c.App.Writer, r)
						}
						p := r.Convoy
						w := c.App.Writer
						fmt.Fprintf(w, "convoy %s: %s (%d of %d closed, %d in progress, %d failed, %d open)\n",
							p.Name, donePercent(p.Closed, p.Total), p.Closed, p.Total, p.InProgress, p.Failed, p.Open)
						if p.TrackingID != "" {
							fmt.Fprintf(w, "tracking issue %s (%s)\n", p.TrackingID, p.Tracking)
						}
						if p.Complete {
							fmt.Fprintln(w, "complete")
						}
						// wrapped, and at most convoyShowIDs of them (CLI trial: 2,000 ids on one 31,731-character line)
						ids := slices.SortedFunc(slices.Values(p.IssueIDs), naturalCompare) // gt-2 before gt-10
						if len(ids) > convoyShowIDs {
							ids = ids[:convoyShowIDs]
						}
						for i, line := 0, "issues:"; i < len(ids); i++ {
							id := printable(ids[i], false)
							if len(line)+1+len(id) > 100 {
								fmt.Fprintln(w, line)
								line = "       "
							}
							line += " " + id
							if i == len(ids)-1 {
								fmt.Fprintln(w, line)
							}
						}
						if more := len(p.IssueIDs) - len(ids); more > 0 {
							fmt.Fprintf(w, "… and %d more (all of them: --json; with their status: gtc issue list --label convoy:%s --limit 0)\n", more, p.Name)
						}
						return nil
					})
				},
			},
		},
	}
}

// healthCommand is `gtc health`: exit 0 when healthy or degraded, 1 when unhealthy.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "healthy, degraded or unhealthy, with the reasons (exit 1 when unhealthy)",
		Flags: clientFlags(),
		Action: func(c *cli.Context) error {
			if _, err := wantArgs(c, 0, "health [--json]"); err != nil {
				return err
			}
			return request(c, "health", func(ctx context.Context, cl *rpc.Client) (*rpc.HealthResult, error) {
				return cl.CoordHealth(ctx)
			}, func(r *rpc.HealthResult) error {
				if c.Bool("json") {
					if err := printJSON(c.App.Writer, r); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(c.App.Writer, "%s: success rate %.2f over %d sessions, %d stalled\n", r.Status, r.SuccessRate, r.Samples, len(r.Stalled))
					for _, s := range r.Reasons {
						fmt.Fprintf(c.App.Writer, "  %s\n", s)
					}
					if len(r.Stalled) > 0 {
						fmt.Fprintf(c.App.Writer, "  stalled: %s\n", strings.Join(r.Stalled, ", "))
					}
				}
				if r.Status == "unhealthy" {
					return &exitErr{code: exitError, err: fmt.Errorf("coordinator is unhealthy: %s", strings.Join(r.Reasons, "; "))}
				}
				return nil
			})
		},
	}
}

// changedFiles lists the files branch (or --commit) changes against the target in the workspace's git
// repository; nil when that is not a git repository or git fails (the request then never conflicts).
func changedFiles(c *cli.Context, branch string) []string {
	target, rev := c.String("target"), c.String("commit")
	if target == "" {
		target = "main"
	}
	if rev == "" {
		rev = branch
	}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	fs, err := refinery.ChangedFiles(ctx, c.String("dir"), target, rev)
	if err != nil {
		return nil
	}
	return fs
}

// revMissing reports whether the workspace is a git repository in which rev names no commit (false when
// it is not a repository, or git cannot say).
func revMissing(c *cli.Context, rev string) bool {
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = c.String("dir")
		return cmd.Run()
	}
	if git("rev-parse", "--git-dir") != nil {
		return false
	}
	var ee *exec.ExitError
	err := git("rev-parse", "--verify", "--quiet", rev+"^{commit}")
	return errors.As(err, &ee) && ee.ExitCode() == 1
}

// submitOnce sends one merge.submit and prints its result.
func submitOnce(c *cli.Context, cl *rpc.Client, t dialTarget, p rpc.MergeSubmitParams) error {
	ctx, cancel := callCtx(c, 0)
	defer cancel()
	r, err := cl.MergeSubmit(ctx, p)
	if err != nil {
		return remoteError(t, "merge submit "+p.IssueID, err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	fmt.Fprintf(c.App.Writer, "queued %s: %s onto %s (%s)\n", r.Request.ID, r.Request.Branch, r.Request.Target, r.Request.IssueID)
	if len(r.ConflictsWith) > 0 {
		them := "them"
		if len(r.ConflictsWith) == 1 {
			them = "it"
		}
		fmt.Fprintf(c.App.Writer, "overlaps %s on %s: it merges after %s\n",
			strings.Join(r.ConflictsWith, ", "), strings.Join(r.ConflictingFiles, ", "), them)
	}
	// an issue still handed out is not closed by its merge, and a worker may take it meanwhile (a
	// trial: a branch merged, its issue stayed open and ready); stderr: stdout stays the result
	if p.LeaseID == "" {
		if g, err := cl.IssueGet(ctx, rpc.IssueGetParams{ID: p.IssueID}); err == nil && (g.Readiness == "ready" || strings.HasPrefix(g.Readiness, "ready,")) {
			fmt.Fprintf(c.App.ErrWriter, "note: %s is ready: a worker may take it while this merges, and the merge will not close it "+
				"(a merge closes an issue left code_complete, or one whose lease ends code_complete)\n", p.IssueID)
		}
	}
	return nil
}

// retryNoServer runs fn until it succeeds, fails for another reason than no coordinator answering
// (exit code exitNoServer: not running, restarting, closed the connection) or one at a limit (busy:
// --max-conns), or wait has passed. An agent's `gtc merge submit` during a coordinator restart
// otherwise failed its whole attempt.
func retryNoServer(c *cli.Context, wait time.Duration, fn func() error) error {
	deadline := time.Now().Add(wait)
	backoff := 250 * time.Millisecond
	for {
		err := fn()
		var ee *exitErr
		if err == nil || !errors.As(err, &ee) || (ee.code != exitNoServer && coord.ErrorCode(err) != coord.EBusy) || !time.Now().Add(backoff).Before(deadline) {
			return err
		}
		select {
		case <-c.Context.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// deferSubmit appends p to the worker's file of held-back submits (mergeDeferEnv).
func deferSubmit(c *cli.Context, path string, p rpc.MergeSubmitParams) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("merge submit: hold for the worker's gate: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("merge submit: hold for the worker's gate: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("merge submit: hold for the worker's gate: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "held %s of %s: the worker submits it once its --gate passes\n", p.Branch, p.IssueID)
	return nil
}

// convoyShowIDs is how many of a convoy's issue ids gtc convoy show prints.
const convoyShowIDs = 200

// donePercent shows closed of total as a whole percentage rounded down: 498 of 500 is 99%, not 100%,
// which only a convoy with every issue closed shows.
func donePercent(closed, total int) string {
	if total <= 0 {
		return "0%"
	}
	return fmt.Sprintf("%d%%", 100*closed/total)
}
