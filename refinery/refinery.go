// Package refinery lands merge requests with real git: a clean check with git merge-tree, a --no-ff
// merge built in a worktree of the refinery's own, an optional gate command run on that merged tree,
// and only then the target moved (a push when the workspace has a remote, else a compare-and-swap of
// the local branch, fast-forwarding the work tree that has it checked out). A gate that fails, or a
// refinery killed while its gate runs, leaves the target as it was.
package refinery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request names what to merge: Commit if set (the exact reviewed commit), else the tip of Branch.
type Request struct {
	Branch  string
	Target  string // empty means "main"
	Commit  string
	IssueID string
	Worker  string
}

// Result is the outcome of one merge attempt; a conflict or a failing gate is a result, not an error.
type Result struct {
	Merged      bool
	Conflicts   []string // files git could not merge cleanly, when the check found conflicts
	GateOutput  string   // tail of the gate's combined output
	GateFailed  bool     // the gate exited non-zero; the target was not moved
	GateExit    string   // how a failed gate ended: "exit status 2", a signal, a timeout
	NoCommits   bool     // the branch (or commit) has no commits beyond the target: there is nothing to merge
	MergeCommit string   // the target's new tip when Merged
	// Warning says what the merge left out (a branch's changes to gtc's .beads/issues.jsonl) or what
	// went wrong after it landed on the remote (the workspace's local copy of the target could not
	// follow it: it stays where it was); "; "-separated when both.
	Warning string
}

// ErrLocalChanges is wrapped by the error of a merge that would overwrite local changes (or untracked
// files) in the work tree that has the target checked out. Nothing was moved; the merge can land once
// those changes are committed, stashed or gone, so retrying it at once is pointless.
var ErrLocalChanges = errors.New("local changes in the target's work tree would be overwritten")

// Refinery holds the settings of Merge; the zero value uses the defaults named in each field.
type Refinery struct {
	Remote      string        // remote to fetch from and push to, when the workspace has it. Default "origin".
	GateTimeout time.Duration // bound on the gate command (running over is a gate failure). Default DefaultGateTimeout; negative: only ctx bounds it
	GitTimeout  time.Duration // bound on each git command (a hung fetch or push fails the attempt). Default 10m.
	OutputTail  int           // bytes of gate output kept. Default 4096.
	Name, Email string        // committer identity when the repository has none. Default "gtc refinery", "refinery@gtc.invalid".
	// BeforeLand, when set, is asked once the merge is built and gated, right before the target moves
	// (pushed or advanced); an error stops the merge with nothing landed (ErrNotLanded): the refinery
	// confirms there that the coordinator still gives it the slot.
	BeforeLand func(ctx context.Context) error
}

// ErrNotLanded is wrapped by the error of a merge that BeforeLand stopped: built and gated, not landed.
var ErrNotLanded = errors.New("not landed")

// DefaultGateTimeout bounds a gate when Refinery.GateTimeout is zero: a hanging gate fails the
// attempt (as a gate failure) well within the merge queue's MaxHold (1h) instead of holding the slot.
const DefaultGateTimeout = 30 * time.Minute

// WorktreeDir is where, under the repository's git directory (the common one), Merge keeps the
// detached worktree it builds and gates merges in.
const WorktreeDir = "gtc-refinery/worktree"

// Merge lands req in repoDir with the default Refinery settings.
func Merge(ctx context.Context, repoDir string, req Request, gate string) (Result, error) {
	return (&Refinery{}).Merge(ctx, repoDir, req, gate)
}

var (
	locksMu sync.Mutex
	locks   = map[string]*sync.Mutex{}
)

