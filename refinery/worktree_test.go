//go:build unix

package refinery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTargetUntouchedWhileGating: the target does not move before the gate passed. The gate itself
// checks that the target (the workspace's checked-out main, or the remote's main) is still the
// pre-merge commit and that the workspace's files are not the merged ones; a failing gate leaves the
// target there, a passing one moves it to the merge. Old code merged onto the target first.
func TestTargetUntouchedWhileGating(t *testing.T) {
	for _, remote := range []bool{false, true} {
		for _, pass := range []bool{true, false} {
			t.Run(fmt.Sprintf("remote=%v pass=%v", remote, pass), func(t *testing.T) {
				var ws, readTarget string
				if remote {
					bare, seed := newRemote(t)
					git(t, seed, "checkout", "-q", "-b", "w1", "main")
					commit(t, seed, "w1", map[string]string{"new.txt": "n\n"})
					git(t, seed, "push", "-q", "origin", "w1")
					ws = filepath.Join(t.TempDir(), "ws")
					git(t, filepath.Dir(ws), "clone", "-q", bare, ws)
					readTarget = "git --git-dir=" + bare + " rev-parse main"
				} else {
					ws = newRepo(t)
					branch(t, ws, "w1", map[string]string{"new.txt": "n\n"})
					readTarget = `git -C "$GTC_REPO" rev-parse main`
				}
				pre := git(t, ws, "rev-parse", "main")
				exit := 0
				if !pass {
					exit = 1
				}
				gate := fmt.Sprintf(`test -f new.txt && test "$(%s)" = %s && test ! -f "$GTC_REPO/new.txt" && `+
					`test "$(git -C "$GTC_REPO" rev-parse HEAD)" = %s && echo target untouched; exit %d`, readTarget, pre, pre, exit)
				res, err := Merge(context.Background(), ws, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, gate)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(res.GateOutput, "target untouched") {
					t.Fatalf("the target moved before the gate passed: gate output %q", res.GateOutput)
				}
				if res.Merged != pass || res.GateFailed == pass {
					t.Fatalf("result %+v", res)
				}
				main := git(t, ws, "rev-parse", "main")
				if remote {
					main = git(t, ws, "rev-parse", "origin/main")
				}
				if !pass && main != pre {
					t.Fatalf("target %s after a failed gate, want %s", main, pre)
				}
				if pass {
					if main != res.MergeCommit || git(t, ws, "rev-parse", "HEAD") != res.MergeCommit {
						t.Fatalf("target %s, workspace HEAD %s, merge %s", main, git(t, ws, "rev-parse", "HEAD"), res.MergeCommit)
					}
					if _, err := os.Stat(filepath.Join(ws, "new.txt")); err != nil {
						t.Fatalf("the workspace's work tree did not follow the merge: %v", err)
					}
				}
				if st := git(t, ws, "status", "--porcelain"); st != "" {
					t.Fatalf("workspace status %q", st)
				}
			})
		}
	}
}

