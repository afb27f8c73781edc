package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// merge submit of a branch the workspace's git repository does not have queues it but says so (a trial:
// a typo'd branch was queued silently, and the refinery spent three retries on it); an existing branch
// says nothing, and a workspace that is no git repository says nothing either.
func TestMergeSubmitNamesAMissingBranch(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	tests := []struct {
		name     string
		repo     bool
		branch   string
		wantNote bool
	}{
		{"a branch of the repository", true, "feature", false},
		{"a branch the repository does not have", true, "featrue", true},
		{"no git repository", false, "feature", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := initWorkspace(dir, "gt", false, time.Now()); err != nil {
				t.Fatal(err)
			}
			if tc.repo {
				rfGit(t, dir, "init", "-q", "-b", "main")
				rfWrite(t, dir, ".gitignore", ".beads/\n")
				rfWrite(t, dir, "a.txt", "a\n")
				rfGit(t, dir, "add", ".")
				rfGit(t, dir, "commit", "-q", "-m", "base")
				rfBranch(t, dir, "feature", "a.txt", "b\n")
			}
			srv := startServer(t, dir, nil)
			now := time.Now().UTC().Truncate(time.Second)
			if err := srv.d.Engine().PutIssues(context.Background(), []coord.IssuePut{{Issue: beads.Issue{ID: "gt-1", Title: "one", Status: "closed",
				Priority: 2, IssueType: "task", CreatedAt: now, UpdatedAt: now, ClosedAt: &now}}}); err != nil {
				t.Fatal(err)
			}
			r := rfRun(dir, "merge", "submit", "gt-1", tc.branch)
			if r.code != exitOK || !strings.Contains(r.out, "queued MR-1") {
				t.Fatalf("merge submit: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
			}
			if got := strings.Contains(r.err, "is not a branch or commit"); got != tc.wantNote {
				t.Fatalf("note about the branch: %v, want %v (stderr %q)", got, tc.wantNote, r.err)
			}
		})
	}
}