// lockDir serialises merges in one repository within this process.
func lockDir(dir string) func() {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	locksMu.Lock()
	m := locks[dir]
	if m == nil {
		m = &sync.Mutex{}
		locks[dir] = m
	}
	locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// Merge lands req in the repository of repoDir: fetch (when the remote exists), check for conflicts,
// then build the merge (--no-ff, message "Merge <issue>: <worker>") in the refinery's own detached
// worktree (WorktreeDir under the git directory, reset before each merge) and run gate there (sh -c,
// in its own process group, killed when ctx ends or this process dies). Only a merge whose gate
// passed moves the target: pushed to the remote when there is one (the local target branch then
// follows when that is a fast-forward; failing that is Result.Warning), else the local branch moves
// by compare-and-swap from the commit the merge was built on, and a work tree that has it checked out
// (the workspace) is fast-forwarded so its files follow. Local changes there that the merge does not
// touch (gtc's own .beads/issues.jsonl) are kept; ones it would overwrite fail the merge before the
// gate with an error wrapping ErrLocalChanges.
//
// A branch with no commits beyond the target is not merged (Result.NoCommits): its tip is a commit of
// the target's first-parent line. One that a merge already brought onto the target (a retry after a
// lost report) is reported merged again. When ctx ends before the target moves, nothing has moved
// (an error); a push or local update once begun is not interrupted. Merges of one repository are
// serialised (within this process, and across processes where files can be locked).
func (r *Refinery) Merge(ctx context.Context, repoDir string, req Request, gate string) (Result, error) {
	if req.Target == "" {
		req.Target = "main"
	}
	if req.Branch == "" && req.Commit == "" {
		return Result{}, errors.New("merge: branch or commit is required")
	}
	for _, s := range []string{req.Branch, req.Target, req.Commit} {
		if strings.HasPrefix(s, "-") {
			return Result{}, fmt.Errorf("merge: invalid ref %q", s)
		}
	}
	g := &gitRunner{dir: repoDir, timeout: r.GitTimeout}
	common, err := g.commonDir(ctx)
	if err != nil {
		return Result{}, err
	}
	defer lockDir(common)()
	unlock, err := lockFile(ctx, filepath.Join(common, "gtc-refinery", "lock"))
	if err != nil {
		return Result{}, fmt.Errorf("lock the refinery of %s: %w", repoDir, err)
	}
	defer unlock()
	remote := r.Remote
	if remote == "" {
		remote = "origin"
	}
	hasRemote, err := g.hasRemote(ctx, remote)
	if err != nil {
		return Result{}, err
	}
	if hasRemote {
		if _, err := g.run(ctx, "fetch", "--prune", "--quiet", remote); err != nil {
			return Result{}, fmt.Errorf("fetch %s in %s: %w", remote, repoDir, err)
		}
	}
	// The target comes from the remote when there is one: the local branch of that name is only a
	// copy, which would bring a branch deleted on the remote back to life.
	pre, err := g.resolve(ctx, hasRemote, remote, req.Target, !hasRemote)
	if err != nil {
		return Result{}, fmt.Errorf("target %s: %w", req.Target, err)
	}
	src := req.Commit
	if src != "" {
		if src, err = g.run(ctx, "rev-parse", "--verify", "-q", src+"^{commit}"); err != nil {
			return Result{}, fmt.Errorf("commit %s not found in %s: %w", req.Commit, repoDir, err)
		}
		src = strings.TrimSpace(src)
	} else if src, err = g.resolve(ctx, hasRemote, remote, req.Branch, true); err != nil {
		return Result{}, fmt.Errorf("branch %s: %w", req.Branch, err)
	}
	if _, err := g.run(ctx, "merge-base", "--is-ancestor", src, pre); err == nil {
		// Already on the target. Either a merge brought it there (a retry after a lost report, or a
		// branch built on it landed first: nothing to do), or it is a commit of the target itself: the
		// branch never got a commit of its own (an agent that forgot to commit). That is no merge, and
		// reporting it merged would close the issue with no work in it.
		own, err := g.onFirstParentLine(ctx, src, pre)
		if err != nil {
			return Result{}, err
		}
		if own {
			return Result{NoCommits: true}, nil
		}
		return Result{Merged: true, MergeCommit: pre}, nil
	}
	// gtc owns the workspace's .beads/issues.jsonl on the target (it rewrites it as work goes on): a
	// branch's copy of it (an agent's bd writing its worktree's file, committed with its work) is left
	// out of the merge. Merged, it conflicted, or waited on the copy gtc keeps rewriting, and failed.
	own, err := g.ownedPath(ctx)
	if err != nil {
		return Result{}, err
	}
	_, conflicts, err := g.mergeTree(ctx, pre, src)
	if err != nil {
		return Result{}, err
	}
	conflicts = slices.DeleteFunc(conflicts, func(f string) bool { return f == own })
	if len(conflicts) > 0 {
		return Result{Conflicts: conflicts}, nil
	}
	base, err := g.run(ctx, "merge-base", pre, src)
	if err != nil {
		return Result{}, fmt.Errorf("merge base of %s and %s: %w", pre, src, err)
	}
	base = strings.TrimSpace(base)
	brought, err := g.run(ctx, "diff", "--name-only", "--no-renames", "-z", base, src)
	if err != nil {
		return Result{}, fmt.Errorf("files %s changes: %w", src, err)
	}
	changed := splitZ(brought)
	keepOwn := slices.Contains(changed, own)
	changed = slices.DeleteFunc(changed, func(f string) bool { return f == own })
	if keepOwn && len(changed) == 0 {
		return Result{NoCommits: true}, nil // its only change is the file left out: no work to merge
	}
	if !hasRemote {
		// The work tree that has the target checked out is fast-forwarded at the end: local changes
		// there that the merge would overwrite fail it now, before the gate runs for nothing.
		if err := g.checkLocalChanges(ctx, req.Target, changed); err != nil {
			return Result{}, err
		}
	}
	wt, err := r.worktree(ctx, g, common, pre)
	if err != nil {
		return Result{}, err
	}
	w := &gitRunner{dir: wt, timeout: r.GitTimeout}
	msg := fmt.Sprintf("Merge %s: %s", req.IssueID, req.Worker)
	if err := r.buildMerge(ctx, g, w, pre, src, msg, own, keepOwn); err != nil {
		w.clean(ctx)
		return Result{}, fmt.Errorf("merge %s into %s: %w", src, req.Target, err)
	}
	res := Result{Merged: true}
	if keepOwn {
		res.Warning = "the branch's changes to " + own + " were left out: gtc owns that file on the target (change issues through gtc or bd in the workspace)"
	}
	if res.MergeCommit, err = w.head(ctx); err != nil {
		return Result{}, err
	}
	if gate != "" {
		gateDir := wt
		if prefix, err := g.run(ctx, "rev-parse", "--show-prefix"); err == nil && strings.TrimSpace(prefix) != "" {
			gateDir = filepath.Join(wt, filepath.FromSlash(strings.TrimSpace(prefix)))
		}
		out, gerr := r.runGate(ctx, gateDir, repoDir, gate, req)
		res.GateOutput = out
		// What the gate wrote (a regenerated lock file, build output not ignored) is not part of the
		// merge: the worktree goes back to the merge commit (the next merge resets it anyway).
		w.clean(ctx)
		if gerr != nil {
			if ctx.Err() != nil {
				return Result{GateOutput: out}, fmt.Errorf("gate for %s: %w", req.IssueID, ctx.Err())
			}
			return Result{GateOutput: out, GateFailed: true, GateExit: gerr.Error()}, nil
		}
	}
	if ctx.Err() != nil {
		// Stopped (cancelled, or the refinery is shutting down) before the target moved: nothing landed.
		return Result{GateOutput: res.GateOutput}, fmt.Errorf("merge of %s stopped before it landed: %w", req.IssueID, ctx.Err())
	}
	if r.BeforeLand != nil {
		if err := r.BeforeLand(ctx); err != nil {
			return Result{GateOutput: res.GateOutput}, fmt.Errorf("merge of %s %w: %w", req.IssueID, ErrNotLanded, err)
		}
	}
	// Landing once begun runs to its end (GitTimeout still bounds it): a push killed halfway would leave
	// unknown whether the remote's target moved.
	lctx := context.WithoutCancel(ctx)
	if hasRemote {
		if _, err := g.run(lctx, "push", "--quiet", remote, res.MergeCommit+":refs/heads/"+req.Target); err != nil {
			return Result{GateOutput: res.GateOutput}, fmt.Errorf("push %s to %s: %w", req.Target, remote, err)
		}
		if err := g.followRemote(lctx, req.Target, res.MergeCommit, msg); err != nil {
			res.Warning = strings.TrimPrefix(res.Warning+"; "+err.Error(), "; ")
		}
		return res, nil
	}
	if err := g.advance(lctx, req.Target, pre, res.MergeCommit, msg); err != nil {
		return Result{GateOutput: res.GateOutput}, err
	}
	return res, nil
}

// ownedPath is the repository-relative path of the workspace's .beads/issues.jsonl (gtc's).
func (g *gitRunner) ownedPath(ctx context.Context) (string, error) {
	prefix, err := g.run(ctx, "rev-parse", "--show-prefix")
	if err != nil {
		return "", fmt.Errorf("locate %s in its repository: %w", g.dir, err)
	}
	return strings.TrimSpace(prefix) + ".beads/issues.jsonl", nil
}

// buildMerge makes the --no-ff merge commit of src onto pre (checked out in the worktree w) with
// message msg; with keepOwn, the branch's changes to own are left out (pre's version is kept, or the
// file stays absent), whether or not they conflicted.
func (r *Refinery) buildMerge(ctx context.Context, g, w *gitRunner, pre, src, msg, own string, keepOwn bool) error {
	id := r.identity(ctx, g)
	if !keepOwn {
		_, err := w.run(ctx, append(id, "merge", "--no-ff", "--no-edit", "-q", "-m", msg, src)...)
		return err
	}
	// a conflict in own alone makes merge exit non-zero: it is resolved below, anything else is not
	_, _, err := w.runCode(ctx, append(id, "merge", "--no-ff", "--no-commit", "-q", "-m", msg, src)...)
	if _, verr := w.run(ctx, "rev-parse", "--verify", "-q", "MERGE_HEAD"); verr != nil {
		if err == nil {
			err = errors.New("no merge in progress")
		}
		return err
	}
	if _, err := w.run(ctx, "cat-file", "-e", pre+":"+own); err == nil {
		if _, err := w.run(ctx, "checkout", pre, "--", own); err != nil {
			return fmt.Errorf("keep the target's %s: %w", own, err)
		}
	} else if _, err := w.run(ctx, "rm", "-q", "-f", "--ignore-unmatch", "--", own); err != nil {
		return fmt.Errorf("leave out the branch's %s: %w", own, err)
	}
	if u, err := w.run(ctx, "diff", "--name-only", "--diff-filter=U"); err != nil || strings.TrimSpace(u) != "" {
		return fmt.Errorf("unmerged files besides %s: %q %v", own, strings.TrimSpace(u), err)
	}
	_, err = w.run(ctx, append(id, "commit", "-q", "--no-edit")...)
	return err
}

// worktree returns the refinery's detached worktree of the repository, checked out clean at base:
// reused when it is there and sound, else (first use, or left broken by a refinery killed halfway:
// a stale index.lock, a half-done merge) made anew.
func (r *Refinery) worktree(ctx context.Context, g *gitRunner, common, base string) (string, error) {
	wt := filepath.Join(common, filepath.FromSlash(WorktreeDir))
	w := &gitRunner{dir: wt, timeout: g.timeout}
	if err := w.resetTo(ctx, wt, base); err == nil {
		return wt, nil
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	// Its administrative directory (under <common>/worktrees) goes with it, so that git does not keep
	// a stale registration of the same path.
	if b, err := os.ReadFile(filepath.Join(wt, ".git")); err == nil {
		admin := strings.TrimSpace(strings.TrimPrefix(string(b), "gitdir:"))
		if rel, err := filepath.Rel(filepath.Join(common, "worktrees"), admin); err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !strings.ContainsRune(rel, filepath.Separator) {
			_ = os.RemoveAll(admin)
		}
	}
	if err := os.RemoveAll(wt); err != nil {
		return "", fmt.Errorf("remove the broken refinery worktree %s: %w", wt, err)
	}
	if err := os.MkdirAll(filepath.Dir(wt), 0o755); err != nil {
		return "", err
	}
	if _, err := g.run(ctx, "worktree", "add", "-q", "-f", "--detach", wt, base); err != nil {
		return "", fmt.Errorf("make the refinery worktree %s: %w", wt, err)
	}
	return wt, nil
}

// resetTo puts the worktree wt back to a clean checkout of base; an error when wt is no worktree.
func (w *gitRunner) resetTo(ctx context.Context, wt, base string) error {
	top, err := w.run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return err
	}
	if !samePath(strings.TrimSpace(top), wt) {
		return fmt.Errorf("%s is not a worktree of its own (top level %s)", wt, strings.TrimSpace(top))
	}
	for _, args := range [][]string{
		{"reset", "-q", "--hard"}, // also ends a merge left half-done
		{"checkout", "-q", "-f", "--detach", base},
		{"clean", "-q", "-f", "-f", "-d"},
	} {
		if _, err := w.run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

func samePath(a, b string) bool {
	if ea, err := filepath.EvalSymlinks(a); err == nil {
		a = ea
	}
	if eb, err := filepath.EvalSymlinks(b); err == nil {
		b = eb
	}
	return filepath.Clean(a) == filepath.Clean(b)
}

// checkedOut returns the work tree that has branch checked out ("" when none does).
func (g *gitRunner) checkedOut(ctx context.Context, branch string) (string, error) {
	out, err := g.run(ctx, "worktree", "list", "--porcelain", "-z")
	if err != nil {
		return "", fmt.Errorf("list the work trees of %s: %w", g.dir, err)
	}
	var path string
	for _, l := range strings.Split(out, "\x00") {
		switch {
		case strings.HasPrefix(l, "worktree "):
			path = strings.TrimPrefix(l, "worktree ")
		case l == "branch refs/heads/"+branch:
			return path, nil
		}
	}
	return "", nil
}

// checkLocalChanges fails with ErrLocalChanges when the work tree that has target checked out has
// local changes, or untracked files, at paths that the merge changes (changed): fast-forwarding it
// would be refused.
func (g *gitRunner) checkLocalChanges(ctx context.Context, target string, changed []string) error {
	co, err := g.checkedOut(ctx, target)
	if err != nil || co == "" {
		return err
	}
	c := &gitRunner{dir: co, timeout: g.timeout}
	st, err := c.run(ctx, "status", "--porcelain", "-z", "--untracked-files=all", "--no-renames")
	if err != nil {
		return fmt.Errorf("status of %s: %w", co, err)
	}
	var dirty []string
	for _, e := range strings.Split(st, "\x00") {
		if len(e) > 3 {
			dirty = append(dirty, e[3:])
		}
	}
	if len(dirty) == 0 {
		return nil
	}
	var hit []string
	for _, d := range dirty {
		for _, f := range changed {
			if d == f || strings.HasPrefix(f, d+"/") || strings.HasPrefix(d, f+"/") {
				hit = append(hit, d)
				break
			}
		}
	}
	if len(hit) > 0 {
		return fmt.Errorf("merge into %s: %w (%s, checked out in %s): commit, stash or remove them", target, ErrLocalChanges, strings.Join(hit, ", "), co)
	}
	return nil
}

// advance moves the local branch target from pre to merge: a fast-forward of the work tree that has
// it checked out (its files follow), else a compare-and-swap of the ref. Either fails when the branch
// is no longer at pre.
func (g *gitRunner) advance(ctx context.Context, target, pre, merge, msg string) error {
	ref := "refs/heads/" + target
	co, err := g.checkedOut(ctx, target)
	if err != nil {
		return err
	}
	if co == "" {
		if _, err := g.run(ctx, "update-ref", "-m", "gtc refinery: "+msg, ref, merge, pre); err != nil {
			return fmt.Errorf("move %s to %s: %w", target, merge, err)
		}
		return nil
	}
	c := &gitRunner{dir: co, timeout: g.timeout}
	if cur, err := c.run(ctx, "rev-parse", "--verify", "-q", ref); err != nil || strings.TrimSpace(cur) != pre {
		return fmt.Errorf("move %s to %s: the branch moved from %s while the merge was built (now %s); nothing landed", target, merge, pre, strings.TrimSpace(cur))
	}
	if _, err := c.run(ctx, "merge", "--ff-only", "-q", merge); err != nil {
		if strings.Contains(err.Error(), "would be overwritten") {
			return fmt.Errorf("fast-forward %s in %s: %w: %v", target, co, ErrLocalChanges, err)
		}
		return fmt.Errorf("fast-forward %s in %s: %w", target, co, err)
	}
	return nil
}

// followRemote brings the local branch target to merge after the push, when that is a fast-forward
// (a work tree that has it checked out is fast-forwarded). A missing local branch is left missing.
func (g *gitRunner) followRemote(ctx context.Context, target, merge, msg string) error {
	ref := "refs/heads/" + target
	out, err := g.run(ctx, "rev-parse", "--verify", "-q", ref)
	if err != nil {
		return nil
	}
	cur := strings.TrimSpace(out)
	if cur == merge {
		return nil
	}
	if _, err := g.run(ctx, "merge-base", "--is-ancestor", cur, merge); err != nil {
		return fmt.Errorf("local %s (%s) is not behind the merge %s: left where it is", target, cur, merge)
	}
	if err := g.advance(ctx, target, cur, merge, msg); err != nil {
		return fmt.Errorf("local %s left at %s: %v", target, cur, err)
	}
	return nil
}

// ChangedFiles lists the files commit changes relative to its merge base with target (for Submission.Files).
func ChangedFiles(ctx context.Context, repoDir, target, commit string) ([]string, error) {
	g := &gitRunner{dir: repoDir}
	out, err := g.run(ctx, "diff", "--name-only", "-z", target+"..."+commit, "--")
	if err != nil {
		return nil, fmt.Errorf("changed files of %s against %s: %w", commit, target, err)
	}
	return splitZ(out), nil
}

func (r *Refinery) identity(ctx context.Context, g *gitRunner) []string {
	var args []string
	if out, err := g.run(ctx, "config", "user.name"); err != nil || strings.TrimSpace(out) == "" {
		name := r.Name
		if name == "" {
			name = "gtc refinery"
		}
		args = append(args, "-c", "user.name="+name)
	}
	if out, err := g.run(ctx, "config", "user.email"); err != nil || strings.TrimSpace(out) == "" {
		email := r.Email
		if email == "" {
			email = "refinery@gtc.invalid"
		}
		args = append(args, "-c", "user.email="+email)
	}
	return args
}

// runGate runs gate with sh -c in dir, in a process group of its own that is killed when ctx ends or
// this process dies, and returns the tail of its combined output. repo is the workspace (GTC_REPO).
func (r *Refinery) runGate(ctx context.Context, dir, repo, gate string, req Request) (string, error) {
	outer := ctx
	limit := r.gateTimeout()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	n := r.OutputTail
	if n <= 0 {
		n = 4096
	}
	tail := &tailBuffer{max: n}
	if abs, err := filepath.Abs(repo); err == nil {
		repo = abs
	}
	env := append(os.Environ(), "GTC_ISSUE="+req.IssueID, "GTC_WORKER="+req.Worker,
		"GTC_BRANCH="+req.Branch, "GTC_TARGET="+req.Target, "GTC_REPO="+repo)
	err := runGroup(ctx, dir, gate, env, tail)
	if err != nil && ctx.Err() != nil {
		if outer.Err() == nil {
			fmt.Fprintf(tail, "\n[gate stopped: timed out after %v]\n", limit)
		} else {
			fmt.Fprintf(tail, "\n[gate stopped: %v]\n", ctx.Err())
		}
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return tail.String(), err
}

// gateTimeout is the effective bound on a gate: GateTimeout, DefaultGateTimeout when zero, none (0) when negative.
func (r *Refinery) gateTimeout() time.Duration {
	switch {
	case r.GateTimeout < 0:
		return 0
	case r.GateTimeout == 0:
		return DefaultGateTimeout
	}
	return r.GateTimeout
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}

// gitRunner runs git commands in one directory.
type gitRunner struct {
	dir     string
	timeout time.Duration // per command; 0: the default (10m)
}

// run executes git args and returns stdout; a failure carries git's stderr.
func (g *gitRunner) run(ctx context.Context, args ...string) (string, error) {
	out, _, err := g.runCode(ctx, args...)
	return out, err
}

// runCode is run that also returns the exit code (-1 when git did not run).
func (g *gitRunner) runCode(ctx context.Context, args ...string) (string, int, error) {
	timeout := g.timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.WaitDelay = 2 * time.Second // a killed git's children (ssh, upload-pack) may hold the pipes open
	cmd.Dir = g.dir
	cmd.Env = append(cmd.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C", "GIT_MERGE_AUTOEDIT=no")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return stdout.String(), code, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, flatten(stderr.String()))
	}
	return stdout.String(), 0, nil
}

// commonDir returns the absolute path of the repository's (common) git directory.
func (g *gitRunner) commonDir(ctx context.Context) (string, error) {
	out, err := g.run(ctx, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return "", fmt.Errorf("%s is not a git repository: %w", g.dir, err)
	}
	return strings.TrimSpace(out), nil
}

func (g *gitRunner) head(ctx context.Context) (string, error) {
	out, err := g.run(ctx, "rev-parse", "HEAD")
	if err != nil {
		return "", fmt.Errorf("read HEAD in %s: %w", g.dir, err)
	}
	return strings.TrimSpace(out), nil
}

func (g *gitRunner) hasRemote(ctx context.Context, name string) (bool, error) {
	out, err := g.run(ctx, "remote")
	if err != nil {
		return false, fmt.Errorf("list remotes in %s: %w", g.dir, err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == name {
			return true, nil
		}
	}
	return false, nil
}

// resolve finds branch as the remote's copy (when there is a remote), then, if local, as a local branch.
func (g *gitRunner) resolve(ctx context.Context, hasRemote bool, remote, branch string, local bool) (string, error) {
	var refs []string
	if hasRemote {
		refs = append(refs, "refs/remotes/"+remote+"/"+branch)
	}
	if local {
		refs = append(refs, "refs/heads/"+branch)
	}
	for _, ref := range refs {
		if out, err := g.run(ctx, "rev-parse", "--verify", "-q", ref+"^{commit}"); err == nil {
			return strings.TrimSpace(out), nil
		}
	}
	return "", fmt.Errorf("no branch %s in %s (looked at %s)", branch, g.dir, strings.Join(refs, ", "))
}

// onFirstParentLine reports whether src, an ancestor of tip, is a commit of tip's own first-parent
// line (the branch was cut there and never got a commit of its own, or was fast-forwarded onto it)
// rather than a commit that a merge brought in. The walk stops at src's parents.
func (g *gitRunner) onFirstParentLine(ctx context.Context, src, tip string) (bool, error) {
	out, err := g.run(ctx, "rev-list", "--first-parent", tip, "^"+src+"^@")
	if err != nil {
		return false, fmt.Errorf("walk the first-parent line of %s down to %s: %w", tip, src, err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == src {
			return true, nil
		}
	}
	return false, nil
}

// mergeTree checks the merge of src into base without touching any work tree: the merged tree when
// it is clean, else the conflicting files.
func (g *gitRunner) mergeTree(ctx context.Context, base, src string) (string, []string, error) {
	out, code, err := g.runCode(ctx, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base, src)
	switch code {
	case 0:
		names := splitZ(out)
		if len(names) == 0 {
			return "", nil, fmt.Errorf("check merge of %s into %s: no tree in %q", src, base, out)
		}
		return strings.TrimSpace(names[0]), nil, nil
	case 1:
		names := splitZ(out)
		if len(names) > 0 {
			names = names[1:] // the first entry is the tree id
		}
		if len(names) == 0 {
			names = []string{"(unknown)"}
		}
		return "", names, nil
	default:
		return "", nil, fmt.Errorf("check merge of %s into %s: %w", src, base, err)
	}
}

// clean puts the work tree back to HEAD (ending a merge left half-done): tracked files reset,
// untracked ones (not ignored) removed. It runs even when ctx is done.
func (g *gitRunner) clean(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = g.run(ctx, "reset", "-q", "--hard", "HEAD")
	_, _ = g.run(ctx, "clean", "-q", "-f", "-f", "-d")
}

// flatten puts git's multi-line stderr on one line: a line ending in ':' runs into the next (the list
// it introduces), other lines are separated by "; ".
func flatten(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// splitZ splits NUL-separated output, dropping empty and repeated entries.
func splitZ(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, "\x00") {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}