// TestLocalChangesInWorkspace: the workspace's own uncommitted changes (gtc rewrites the tracked
// .beads/issues.jsonl) do not stop a merge that does not touch them, and the checked-out target's work
// tree follows the merge; changes the merge would overwrite fail it before the gate runs, with
// ErrLocalChanges and the files named on one line, and nothing moves. Old code refused any dirty
// tracked file ("workspace has uncommitted changes").
func TestLocalChangesInWorkspace(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, ws string) // after the branch w1 (new.txt, a.txt changed) exists
		blocked string                        // the file named in ErrLocalChanges; "" when it merges
		onMain  bool                          // the workspace has main checked out
	}{
		{"modified .beads/issues.jsonl", func(t *testing.T, ws string) {
			write(t, ws, ".beads/issues.jsonl", `{"id":"gt-1","status":"closed"}`+"\n")
		}, "", true},
		{"modified file of the merge", func(t *testing.T, ws string) {
			write(t, ws, "a.txt", "local edit\n")
		}, "a.txt", true},
		{"untracked file where the merge adds one", func(t *testing.T, ws string) {
			write(t, ws, "new.txt", "untracked\n")
		}, "new.txt", true},
		{"target not checked out", func(t *testing.T, ws string) {
			git(t, ws, "checkout", "-q", "-b", "elsewhere", "main")
			write(t, ws, "a.txt", "local edit\n")
		}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := newRepo(t)
			commit(t, ws, "beads", map[string]string{".beads/issues.jsonl": `{"id":"gt-1","status":"open"}` + "\n"})
			branch(t, ws, "w1", map[string]string{"new.txt": "n\n", "a.txt": "one\nTWO\nthree\n"})
			pre := git(t, ws, "rev-parse", "main")
			tc.setup(t, ws)
			dirty := git(t, ws, "status", "--porcelain")
			marker := filepath.Join(t.TempDir(), "gated")
			res, err := Merge(context.Background(), ws, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "touch "+marker)
			_, gated := os.Stat(marker)
			if tc.blocked != "" {
				if !errors.Is(err, ErrLocalChanges) || !strings.Contains(err.Error(), tc.blocked) || strings.Contains(err.Error(), "\n") || res.Merged {
					t.Fatalf("merge over local changes: %+v %v", res, err)
				}
				if gated == nil {
					t.Fatal("the gate ran although the merge could not land")
				}
				if got := git(t, ws, "rev-parse", "main"); got != pre {
					t.Fatalf("main moved to %s", got)
				}
				if got := git(t, ws, "status", "--porcelain"); got != dirty {
					t.Fatalf("local changes touched: status %q, was %q", got, dirty)
				}
				return
			}
			if err != nil || !res.Merged || gated != nil {
				t.Fatalf("merge with unrelated local changes: %+v %v (gated: %v)", res, err, gated)
			}
			if got := git(t, ws, "rev-parse", "main"); got != res.MergeCommit {
				t.Fatalf("main %s, merge %s", got, res.MergeCommit)
			}
			if got := git(t, ws, "status", "--porcelain"); got != dirty {
				t.Fatalf("workspace status %q, want the local changes alone %q", got, dirty)
			}
			if !tc.onMain {
				return
			}
			if b, err := os.ReadFile(filepath.Join(ws, "new.txt")); err != nil || string(b) != "n\n" {
				t.Fatalf("the workspace's work tree does not have the merged files: %q %v", b, err)
			}
			if b, _ := os.ReadFile(filepath.Join(ws, ".beads", "issues.jsonl")); !strings.Contains(string(b), "closed") {
				t.Fatalf("the local .beads/issues.jsonl was lost: %q", b)
			}
		})
	}
}

// TestBrokenWorktreeIsRemade: a refinery worktree left broken (a stale index.lock of a refinery killed
// mid-merge, or its directory gone) is made anew by the next merge.
func TestBrokenWorktreeIsRemade(t *testing.T) {
	ws := newRepo(t)
	branch(t, ws, "w1", map[string]string{"new1.txt": "1\n"})
	branch(t, ws, "w2", map[string]string{"new2.txt": "2\n"})
	branch(t, ws, "w3", map[string]string{"new3.txt": "3\n"})
	ctx := context.Background()
	if res, err := Merge(ctx, ws, Request{Branch: "w1", IssueID: "gt-1"}, "true"); err != nil || !res.Merged {
		t.Fatalf("first merge: %+v %v", res, err)
	}
	wt := filepath.Join(ws, ".git", filepath.FromSlash(WorktreeDir))
	admin := git(t, wt, "rev-parse", "--absolute-git-dir")
	write(t, admin, "index.lock", "")
	if res, err := Merge(ctx, ws, Request{Branch: "w2", IssueID: "gt-2"}, "test -f new1.txt && test -f new2.txt"); err != nil || !res.Merged {
		t.Fatalf("merge after a stale index.lock: %+v %v", res, err)
	}
	if err := os.RemoveAll(wt); err != nil {
		t.Fatal(err)
	}
	if res, err := Merge(ctx, ws, Request{Branch: "w3", IssueID: "gt-3"}, "test -f new3.txt"); err != nil || !res.Merged {
		t.Fatalf("merge after the worktree was removed: %+v %v", res, err)
	}
	if n := strings.Count(git(t, ws, "worktree", "list", "--porcelain"), "worktree "); n != 2 {
		t.Fatalf("%d worktrees registered, want the workspace and the refinery's", n)
	}
}

// helperEnv names the repository a re-executed test binary merges in (TestHelperMergeProcess).
const helperEnv = "GTC_REFINERY_TEST_MERGE_IN"

// TestHelperMergeProcess is not a test: run as a subprocess (helperEnv set), it merges w1 in that
// repository with the gate in GTC_REFINERY_TEST_GATE, as a refinery process would.
func TestHelperMergeProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	res, err := Merge(context.Background(), dir, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, os.Getenv("GTC_REFINERY_TEST_GATE"))
	fmt.Printf("%+v %v\n", res, err)
	os.Exit(0)
}

