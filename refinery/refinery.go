// Package refinery lands merge requests with real git in a workspace repository: a clean check with
// git merge-tree, a --no-ff merge onto the target, an optional gate command on the merged tree (the
// merge is undone when it fails) and a push when the workspace has a remote.
package refinery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
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
	GateFailed  bool     // the gate exited non-zero; the merge was undone
	NoCommits   bool     // the branch (or commit) has no commits beyond the target: there is nothing to merge
	MergeCommit string   // the target's new tip when Merged
}

// Refinery holds the settings of Merge; the zero value uses the defaults named in each field.
type Refinery struct {
	Remote      string        // remote to fetch from and push to, when the workspace has it. Default "origin".
	GateTimeout time.Duration // bound on the gate command (running over is a gate failure). Default DefaultGateTimeout; negative: only ctx bounds it
	GitTimeout  time.Duration // bound on each git command (a hung fetch or push fails the attempt). Default 10m.
	OutputTail  int           // bytes of gate output kept. Default 4096.
	Name, Email string        // committer identity when the repository has none. Default "gtc refinery", "refinery@gtc.invalid".
}

// DefaultGateTimeout bounds a gate when Refinery.GateTimeout is zero: a hanging gate fails the
// attempt (as a gate failure) well within the merge queue's MaxHold (1h) instead of holding the slot.
const DefaultGateTimeout = 30 * time.Minute

// Merge lands req in repoDir with the default Refinery settings.
func Merge(ctx context.Context, repoDir string, req Request, gate string) (Result, error) {
	return (&Refinery{}).Merge(ctx, repoDir, req, gate)
}

var (
	locksMu sync.Mutex
	locks   = map[string]*sync.Mutex{}
)

// lockDir serialises merges in one workspace directory within this process.
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

