package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/daemon"
)

// rfServeTracked is rfServe for the default setup: the workspace's .beads/issues.jsonl is tracked by
// git (bd's layout; only gtc's own state is ignored, by .beads/.gitignore) and --repo is the workspace.
func rfServeTracked(t *testing.T, dir string, ids ...string) *daemon.Daemon {
	t.Helper()
	d := rfServe(t, dir, ids...)
	_ = os.Remove(filepath.Join(dir, ".gitignore"))
	rfGit(t, dir, "add", "-A")
	rfGit(t, dir, "commit", "-q", "-m", "track .beads/issues.jsonl")
	if !strings.Contains(rfGit(t, dir, "ls-files"), ".beads/issues.jsonl") {
		t.Fatal(".beads/issues.jsonl is not tracked")
	}
	return d
}

// TestRefineryDefaultWorkspaceMerges: with the defaults (--repo is the workspace, whose tracked
// .beads/issues.jsonl gtc keeps rewriting), a submitted branch merges at the first attempt and the
// workspace's checked-out main follows it (its work tree has the merged file) while gtc's changes to
// .beads/issues.jsonl stay. Old code failed every attempt: "workspace has uncommitted changes".
func TestRefineryDefaultWorkspaceMerges(t *testing.T) {
	dir := t.TempDir()
	d := rfServeTracked(t, dir, "gt-1")
	rfGit(t, dir, "checkout", "-q", "-b", "feature", "main")
	rfWrite(t, dir, "feature.txt", "f\n")
	rfGit(t, dir, "add", "feature.txt")
	rfGit(t, dir, "commit", "-q", "-m", "feature")
	rfGit(t, dir, "checkout", "-q", "main")
	rfMust(t, dir, "merge", "submit", "gt-1", "feature")
	// gtc rewrites the tracked issues.jsonl (the submit, the merge's close); make sure it is dirty.
	deadline := time.Now().Add(10 * time.Second)
	for rfGit(t, dir, "status", "--porcelain", "--untracked-files=no") == "" {
		if time.Now().After(deadline) {
			t.Fatal(".beads/issues.jsonl never rewritten")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := rfRefinery(t, d, dir, "test -f feature.txt")
	r := rfFinal(t, d, "MR-1")
	if r.State != "merged" || r.Attempts != 0 {
		t.Fatalf("merge in the default workspace: state %s, attempts %d, error %q\n%s", r.State, r.Attempts, r.Error, out)
	}
	if parents := rfGit(t, dir, "log", "-1", "--format=%P", "main"); !strings.HasSuffix(parents, " "+rfGit(t, dir, "rev-parse", "feature")) {
		t.Fatalf("main's parents %q: not the merge of feature", parents)
	}
	if rfGit(t, dir, "symbolic-ref", "HEAD") != "refs/heads/main" {
		t.Fatal("the workspace is no longer on main")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "feature.txt")); err != nil || string(b) != "f\n" {
		t.Fatalf("the workspace's work tree did not follow the merge: %q %v", b, err)
	}
	if st := rfGit(t, dir, "status", "--porcelain", "--untracked-files=no"); st != "M .beads/issues.jsonl" {
		t.Fatalf("workspace status %q, want gtc's own change alone", st)
	}
}

// TestRefineryWaitsOutLocalChanges: a merge that would overwrite a local change in the workspace's
// checked-out target does not burn attempts: the refinery says why and waits, holding the slot, and
// lands it once the change is gone.
func TestRefineryWaitsOutLocalChanges(t *testing.T) {
	dir := t.TempDir()
	d := rfServe(t, dir, "gt-1")
	rfBranch(t, dir, "feature", "a.txt", "feature\n")
	rfWrite(t, dir, "a.txt", "local edit\n")
	rfMust(t, dir, "merge", "submit", "gt-1", "feature")
	out := &lockedBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runRefineryLoop(ctx, refineryOptions{Target: dialTarget{Network: "unix", Addr: d.SocketPath()},
			Name: "ref", Repo: dir, Out: out, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			LocalRetry: 50 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("refinery: %v", err)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "waiting up to 10m0s for local changes to go") {
		if time.Now().After(deadline) {
			t.Fatalf("the refinery does not say it waits:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "a.txt") || strings.Contains(out.String(), ":;") {
		t.Errorf("waiting message does not name the file on one line:\n%s", out)
	}
	time.Sleep(300 * time.Millisecond) // a few retries
	if r, _ := d.Engine().MergeGet("MR-1"); r.State != "merging" || r.Attempts != 0 {
		t.Fatalf("while waiting: state %s, attempts %d, error %q", r.State, r.Attempts, r.Error)
	}
	// the operator sees why in the queue
	if list := rfMust(t, dir, "merge", "list"); !strings.Contains(list, "waiting up to 10m0s for local") {
		t.Errorf("merge list does not show the refinery's wait:\n%s", list)
	}
	rfGit(t, dir, "checkout", "--", "a.txt")
	r := rfFinal(t, d, "MR-1")
	if r.State != "merged" || r.Attempts != 0 {
		t.Fatalf("after the local change went: state %s, attempts %d, error %q\n%s", r.State, r.Attempts, r.Error, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.txt")); string(b) != "feature\n" {
		t.Fatalf("a.txt %q after the merge", b)
	}
	if r.Progress != "" {
		t.Errorf("the wait's note outlived the attempt: %q", r.Progress)
	}
}