// TestRefineryKilledMidGate: a refinery process killed (kill -9) while its gate runs leaves the target
// at the pre-merge commit and takes the gate's whole process group with it; a later Merge of the same
// request builds and gates the merge again instead of reporting it merged. Old code left the ungated
// merge on the target (reported merged at the next try, without a gate) and the gate running.
func TestRefineryKilledMidGate(t *testing.T) {
	ws := newRepo(t)
	branch(t, ws, "w1", map[string]string{"new.txt": "n\n"})
	pre := git(t, ws, "rev-parse", "main")
	tmp := t.TempDir()
	started, pids := filepath.Join(tmp, "started"), filepath.Join(tmp, "pids")
	gate := fmt.Sprintf(`sleep 30 >/dev/null 2>&1 & echo $$ $! > %s; touch %s; wait`, pids, started)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMergeProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+ws, "GTC_REFINERY_TEST_GATE="+gate)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the gate to start", func() bool { _, err := os.Stat(started); return err == nil })
	var shell, sleeper int
	if b, err := os.ReadFile(pids); err != nil {
		t.Fatal(err)
	} else if _, err := fmt.Sscan(string(b), &shell, &sleeper); err != nil {
		t.Fatalf("pids %q: %v", b, err)
	}
	t.Cleanup(func() { killPid(shell); killPid(sleeper) })
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitFor(t, 10*time.Second, "the gate's processes to die with the refinery", func() bool {
		return !alive(shell) && !alive(sleeper)
	})
	if got := git(t, ws, "rev-parse", "main"); got != pre {
		t.Fatalf("main %s after the refinery died mid-gate, want %s", got, pre)
	}
	if st := git(t, ws, "status", "--porcelain"); st != "" {
		t.Fatalf("workspace status %q", st)
	}
	marker := filepath.Join(tmp, "gated again")
	res, err := Merge(context.Background(), ws, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "touch '"+marker+"'")
	if err != nil || !res.Merged {
		t.Fatalf("merge after the restart: %+v %v", res, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the retry was reported merged without running the gate")
	}
	if parents := git(t, ws, "log", "-1", "--format=%P", "main"); !strings.HasPrefix(parents, pre+" ") {
		t.Fatalf("merge parents %q, want %s first", parents, pre)
	}
}

