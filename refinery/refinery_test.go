package refinery

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// git runs a git command in dir for test setup and fails the test on error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@t", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func commit(t *testing.T, dir, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		write(t, dir, name, content)
		git(t, dir, "add", name)
	}
	git(t, dir, "commit", "-q", "-m", msg)
	return git(t, dir, "rev-parse", "HEAD")
}

// newRepo makes a repository on main with two files, without a configured identity (the refinery
// must supply one).
func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	commit(t, dir, "base", map[string]string{"a.txt": "one\ntwo\nthree\n", "dir/b.txt": "b\n"})
	return dir
}

// branch creates branch from main with a commit of files and returns to main.
// newRemote makes a bare repository and a seed repository whose main is pushed to it as origin.
func newRemote(t *testing.T) (bare, seed string) {
	t.Helper()
	bare = filepath.Join(t.TempDir(), "remote.git")
	seed = newRepo(t)
	git(t, filepath.Dir(bare), "init", "-q", "--bare", "-b", "main", bare)
	git(t, seed, "remote", "add", "origin", bare)
	git(t, seed, "push", "-q", "origin", "main")
	return bare, seed
}

func branch(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	git(t, dir, "checkout", "-q", "-b", name, "main")
	c := commit(t, dir, "work on "+name, files)
	git(t, dir, "checkout", "-q", "main")
	return c
}

func TestMergeConflictNamesFiles(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"a.txt": "one\nTWO by w1\nthree\n", "dir/b.txt": "b1\n", "new.txt": "n\n"})
	pre := commit(t, dir, "main moves", map[string]string{"a.txt": "one\ntwo on main\nthree\n", "dir/b.txt": "b2\n"})
	res, err := Merge(context.Background(), dir, Request{Branch: "w1", Target: "main", IssueID: "bd-1", Worker: "w1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Merged || !reflect.DeepEqual(res.Conflicts, []string{"a.txt", "dir/b.txt"}) {
		t.Fatalf("result %+v, want conflicts a.txt, dir/b.txt", res)
	}
	if head := git(t, dir, "rev-parse", "HEAD"); head != pre {
		t.Fatalf("HEAD moved to %s on a conflict", head)
	}
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Fatalf("work tree touched: %q", st)
	}
}

func TestMergeCleanAndGate(t *testing.T) {
	cases := []struct {
		name       string
		gate       string
		wantMerged bool
		wantOutput string
	}{
		{"no gate", "", true, ""},
		{"gate sees merged tree", `test -f new.txt && grep -q "TWO by w1" a.txt && echo ok $GTC_ISSUE`, true, "ok bd-2\n"},
		{"failing gate", `echo building; echo "FAIL: TestX" >&2; exit 3`, false, "building\nFAIL: TestX\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := newRepo(t)
			tip := branch(t, dir, "w1", map[string]string{"a.txt": "one\nTWO by w1\nthree\n", "new.txt": "n\n"})
			pre := commit(t, dir, "main moves", map[string]string{"other.txt": "o\n"})
			res, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "bd-2", Worker: "w1"}, tc.gate)
			if err != nil {
				t.Fatal(err)
			}
			if res.Merged != tc.wantMerged || res.GateFailed == tc.wantMerged || res.GateOutput != tc.wantOutput || len(res.Conflicts) != 0 {
				t.Fatalf("result %+v", res)
			}
			head := git(t, dir, "rev-parse", "HEAD")
			if !tc.wantMerged {
				if head != pre || git(t, dir, "status", "--porcelain", "--untracked-files=no") != "" {
					t.Fatalf("failed gate left HEAD %s (want %s) or a dirty tree", head, pre)
				}
				return
			}
			if head != res.MergeCommit {
				t.Fatalf("HEAD %s != merge commit %s", head, res.MergeCommit)
			}
			if parents := git(t, dir, "log", "-1", "--format=%P"); parents != pre+" "+tip {
				t.Fatalf("parents %q, want %s %s (no fast-forward)", parents, pre, tip)
			}
			if msg := git(t, dir, "log", "-1", "--format=%s"); msg != "Merge bd-2: w1" {
				t.Fatalf("message %q", msg)
			}
			// Merging the same branch again is a no-op success (a retry after a lost report).
			again, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "bd-2", Worker: "w1"}, "exit 1")
			if err != nil || !again.Merged || again.MergeCommit != res.MergeCommit {
				t.Fatalf("second merge %+v %v", again, err)
			}
		})
	}
}

