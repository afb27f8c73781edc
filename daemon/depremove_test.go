package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBdDependencyRemovalFreesTheIssue: bd removing a dependency (its line rewritten without it, with a
// newer updated_at) frees the blocked issue and the edge stays gone from the file. The import merged
// dependencies additively and exported the edge back within a tick, so the issue stayed blocked for
// good (git/bd trial).
func TestBdDependencyRemovalFreesTheIssue(t *testing.T) {
	gate := strings.Replace(line("t-1", "someone else's", 1), `"issue_type":"task"`, `"issue_type":"task","assignee":"carol"`, 1)
	h := start(t, []string{gate, line("t-2", "blocked", 1, "t-1")}, nil)
	w := h.worker("w1", 1)
	w.none(t, 300*time.Millisecond)
	freed := strings.Replace(line("t-2", "blocked", 1), `"updated_at":"2026-01-02T03:04:05Z"`, `"updated_at":"2026-01-02T04:00:00Z"`, 1)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path, []byte(gate+"\n"+freed+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := w.next(t, 10*time.Second); a.Lease.IssueID != "t-2" {
		t.Fatalf("pushed %s, want the freed t-2", a.Lease.IssueID)
	}
	eventually(t, 10*time.Second, "the claim is exported", func() bool { return statusOf(t, h.fileLines()["t-2"]) != "open" })
	if l := h.fileLines()["t-2"]; strings.Contains(l, `"depends_on_id"`) {
		t.Errorf("the removed dependency came back: %s", l)
	}
}
