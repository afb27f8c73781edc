package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// rfGit runs git in dir and returns its trimmed stdout.
func rfGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func rfWrite(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rfBranch commits one file change on a new branch off main and returns to main.
func rfBranch(t *testing.T, dir, branch, file, body string) {
	t.Helper()
	rfGit(t, dir, "checkout", "-q", "-b", branch, "main")
	rfWrite(t, dir, file, body)
	rfGit(t, dir, "commit", "-q", "-am", branch)
	rfGit(t, dir, "checkout", "-q", "main")
}

// TestRefineryEndToEnd runs a live coordinator on a workspace that is also a git repository, a
// refinery worker against it, and four submitted branches: two that conflict with each other and
// two that touch other files.
func TestRefineryEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	if _, err := initWorkspace(dir, "gt", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	rfGit(t, dir, "init", "-q", "-b", "main")
	rfWrite(t, dir, ".gitignore", ".beads/\n")
	for _, f := range []string{"a.txt", "b.txt", "c.txt"} {
		rfWrite(t, dir, f, "base "+f+"\n")
	}
	rfGit(t, dir, "add", ".")
	rfGit(t, dir, "commit", "-q", "-m", "base")
	rfBranch(t, dir, "f1", "a.txt", "one\n")
	rfBranch(t, dir, "f2", "a.txt", "two\n") // conflicts with f1 once f1 landed
	rfBranch(t, dir, "f3", "b.txt", "three\n")
	rfBranch(t, dir, "f4", "c.txt", "four\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := daemon.Config{Dir: dir, SyncInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Coord: coord.Config{AckTimeout: 2 * time.Second, HeartbeatTimeout: 3 * time.Second, Grace: 2 * time.Second}}
	d, err := daemon.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("coordinator did not stop")
		}
	}()
	now := time.Now().UTC().Truncate(time.Second)
	var puts []coord.IssuePut
	for _, id := range []string{"gt-1", "gt-2", "gt-3", "gt-4"} {
		puts = append(puts, coord.IssuePut{Issue: beads.Issue{ID: id, Title: "change " + id, Status: "closed", Priority: 2,
			IssueType: "task", CreatedAt: now, UpdatedAt: now, ClosedAt: &now, CloseReason: "completed"}})
	}
	if err := d.Engine().PutIssues(ctx, puts); err != nil {
		t.Fatal(err)
	}

	// Submit through the CLI before any refinery is there: they queue.
	for i, br := range []string{"f1", "f2", "f3", "f4"} {
		file := []string{"a.txt", "a.txt", "b.txt", "c.txt"}[i]
		args := []string{"merge", "submit", "gt-" + string(rune('1'+i)), br, "--as", "w1"}
		if i < 3 { // f4's files come from git
			args = append(args, "--file", file)
		}
		out := rfMust(t, dir, args...)
		if !strings.Contains(out, "queued MR-") {
			t.Fatalf("submit %s: %q", br, out)
		}
		if i == 1 && !strings.Contains(out, "overlaps MR-1 on a.txt") {
			t.Fatalf("f2 overlap not shown: %q", out)
		}
	}
	if out := rfMust(t, dir, "merge", "list"); strings.Count(out, "pending") != 4 {
		t.Fatalf("merge list before the refinery:\n%s", out)
	}
	if r, _ := d.Engine().MergeGet("MR-4"); !slices.Equal(r.Files, []string{"c.txt"}) {
		t.Fatalf("files of f4 from git: %v", r.Files)
	}

	refCtx, stopRef := context.WithCancel(ctx)
	refDone := make(chan error, 1)
	go func() {
		refDone <- runRefineryLoop(refCtx, refineryOptions{Target: dialTarget{Network: "unix", Addr: d.SocketPath()},
			Name: "ref", Repo: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() {
		stopRef()
		if err := <-refDone; err != nil {
			t.Errorf("refinery: %v", err)
		}
	}()

	final := func(id string) coord.MergeRequest {
		r, _ := d.Engine().MergeGet(id)
		return r
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range []string{"MR-1", "MR-2", "MR-3", "MR-4"} {
		for st := final(id).State; st != "merged" && st != "failed"; st = final(id).State {
			if time.Now().After(deadline) {
				t.Fatalf("%s still %s after 60s", id, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for id, want := range map[string]string{"MR-1": "merged", "MR-2": "failed", "MR-3": "merged", "MR-4": "merged"} {
		if r := final(id); r.State != want {
			t.Errorf("%s: %s (%s), want %s", id, r.State, r.Error, want)
		}
	}
	if r := final("MR-2"); !slices.Equal(r.Conflicts, []string{"a.txt"}) {
		t.Errorf("MR-2 conflicts %v", r.Conflicts)
	}
	// The work tree holds f1, f3 and f4, merged with --no-ff, and not f2.
	for f, want := range map[string]string{"a.txt": "one\n", "b.txt": "three\n", "c.txt": "four\n"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q", f, b, err, want)
		}
	}
	if n := strings.Count(rfGit(t, dir, "log", "--merges", "--format=%s", "main"), "\n") + 1; n != 3 {
		t.Errorf("%d merge commits on main, want 3", n)
	}
	if st := rfGit(t, dir, "status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("work tree left dirty: %q", st)
	}
	// The conflicting change's issue is open again for rework; the merged ones stay closed.
	is, _, err := d.Store().GetIssue(ctx, "gt-2")
	if err != nil || is.Status != "open" || !slices.Contains(is.Labels, "gtc:rework") {
		t.Errorf("gt-2 after the conflict: %s %v %v", is.Status, is.Labels, err)
	}
	if is, _, _ := d.Store().GetIssue(ctx, "gt-3"); is.Status != "closed" {
		t.Errorf("gt-3: %s", is.Status)
	}
	if out := rfMust(t, dir, "merge", "list"); !strings.Contains(out, "empty") {
		t.Errorf("merge list after: %q", out)
	}
	// Health, convoys over the same server.
	if out := rfMust(t, dir, "health"); !strings.HasPrefix(out, "healthy") {
		t.Errorf("health: %q", out)
	}
	if out := rfMust(t, dir, "convoy", "create", "alpha", "gt-3", "gt-4", "--title", "Alpha"); !strings.Contains(out, "convoy alpha: 2 issues") {
		t.Errorf("convoy create: %q", out)
	}
	if out := rfMust(t, dir, "convoy", "show", "alpha"); !strings.Contains(out, "100% (2 of 2 closed") || !strings.Contains(out, "complete") {
		t.Errorf("convoy show: %q", out)
	}
	if r := rfRun(dir, "convoy", "show", "nope"); r.code != exitRefused {
		t.Errorf("convoy show nope: exit %d %q", r.code, r.err)
	}
	if r := rfRun(dir, "merge", "submit", "gt-9", "f9"); r.code != exitRefused || !strings.Contains(r.err, "not_found") {
		t.Errorf("merge submit of a missing issue: exit %d %q", r.code, r.err)
	}
}

type rfResult struct {
	out, err string
	code     int
}

func rfRun(dir string, args ...string) rfResult {
	var out, errb strings.Builder
	code := run(append([]string{"gtc", "--dir", dir}, args...), &out, &errb)
	return rfResult{out.String(), errb.String(), code}
}

func rfMust(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := rfRun(dir, args...)
	if r.code != exitOK {
		t.Fatalf("gtc %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

// TestRefineryGateFailureReworks: a failing gate undoes the merge, fails the request without retry
// and reopens the issue for rework; a passing one lands.
func TestRefineryGateFailureReworks(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	if _, err := initWorkspace(dir, "gt", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	rfGit(t, dir, "init", "-q", "-b", "main")
	rfWrite(t, dir, ".gitignore", ".beads/\n")
	rfWrite(t, dir, "ok.txt", "keep me\n")
	rfWrite(t, dir, "a.txt", "a\n")
	rfGit(t, dir, "add", ".")
	rfGit(t, dir, "commit", "-q", "-m", "base")
	rfBranch(t, dir, "bad", "ok.txt", "broken\n")
	rfBranch(t, dir, "good", "a.txt", "better\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := daemon.Open(ctx, daemon.Config{Dir: dir, SyncInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	now := time.Now().UTC().Truncate(time.Second)
	var puts []coord.IssuePut
	for _, id := range []string{"gt-1", "gt-2"} {
		puts = append(puts, coord.IssuePut{Issue: beads.Issue{ID: id, Title: id, Status: "closed", Priority: 2,
			IssueType: "task", CreatedAt: now, UpdatedAt: now, ClosedAt: &now}})
	}
	if err := d.Engine().PutIssues(ctx, puts); err != nil {
		t.Fatal(err)
	}
	rfMust(t, dir, "merge", "submit", "gt-1", "bad")
	rfMust(t, dir, "merge", "submit", "gt-2", "good")
	refCtx, stopRef := context.WithCancel(ctx)
	refDone := make(chan error, 1)
	go func() {
		refDone <- runRefineryLoop(refCtx, refineryOptions{Target: dialTarget{Network: "unix", Addr: d.SocketPath()},
			Name: "ref", Repo: dir, Gate: `grep -q "keep me" ok.txt || { echo "ok.txt lost its line"; exit 1; }`,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() { stopRef(); <-refDone }()
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range []string{"MR-1", "MR-2"} {
		for {
			r, _ := d.Engine().MergeGet(id)
			if r.State == "merged" || r.State == "failed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still %s", id, r.State)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	bad, _ := d.Engine().MergeGet("MR-1")
	if bad.State != "failed" || bad.Attempts != 1 || !strings.Contains(bad.Error, "ok.txt lost its line") {
		t.Errorf("gate failure: %+v", bad)
	}
	if good, _ := d.Engine().MergeGet("MR-2"); good.State != "merged" {
		t.Errorf("good branch: %+v", good)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ok.txt")); string(b) != "keep me\n" {
		t.Errorf("the failed merge landed: ok.txt = %q", b)
	}
	if is, _, _ := d.Store().GetIssue(ctx, "gt-1"); is.Status != "open" || !slices.Contains(is.Labels, "gtc:rework") {
		t.Errorf("gt-1 not reopened for rework: %s %v", is.Status, is.Labels)
	}
}

// rfServe makes dir a gtc workspace and a git repository (main with a.txt), serves it until the test
// ends and stores the issues ids as closed (the state a code_complete outcome leaves by default).
func rfServe(t *testing.T, dir string, ids ...string) *daemon.Daemon {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	if _, err := initWorkspace(dir, "gt", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	rfGit(t, dir, "init", "-q", "-b", "main")
	rfWrite(t, dir, ".gitignore", ".beads/\n")
	rfWrite(t, dir, "a.txt", "a\n")
	rfGit(t, dir, "add", ".")
	rfGit(t, dir, "commit", "-q", "-m", "base")
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Open(ctx, daemon.Config{Dir: dir, SyncInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runDone })
	now := time.Now().UTC().Truncate(time.Second)
	var puts []coord.IssuePut
	for _, id := range ids {
		puts = append(puts, coord.IssuePut{Issue: beads.Issue{ID: id, Title: id, Status: "closed", Priority: 2,
			IssueType: "task", CreatedAt: now, UpdatedAt: now, ClosedAt: &now}})
	}
	if err := d.Engine().PutIssues(ctx, puts); err != nil {
		t.Fatal(err)
	}
	return d
}

// rfRefinery runs the reference refinery loop against d, merging in dir with gate, until the test
// ends; it returns what the refinery prints.
func rfRefinery(t *testing.T, d *daemon.Daemon, dir, gate string) *lockedBuffer {
	t.Helper()
	out := &lockedBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runRefineryLoop(ctx, refineryOptions{Target: dialTarget{Network: "unix", Addr: d.SocketPath()},
			Name: "ref", Repo: dir, Gate: gate, Out: out, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("refinery: %v", err)
		}
	})
	return out
}

// rfFinal waits until merge request id is finished (merged, failed or cancelled) and returns it.
func rfFinal(t *testing.T, d *daemon.Daemon, id string) coord.MergeRequest {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, _ := d.Engine().MergeGet(id)
		if r.State == "merged" || r.State == "failed" || r.State == "cancelled" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still %q after 60s", id, r.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRefineryEmptyBranchReworks: a branch with no commits beyond the target (the agent forgot to
// commit) is not reported merged: the request fails at once with the reason, and the issue is
// reopened for rework instead of staying closed with no work landed.
func TestRefineryEmptyBranchReworks(t *testing.T) {
	dir := t.TempDir()
	d := rfServe(t, dir, "gt-1")
	rfGit(t, dir, "branch", "forgot", "main")
	pre := rfGit(t, dir, "rev-parse", "main")
	rfMust(t, dir, "merge", "submit", "gt-1", "forgot")
	rfRefinery(t, d, dir, "")
	r := rfFinal(t, d, "MR-1")
	if r.State != "failed" || r.Attempts != 1 || r.Error != "branch forgot has no commits beyond target main" {
		t.Errorf("empty branch: state %s, attempts %d, error %q", r.State, r.Attempts, r.Error)
	}
	if got := rfGit(t, dir, "rev-parse", "main"); got != pre {
		t.Errorf("main moved to %s", got)
	}
	is, _, err := d.Store().GetIssue(context.Background(), "gt-1")
	if err != nil || is.Status != "open" || !slices.Contains(is.Labels, "gtc:rework") {
		t.Errorf("gt-1 after an empty branch: %s %v %v", is.Status, is.Labels, err)
	}
}

// TestRefineryGateTimeoutFlag: `gtc worker --role refinery --gate-timeout D` fails a merge whose gate
// hangs past D (as a failing gate: the target does not move and the issue is reworked) instead of holding the
// slot; the default is documented in the help, and a negative value is a usage error.
func TestRefineryGateTimeoutFlag(t *testing.T) {
	dir := t.TempDir()
	d := rfServe(t, dir, "gt-1")
	rfBranch(t, dir, "slow", "a.txt", "slow\n")
	pre := rfGit(t, dir, "rev-parse", "main")
	if r := rfRun(dir, "worker", "--help"); !strings.Contains(r.out, "--gate-timeout value") || !strings.Contains(r.out, "(default: 30m0s)") {
		t.Errorf("help does not show --gate-timeout with its default:\n%s", r.out)
	}
	if r := rfRun(dir, "worker", "--role", "refinery", "--name", "ref", "--gate-timeout", "-1s"); r.code != exitUsage || !strings.Contains(r.err, "--gate-timeout") {
		t.Errorf("negative --gate-timeout: exit %d %q", r.code, r.err)
	}
	rfMust(t, dir, "merge", "submit", "gt-1", "slow")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- newApp(io.Discard, io.Discard).RunContext(ctx, []string{"gtc", "--dir", dir, "worker", "--role", "refinery",
			"--name", "ref", "--gate", "echo testing; sleep 30 & wait", "--gate-timeout", "300ms"})
	}()
	start := time.Now()
	r := rfFinal(t, d, "MR-1")
	stop()
	if err := <-done; err != nil {
		t.Errorf("refinery: %v", err)
	}
	if r.State != "failed" || !strings.Contains(r.Error, "timed out after 300ms") || time.Since(start) > 20*time.Second {
		t.Errorf("hanging gate: %s after %v: %q", r.State, time.Since(start), r.Error)
	}
	if got := rfGit(t, dir, "rev-parse", "main"); got != pre {
		t.Errorf("main moved to %s after a timed-out gate", got)
	}
}

// TestMergeCancelCommand: `gtc merge cancel` withdraws a pending request by --issue, and a merging one
// by id: the refinery is told, kills the gate that would have run for 30 s, undoes the merge and does
// not report it, and takes the next request at once. Misuse is a usage error, a request already
// finished or an issue without one is refused.
func TestMergeCancelCommand(t *testing.T) {
	dir := t.TempDir()
	d := rfServe(t, dir, "gt-1", "gt-2", "gt-3")
	rfBranch(t, dir, "f1", "a.txt", "one\n")
	rfWrite(t, dir, "b.txt", "b\n")
	rfGit(t, dir, "add", "b.txt")
	rfGit(t, dir, "commit", "-q", "-m", "b")
	rfBranch(t, dir, "f2", "b.txt", "two\n")
	rfBranch(t, dir, "f3", "b.txt", "three\n")
	marks := t.TempDir()
	gate := `touch ` + marks + `/$GTC_ISSUE; if [ "$GTC_ISSUE" = gt-1 ]; then sleep 30 & wait; fi`
	for _, a := range [][]string{{"gt-1", "f1"}, {"gt-2", "f2"}, {"gt-3", "f3"}} {
		rfMust(t, dir, "merge", "submit", a[0], a[1], "--file", "x-"+a[0])
	}
	// Before any refinery: MR-3 is pending; cancel it by issue.
	if out := rfMust(t, dir, "merge", "cancel", "--issue", "gt-3", "--reason", "superseded"); !strings.HasPrefix(out, "cancelled MR-3 (gt-3): removed from the queue\ngt-3 keeps its status") {
		t.Errorf("cancel by issue: %q", out)
	}
	if r, _ := d.Engine().MergeGet("MR-3"); r.State != "cancelled" || r.Error != "superseded" {
		t.Errorf("MR-3 after cancel: %+v", r)
	}
	out := rfRefinery(t, d, dir, gate)
	deadline := time.Now().Add(20 * time.Second)
	for _, err := os.Stat(filepath.Join(marks, "gt-1")); err != nil; _, err = os.Stat(filepath.Join(marks, "gt-1")) {
		if time.Now().After(deadline) {
			t.Fatal("the gate of gt-1 did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	var res rpc.MergeCancelResult
	if err := json.Unmarshal([]byte(rfMust(t, dir, "merge", "cancel", "MR-1", "--reason", "wrong branch", "--json")), &res); err != nil ||
		res.Request.ID != "MR-1" || res.Request.State != "cancelled" || res.Request.Refinery != "ref" || res.Request.Error != "wrong branch" {
		t.Fatalf("cancel MR-1 --json: %+v %v", res, err)
	}
	if r := rfFinal(t, d, "MR-2"); r.State != "merged" || time.Since(start) > 20*time.Second {
		t.Fatalf("MR-2 after MR-1 was cancelled: %s after %v (%s)", r.State, time.Since(start), r.Error)
	}
	if r, _ := d.Engine().MergeGet("MR-1"); r.State != "cancelled" || r.Error != "wrong branch" {
		t.Errorf("MR-1 after the refinery stopped: %+v", r)
	}
	if !strings.Contains(out.String(), "MR-1 gt-1: cancelled; the merge was stopped before it landed") {
		t.Errorf("refinery output:\n%s", out)
	}
	for f, want := range map[string]string{"a.txt": "a\n", "b.txt": "two\n"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != want {
			t.Errorf("%s = %q (%v), want %q: only f2 landed", f, b, err, want)
		}
	}
	if st := rfGit(t, dir, "status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("work tree left dirty: %q", st)
	}
	for _, tc := range []struct {
		args []string
		code int
		frag string
	}{
		{[]string{"merge", "cancel", "MR-1"}, exitRefused, "already cancelled"},
		{[]string{"merge", "cancel", "--issue", "gt-2"}, exitRefused, "no pending or merging merge request"},
		{[]string{"merge", "cancel", "MR-99"}, exitRefused, "not_found"},
		{[]string{"merge", "cancel"}, exitUsage, "needs MR_ID or --issue"},
		{[]string{"merge", "cancel", "MR-2", "--issue", "gt-2"}, exitUsage, "not both"},
		{[]string{"merge", "cancel", "MR-1", "MR-2"}, exitUsage, "at most 1 argument"},
	} {
		if r := rfRun(dir, tc.args...); r.code != tc.code || !strings.Contains(r.err, tc.frag) {
			t.Errorf("gtc %s: exit %d %q, want %d with %q", strings.Join(tc.args, " "), r.code, r.err, tc.code, tc.frag)
		}
	}
}