func TestGateOutputTail(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
	r := &Refinery{OutputTail: 16}
	res, err := r.Merge(context.Background(), dir, Request{Branch: "w1"}, `i=0; while [ $i -lt 100 ]; do echo line$i; i=$((i+1)); done; exit 1`)
	if err != nil {
		t.Fatal(err)
	}
	if !res.GateFailed || !strings.HasSuffix(res.GateOutput, "line98\nline99\n") || len(res.GateOutput) > 16+len("…") {
		t.Fatalf("tail %q", res.GateOutput)
	}
}

func TestGateStoppedUndoes(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
	pre := git(t, dir, "rev-parse", "HEAD")
	// Running over GateTimeout is a gate failure (the change hangs its tests).
	r := &Refinery{GateTimeout: 300 * time.Millisecond}
	res, err := r.Merge(context.Background(), dir, Request{Branch: "w1"}, "echo started; sleep 30 & wait")
	if err != nil || !res.GateFailed || !strings.Contains(res.GateOutput, "[gate stopped: timed out after 300ms]") {
		t.Fatalf("gate over its timeout: %+v %v", res, err)
	}
	if res.Merged || git(t, dir, "rev-parse", "HEAD") != pre {
		t.Fatalf("merge kept after a timed-out gate: %+v", res)
	}
	// The caller's context ending is an error, not a verdict on the change.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err = Merge(ctx, dir, Request{Branch: "w1"}, "sleep 30 & wait")
	if err == nil || res.Merged || res.GateFailed {
		t.Fatalf("cancelled merge: %+v %v", res, err)
	}
	if git(t, dir, "rev-parse", "HEAD") != pre {
		t.Fatal("merge kept after the context ended")
	}
}

func TestMergeWithRemotePushes(t *testing.T) {
	bare, seed := newRemote(t)

	// A worker clones, commits on its branch and pushes it.
	worker := filepath.Join(t.TempDir(), "worker")
	git(t, filepath.Dir(worker), "clone", "-q", bare, worker)
	git(t, worker, "checkout", "-q", "-b", "bd-3/w2")
	tip := commit(t, worker, "feature", map[string]string{"feature.txt": "f\n"})
	git(t, worker, "push", "-q", "origin", "bd-3/w2")
	// Meanwhile main moves on the remote.
	git(t, seed, "pull", "-q", "origin", "main")
	mainTip := commit(t, seed, "main work", map[string]string{"dir/b.txt": "b changed\n"})
	git(t, seed, "push", "-q", "origin", "main")

	// The refinery workspace was cloned before both pushes; Merge must fetch.
	ws := filepath.Join(t.TempDir(), "ws")
	git(t, filepath.Dir(ws), "clone", "-q", bare, ws)
	git(t, ws, "reset", "-q", "--hard", "HEAD~1")

	files, err := ChangedFiles(context.Background(), worker, "origin/main", "HEAD")
	if err != nil || !reflect.DeepEqual(files, []string{"feature.txt"}) {
		t.Fatalf("changed files %v %v", files, err)
	}
	res, err := Merge(context.Background(), ws, Request{Branch: "bd-3/w2", Commit: tip, IssueID: "bd-3", Worker: "w2"}, "test -f feature.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Merged {
		t.Fatalf("result %+v", res)
	}
	if remoteMain := git(t, bare, "rev-parse", "main"); remoteMain != res.MergeCommit {
		t.Fatalf("remote main %s, merge commit %s: not pushed", remoteMain, res.MergeCommit)
	}
	if parents := git(t, bare, "log", "-1", "--format=%P", "main"); parents != mainTip+" "+tip {
		t.Fatalf("parents %q, want %s %s", parents, mainTip, tip)
	}

	// A push race: another clone pushes to main while the gate runs; the push is rejected and the
	// workspace's main is put back.
	other := filepath.Join(t.TempDir(), "other")
	git(t, filepath.Dir(other), "clone", "-q", bare, other)
	git(t, worker, "checkout", "-q", "-b", "bd-4/w2", "origin/main")
	commit(t, worker, "second", map[string]string{"second.txt": "s\n"})
	git(t, worker, "push", "-q", "origin", "bd-4/w2")
	race := "cd " + other + " && echo r > race.txt && git add race.txt && " +
		"git -c user.name=o -c user.email=o@o commit -q -m race && git push -q origin main"
	before := git(t, ws, "rev-parse", "HEAD")
	res, err = Merge(context.Background(), ws, Request{Branch: "bd-4/w2", IssueID: "bd-4", Worker: "w2"}, race)
	if err == nil || !strings.Contains(err.Error(), "push") || res.Merged {
		t.Fatalf("push race: %+v %v", res, err)
	}
	if head := git(t, ws, "rev-parse", "HEAD"); head != before {
		t.Fatalf("workspace main %s after a rejected push, want %s", head, before)
	}
	// The retry fetches the racing commit and lands on top of it.
	res, err = Merge(context.Background(), ws, Request{Branch: "bd-4/w2", IssueID: "bd-4", Worker: "w2"}, "test -f race.txt")
	if err != nil || !res.Merged || git(t, bare, "rev-parse", "main") != res.MergeCommit {
		t.Fatalf("retry after race: %+v %v", res, err)
	}
}