// Merge lands req in the workspace repoDir: fetch (when the remote exists), check for conflicts,
// merge --no-ff onto req.Target with message "Merge <issue>: <worker>", run gate (sh -c, in repoDir)
// and undo the merge if it fails, then push. A branch with no commits beyond the target is not merged
// (Result.NoCommits): its tip is a commit of the target's first-parent line. One that a merge already
// brought onto the target (a retry after a lost report) is reported merged again. When ctx ends before
// the push, the merge is undone (an error); a push once begun is not interrupted. The workspace must
// have no uncommitted changes to tracked files; its local target branch is reset to the remote's.
// Merges of one directory are serialised.
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
	defer lockDir(repoDir)()
	g := &gitRunner{dir: repoDir, timeout: r.GitTimeout}
	remote := r.Remote
	if remote == "" {
		remote = "origin"
	}
	if _, err := g.run(ctx, "rev-parse", "--verify", "-q", "MERGE_HEAD"); err == nil {
		if _, err := g.run(ctx, "merge", "--abort"); err != nil {
			return Result{}, fmt.Errorf("abort leftover merge in %s: %w", repoDir, err)
		}
	}
	if st, err := g.run(ctx, "status", "--porcelain", "--untracked-files=no"); err != nil {
		return Result{}, fmt.Errorf("status of %s: %w", repoDir, err)
	} else if strings.TrimSpace(st) != "" {
		return Result{}, fmt.Errorf("merge in %s: workspace has uncommitted changes:\n%s", repoDir, st)
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
	// The target comes from the remote when there is one: the local branch of that name is the
	// refinery's own checkout, which would bring a branch deleted on the remote back to life.
	base, err := g.resolve(ctx, hasRemote, remote, req.Target, !hasRemote)
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
	if _, err := g.run(ctx, "checkout", "-q", "-B", req.Target, base); err != nil {
		return Result{}, fmt.Errorf("check out %s at %s: %w", req.Target, base, err)
	}
	pre, err := g.head(ctx)
	if err != nil {
		return Result{}, err
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
	conflicts, err := g.conflicts(ctx, pre, src)
	if err != nil {
		return Result{}, err
	}
	if len(conflicts) > 0 {
		return Result{Conflicts: conflicts}, nil
	}
	msg := fmt.Sprintf("Merge %s: %s", req.IssueID, req.Worker)
	args := append(r.identity(ctx, g), "merge", "--no-ff", "--no-edit", "-q", "-m", msg, src)
	if _, err := g.run(ctx, args...); err != nil {
		g.undo(ctx, pre)
		return Result{}, fmt.Errorf("merge %s into %s: %w", src, req.Target, err)
	}
	res := Result{Merged: true}
	if res.MergeCommit, err = g.head(ctx); err != nil {
		g.undo(ctx, pre)
		return Result{}, err
	}
	if gate != "" {
		out, gerr := r.runGate(ctx, repoDir, gate, req)
		res.GateOutput = out
		// What the gate wrote (a regenerated lock file, build output not ignored) is not part of the
		// merge and would leave the next merge refusing a dirty tree: the work tree goes back to HEAD.
		g.clean(ctx)
		if gerr != nil {
			g.undo(ctx, pre)
			if ctx.Err() != nil {
				return Result{GateOutput: out}, fmt.Errorf("gate for %s: %w", req.IssueID, ctx.Err())
			}
			return Result{GateOutput: out, GateFailed: true}, nil
		}
	}
	if ctx.Err() != nil {
		// Stopped (cancelled, or the refinery is shutting down) before the push: undo and say so.
		g.undo(ctx, pre)
		return Result{GateOutput: res.GateOutput}, fmt.Errorf("merge of %s stopped before the push: %w", req.IssueID, ctx.Err())
	}
	if hasRemote {
		// A push once begun runs to its end (GitTimeout still bounds it): killed halfway, it would leave
		// unknown whether the remote's target moved, while the workspace's was put back.
		if _, err := g.run(context.WithoutCancel(ctx), "push", "--quiet", remote, "HEAD:refs/heads/"+req.Target); err != nil {
			g.undo(ctx, pre)
			return Result{GateOutput: res.GateOutput}, fmt.Errorf("push %s to %s: %w", req.Target, remote, err)
		}
	}
	return res, nil
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

// runGate runs gate with sh -c in dir and returns the tail of its combined output.
func (r *Refinery) runGate(ctx context.Context, dir, gate string, req Request) (string, error) {
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
	cmd := exec.CommandContext(ctx, "sh", "-c", gate)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GTC_ISSUE="+req.IssueID, "GTC_WORKER="+req.Worker,
		"GTC_BRANCH="+req.Branch, "GTC_TARGET="+req.Target)
	cmd.Stdout, cmd.Stderr = tail, tail
	killGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
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
		return stdout.String(), code, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), 0, nil
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

// conflicts checks the merge of src into base without touching the work tree and returns the
// conflicting files (none when it merges cleanly).
func (g *gitRunner) conflicts(ctx context.Context, base, src string) ([]string, error) {
	out, code, err := g.runCode(ctx, "merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", base, src)
	switch code {
	case 0:
		return nil, nil
	case 1:
		names := splitZ(out)
		if len(names) > 0 {
			names = names[1:] // the first entry is the tree id
		}
		if len(names) == 0 {
			names = []string{"(unknown)"}
		}
		return names, nil
	default:
		return nil, fmt.Errorf("check merge of %s into %s: %w", src, base, err)
	}
}

// undo puts the target back where it was before the merge; it runs even when ctx is done.
// clean puts the work tree back to HEAD: tracked files reset, untracked ones (not ignored) removed.
func (g *gitRunner) clean(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = g.run(ctx, "reset", "-q", "--hard", "HEAD")
	_, _ = g.run(ctx, "clean", "-q", "-f", "-d")
}

func (g *gitRunner) undo(ctx context.Context, pre string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, _ = g.run(ctx, "merge", "--abort")
	_, _ = g.run(ctx, "reset", "-q", "--hard", pre)
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