// TestGateProcessGroupKilled: what the gate started dies with it, when ctx is cancelled mid-gate and
// when the gate's shell exits leaving a background job behind (old code left that one running).
func TestGateProcessGroupKilled(t *testing.T) {
	for _, cancelIt := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancelled=%v", cancelIt), func(t *testing.T) {
			ws := newRepo(t)
			branch(t, ws, "w1", map[string]string{"new.txt": "n\n"})
			tmp := t.TempDir()
			pids := filepath.Join(tmp, "pids")
			gate := fmt.Sprintf(`sleep 30 >/dev/null 2>&1 & echo $! > %s; exit 1`, pids)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if cancelIt {
				gate = fmt.Sprintf(`sleep 30 >/dev/null 2>&1 & echo $! > %s; wait`, pids)
				go func() {
					for ctx.Err() == nil {
						if _, err := os.Stat(pids); err == nil {
							time.Sleep(50 * time.Millisecond)
							cancel()
						}
						time.Sleep(10 * time.Millisecond)
					}
				}()
			}
			res, err := Merge(ctx, ws, Request{Branch: "w1", IssueID: "gt-1"}, gate)
			if res.Merged || (cancelIt && err == nil) || (!cancelIt && (err != nil || !res.GateFailed)) {
				t.Fatalf("result %+v %v", res, err)
			}
			var sleeper int
			if b, err := os.ReadFile(pids); err != nil {
				t.Fatal(err)
			} else if _, err := fmt.Sscan(string(b), &sleeper); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { killPid(sleeper) })
			waitFor(t, 5*time.Second, "the gate's background job to die", func() bool { return !alive(sleeper) })
		})
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLocalChangeDuringGate: a local change the merge would overwrite that appears in the workspace
// while the gate runs (after the check before it) makes the fast-forward fail: ErrLocalChanges,
// main not moved, the change kept.
func TestLocalChangeDuringGate(t *testing.T) {
	ws := newRepo(t)
	branch(t, ws, "w1", map[string]string{"a.txt": "one\nTWO\nthree\n"})
	pre := git(t, ws, "rev-parse", "main")
	res, err := Merge(context.Background(), ws, Request{Branch: "w1", IssueID: "gt-1"}, `echo edit > "$GTC_REPO/a.txt"`)
	if !errors.Is(err, ErrLocalChanges) || res.Merged || strings.Contains(err.Error(), "\n") {
		t.Fatalf("result %+v %v", res, err)
	}
	if got := git(t, ws, "rev-parse", "main"); got != pre {
		t.Fatalf("main moved to %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "a.txt")); string(b) != "edit\n" {
		t.Fatalf("the local change was lost: %q", b)
	}
}

// TestBranchCopyOfIssuesJSONLLeftOut: gtc owns the workspace's .beads/issues.jsonl on the target. A
// branch that committed its own copy (an agent's bd writing its worktree's file) — changed where main
// changed it too (a conflict), or only on the branch, or a file main does not have — merges with the
// rest of its work; the target keeps its version (the workspace's local edit of it too), and the result
// says the branch's changes to it were left out.
func TestBranchCopyOfIssuesJSONLLeftOut(t *testing.T) {
	const own = ".beads/issues.jsonl"
	for _, tc := range []struct {
		name        string
		onMain      bool // main has the file
		mainChanges bool // main changes it after the branch was cut (a conflict)
	}{
		{"conflicting", true, true},
		{"branch only", true, false},
		{"new on the branch", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := newRepo(t)
			if tc.onMain {
				commit(t, ws, "beads", map[string]string{own: `{"id":"gt-1","status":"open"}` + "\n"})
			}
			branch(t, ws, "w1", map[string]string{"new.txt": "n\n", own: `{"id":"gt-1","status":"in_progress","assignee":"agent"}` + "\n"})
			if tc.mainChanges {
				commit(t, ws, "gtc export", map[string]string{own: `{"id":"gt-1","status":"closed"}` + "\n"})
			}
			var kept []byte
			if tc.onMain {
				kept = []byte(git(t, ws, "show", "main:"+own) + "\n")
				write(t, ws, own, string(kept)+`{"id":"gt-2","status":"open"}`+"\n") // gtc's uncommitted export
			}
			local, _ := os.ReadFile(filepath.Join(ws, own))
			res, err := Merge(context.Background(), ws, Request{Branch: "w1", IssueID: "gt-1", Worker: "w"}, "")
			if err != nil || !res.Merged || len(res.Conflicts) != 0 {
				t.Fatalf("merge of a branch carrying %s: %+v %v", own, res, err)
			}
			if !strings.Contains(res.Warning, own) {
				t.Errorf("warning %q does not say %s was left out", res.Warning, own)
			}
			if got := git(t, ws, "rev-parse", "main"); got != res.MergeCommit {
				t.Fatalf("main %s, merge %s", got, res.MergeCommit)
			}
			if got := git(t, ws, "log", "-1", "--format=%s%n%P", "main"); !strings.HasPrefix(got, "Merge gt-1: w\n") || len(strings.Fields(got)) != 5 {
				t.Errorf("merge commit subject and parents %q, want \"Merge gt-1: w\" with two parents", got)
			}
			if b, err := os.ReadFile(filepath.Join(ws, "new.txt")); err != nil || string(b) != "n\n" {
				t.Fatalf("the branch's other work did not land: %q %v", b, err)
			}
			if tc.onMain {
				if got := git(t, ws, "show", res.MergeCommit+":"+own) + "\n"; got != string(kept) {
					t.Errorf("the merge commit's %s is %q, want the target's %q", own, got, kept)
				}
			} else if out, err := exec.Command("git", "-C", ws, "cat-file", "-e", res.MergeCommit+":"+own).CombinedOutput(); err == nil {
				t.Errorf("the branch's new %s landed (%s)", own, out)
			}
			if b, _ := os.ReadFile(filepath.Join(ws, own)); string(b) != string(local) {
				t.Errorf("the workspace's %s is %q, want its local copy %q", own, b, local)
			}
			// a branch whose only change is that file has no work to merge
			branch(t, ws, "w2", map[string]string{own: `{"id":"gt-9","status":"open"}` + "\n"})
			if r2, err := Merge(context.Background(), ws, Request{Branch: "w2", IssueID: "gt-9", Worker: "w"}, ""); err != nil || !r2.NoCommits || r2.Merged {
				t.Errorf("merge of a branch changing only %s: %+v %v, want NoCommits", own, r2, err)
			}
		})
	}
}