func TestMergeRefusals(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
	ctx := context.Background()
	if _, err := Merge(ctx, dir, Request{Branch: "nope"}, ""); err == nil {
		t.Error("unknown branch accepted")
	}
	if _, err := Merge(ctx, dir, Request{Branch: "w1", Target: "nope"}, ""); err == nil {
		t.Error("unknown target accepted")
	}
	if _, err := Merge(ctx, dir, Request{Branch: "--upload-pack=x"}, ""); err == nil {
		t.Error("option-like ref accepted")
	}
	if _, err := Merge(ctx, dir, Request{}, ""); err == nil {
		t.Error("empty request accepted")
	}
}

// TestGateEditsDoNotWedgeNextMerge: a gate that rewrites a tracked file and leaves an untracked one
// (a regenerated lock file, build output) does not leave the work tree dirty: the next merge runs.
func TestGateEditsDoNotWedgeNextMerge(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new1.txt": "1\n"})
	branch(t, dir, "w2", map[string]string{"new2.txt": "2\n"})
	ctx := context.Background()
	res, err := Merge(ctx, dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "echo regenerated >> a.txt && echo x > gate-output.txt")
	if err != nil || !res.Merged {
		t.Fatalf("first merge: %+v %v", res, err)
	}
	if st := git(t, dir, "status", "--porcelain"); strings.TrimSpace(st) != "" {
		t.Fatalf("work tree after a gate that wrote files: %q", st)
	}
	if res, err := Merge(ctx, dir, Request{Branch: "w2", IssueID: "gt-2", Worker: "w"}, "true"); err != nil || !res.Merged {
		t.Fatalf("next merge: %+v %v", res, err)
	}
}

// TestDeletedRemoteTargetNotRecreated: a target branch deleted on the remote is not merged onto from
// the refinery's stale local copy and pushed back into existence: the merge fails.
func TestDeletedRemoteTargetNotRecreated(t *testing.T) {
	bare, seed := newRemote(t)
	git(t, seed, "push", "-q", "origin", "main:release")
	ws := filepath.Join(t.TempDir(), "ws")
	git(t, filepath.Dir(ws), "clone", "-q", bare, ws)
	git(t, seed, "checkout", "-q", "-b", "f1", "main")
	commit(t, seed, "f1", map[string]string{"f1.txt": "1\n"})
	git(t, seed, "push", "-q", "origin", "f1")
	ctx := context.Background()
	if res, err := Merge(ctx, ws, Request{Branch: "f1", Target: "release", IssueID: "gt-1"}, ""); err != nil || !res.Merged {
		t.Fatalf("first: %+v %v", res, err)
	}
	git(t, bare, "branch", "-D", "release") // retired on the remote; a second request for it is still queued
	git(t, seed, "checkout", "-q", "-b", "f2", "main")
	commit(t, seed, "f2", map[string]string{"f2.txt": "2\n"})
	git(t, seed, "push", "-q", "origin", "f2")
	if res, err := Merge(ctx, ws, Request{Branch: "f2", Target: "release", IssueID: "gt-2"}, ""); err == nil || res.Merged {
		t.Fatalf("merge onto a target deleted on the remote: %+v %v; remote branches %q", res, err, git(t, bare, "branch", "--list"))
	}
	if b := git(t, bare, "branch", "--list", "release"); strings.TrimSpace(b) != "" {
		t.Fatalf("the deleted target is back on the remote: %q", b)
	}
}

// TestGitTimeout: a git command that hangs (here a fetch from a remote whose upload-pack never answers)
// fails the merge after GitTimeout instead of holding the refinery, and its merge slot, for good.
func TestGitTimeout(t *testing.T) {
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new1.txt": "1\n"})
	hang := filepath.Join(t.TempDir(), "hang.sh")
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "remote", "add", "origin", dir)
	git(t, dir, "config", "remote.origin.uploadpack", hang)
	r := &Refinery{GitTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := r.Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "")
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("merge with a hanging fetch: %v after %v; want an error after ~300 ms", err, time.Since(start))
	}
}

// TestBranchWithoutCommitsIsNotMerged: a branch (or pinned commit) with nothing beyond the target (an
// agent that forgot to commit) is not reported merged: the result says NoCommits and the target does
// not move. A branch that a merge commit already brought onto the target still counts as merged.
func TestBranchWithoutCommitsIsNotMerged(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) Request // returns the request; HEAD is on main afterwards
	}{
		{"branch at the target's tip", func(t *testing.T, dir string) Request {
			git(t, dir, "branch", "empty", "main")
			return Request{Branch: "empty", IssueID: "gt-1", Worker: "w"}
		}},
		{"branch behind the target", func(t *testing.T, dir string) Request {
			git(t, dir, "branch", "empty", "main")
			commit(t, dir, "main moves", map[string]string{"other.txt": "o\n"})
			return Request{Branch: "empty", IssueID: "gt-1", Worker: "w"}
		}},
		{"pinned commit of the target", func(t *testing.T, dir string) Request {
			old := git(t, dir, "rev-parse", "main")
			branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
			return Request{Branch: "w1", Commit: old, IssueID: "gt-1", Worker: "w"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := newRepo(t)
			req := tc.setup(t, dir)
			pre := git(t, dir, "rev-parse", "main")
			res, err := Merge(context.Background(), dir, req, "true")
			if err != nil {
				t.Fatal(err)
			}
			if res.Merged || !res.NoCommits || res.MergeCommit != "" {
				t.Fatalf("result %+v, want not merged with NoCommits", res)
			}
			if head := git(t, dir, "rev-parse", "main"); head != pre {
				t.Fatalf("main moved to %s, want %s", head, pre)
			}
		})
	}
	t.Run("merged by the refinery before", func(t *testing.T) {
		dir := newRepo(t)
		branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
		first, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "")
		if err != nil || !first.Merged {
			t.Fatalf("first merge %+v %v", first, err)
		}
		commit(t, dir, "main moves on", map[string]string{"later.txt": "l\n"})
		again, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "")
		if err != nil || !again.Merged || again.NoCommits {
			t.Fatalf("retry of a landed merge: %+v %v", again, err)
		}
	})
	t.Run("landed through a branch built on it", func(t *testing.T) {
		// w2 was cut from w1 and merged first: w1's commit is on main through w2's merge. w1 has
		// commits of its own, already landed: merged, not NoCommits.
		dir := newRepo(t)
		branch(t, dir, "w1", map[string]string{"new1.txt": "1\n"})
		git(t, dir, "checkout", "-q", "-b", "w2", "w1")
		commit(t, dir, "w2 on w1", map[string]string{"new2.txt": "2\n"})
		git(t, dir, "checkout", "-q", "main")
		if res, err := Merge(context.Background(), dir, Request{Branch: "w2", IssueID: "gt-2", Worker: "w"}, ""); err != nil || !res.Merged {
			t.Fatalf("merge of w2: %+v %v", res, err)
		}
		res, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "")
		if err != nil || !res.Merged || res.NoCommits {
			t.Fatalf("merge of w1 after w2 brought it in: %+v %v", res, err)
		}
	})
	t.Run("with a remote", func(t *testing.T) {
		bare, seed := newRemote(t)
		git(t, seed, "push", "-q", "origin", "main:refs/heads/empty") // pushed without a commit
		ws := filepath.Join(t.TempDir(), "ws")
		git(t, filepath.Dir(ws), "clone", "-q", bare, ws)
		pre := git(t, bare, "rev-parse", "main")
		res, err := Merge(context.Background(), ws, Request{Branch: "empty", IssueID: "gt-1", Worker: "w"}, "")
		if err != nil || res.Merged || !res.NoCommits {
			t.Fatalf("empty remote branch: %+v %v", res, err)
		}
		if got := git(t, bare, "rev-parse", "main"); got != pre {
			t.Fatalf("remote main moved to %s", got)
		}
	})
}

// TestGateTimeoutDefault: a Refinery left at zero bounds its gate by DefaultGateTimeout (30 minutes,
// within the queue's one-hour MaxHold); a negative GateTimeout removes the bound.
func TestGateTimeoutDefault(t *testing.T) {
	if DefaultGateTimeout != 30*time.Minute {
		t.Errorf("DefaultGateTimeout = %v, documented as 30m", DefaultGateTimeout)
	}
	for _, tc := range []struct {
		set, want time.Duration
	}{
		{0, 30 * time.Minute},
		{-1, 0},
		{5 * time.Second, 5 * time.Second},
	} {
		if got := (&Refinery{GateTimeout: tc.set}).gateTimeout(); got != tc.want {
			t.Errorf("GateTimeout %v: effective %v, want %v", tc.set, got, tc.want)
		}
	}
	// No bound: a gate running past what would have been a short limit still passes.
	dir := newRepo(t)
	branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
	res, err := (&Refinery{GateTimeout: -1}).Merge(context.Background(), dir, Request{Branch: "w1"}, "sleep 0.3")
	if err != nil || !res.Merged {
		t.Fatalf("unbounded gate: %+v %v", res, err)
	}
}

// TestPushNotInterrupted: a merge stopped (its context cancelled, as merge.cancel does) while its push
// runs lets the push finish and reports the merge landed, so the workspace and the remote agree; old
// code killed the push and undid the workspace's merge with the remote's fate unknown.
func TestPushNotInterrupted(t *testing.T) {
	bare, seed := newRemote(t)
	git(t, seed, "checkout", "-q", "-b", "f1", "main")
	tip := commit(t, seed, "f1", map[string]string{"f1.txt": "1\n"})
	git(t, seed, "push", "-q", "origin", "f1")
	ws := filepath.Join(t.TempDir(), "ws")
	git(t, filepath.Dir(ws), "clone", "-q", bare, ws)
	marker := filepath.Join(t.TempDir(), "pushing")
	hook := filepath.Join(bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\ntouch "+marker+"\nsleep 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(marker); err == nil {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	res, err := Merge(ctx, ws, Request{Branch: "f1", IssueID: "gt-1", Worker: "w"}, "")
	if ctx.Err() == nil {
		t.Fatal("the context was not cancelled during the push")
	}
	if err != nil || !res.Merged {
		t.Fatalf("merge cancelled during its push: %+v %v", res, err)
	}
	if remote := git(t, bare, "rev-parse", "main"); remote != res.MergeCommit || git(t, ws, "rev-parse", "HEAD") != remote {
		t.Fatalf("remote main %s, workspace %s, merge commit %s", remote, git(t, ws, "rev-parse", "HEAD"), res.MergeCommit)
	}
	if parents := git(t, bare, "log", "-1", "--format=%P", "main"); !strings.HasSuffix(parents, " "+tip) {
		t.Fatalf("remote main's parents %q do not include %s", parents, tip)
	}
}

// TestGitErrorsOnOneLine: git's multi-line complaints become one line, a list joined to the line that
// introduces it (reports are one line: a newline became "changes:;  M file").
func TestGitErrorsOnOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"error: Your local changes to the following files would be overwritten by merge:\n\ta.txt\n\tb.txt\nPlease commit your changes or stash them before you merge.\nAborting\n": "error: Your local changes to the following files would be overwritten by merge: a.txt; b.txt; Please commit your changes or stash them before you merge.; Aborting",
		"fatal: bad revision 'x'\n": "fatal: bad revision 'x'",
		"":                          "",
	} {
		if got := flatten(in); got != want {
			t.Errorf("flatten(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBeforeLandStopsTheMerge: a merge built and gated is not landed when BeforeLand refuses (the
// refinery lost its slot): the target stays where it was, with or without a remote, and the error says
// so (ErrNotLanded); a BeforeLand that agrees lets it land.
func TestBeforeLandStopsTheMerge(t *testing.T) {
	for _, withRemote := range []bool{false, true} {
		dir := newRepo(t)
		if withRemote {
			bare := filepath.Join(t.TempDir(), "remote.git")
			git(t, dir, "clone", "--quiet", "--bare", dir, bare)
			git(t, dir, "remote", "add", "origin", bare)
			git(t, dir, "fetch", "--quiet", "origin")
		}
		branch(t, dir, "w1", map[string]string{"new.txt": "n\n"})
		pre := git(t, dir, "rev-parse", "HEAD")
		asked := 0
		rf := &Refinery{BeforeLand: func(context.Context) error { asked++; return errors.New("the slot is no longer ours") }}
		res, err := rf.Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "bd-9"}, "true")
		if !errors.Is(err, ErrNotLanded) || res.Merged || asked != 1 {
			t.Fatalf("remote %v: refused landing gave %+v, %v (asked %d)", withRemote, res, err, asked)
		}
		if head := git(t, dir, "rev-parse", "HEAD"); head != pre {
			t.Fatalf("remote %v: the target moved to %s though landing was refused", withRemote, head)
		}
		if withRemote {
			if tip := git(t, dir, "ls-remote", "origin", "refs/heads/main"); !strings.HasPrefix(tip, pre) {
				t.Fatalf("the remote's main moved: %s", tip)
			}
		}
		rf.BeforeLand = func(context.Context) error { return nil }
		if res, err := rf.Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "bd-9"}, "true"); err != nil || !res.Merged {
			t.Fatalf("remote %v: landing allowed: %+v, %v", withRemote, res, err)
		}
	}
}
