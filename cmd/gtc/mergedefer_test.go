package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWorkerGateHoldsMergeSubmits: a command of a worker with a --gate that submits its branch (here by
// writing the request where `gtc merge submit` would, GTC_MERGE_DEFER) has it queued only once the gate
// passed; when the gate fails nothing is queued — before, the request was sent at once and could merge,
// and close the issue, although the attempt failed its gate.
func TestWorkerGateHoldsMergeSubmits(t *testing.T) {
	for _, tc := range []struct {
		gate   string
		queued bool
	}{{"exit 1", false}, {"true", true}} {
		t.Run(tc.gate, func(t *testing.T) {
			dir := newWorkspace(t)
			s := startServer(t, dir, nil)
			ids := createIssues(t, dir, "Gated")
			script := `printf '{"issue_id":"%s","branch":"b/%s","files":["a.go"]}\n' "$GTC_ISSUE_ID" "$GTC_ISSUE_ID" >> "$GTC_MERGE_DEFER"`
			startWorker(t, s, func(o *workerOptions) { o.Exec, o.Gate = script, tc.gate })
			want := "closed"
			if !tc.queued {
				want = "open" // failed, retried after the backoff (or dead-lettered: blocked)
			}
			waitFor(t, 10*time.Second, "the attempt reported", func() bool {
				ls, err := s.d.Store().LeasesByIssue(t.Context(), ids[0])
				return err == nil && len(ls) > 0 && ls[0].Outcome != ""
			})
			if st, _ := s.issue(ids[0]); tc.queued && st != want {
				t.Errorf("issue %s after a passing gate, want %s", st, want)
			}
			reqs, err := s.d.Engine().MergeList("")
			if err != nil {
				t.Fatal(err)
			}
			if got := len(reqs) == 1 && reqs[0].Worker == "w1" && reqs[0].Branch == "b/"+ids[0]; got != tc.queued {
				t.Errorf("gate %q: merge requests %+v, want queued=%v", tc.gate, reqs, tc.queued)
			}
		})
	}
}

// TestMergeSubmitHeldForTheGate: `gtc merge submit` run by a gated worker's command for its own lease
// (GTC_MERGE_DEFER set) writes the request for the worker instead of sending it.
func TestMergeSubmitHeldForTheGate(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	held := filepath.Join(t.TempDir(), "submits.jsonl")
	t.Setenv("GTC_ISSUE_ID", "t-1")
	t.Setenv("GTC_LEASE_ID", "L-9")
	t.Setenv("GTC_LEASE_EPOCH", "9")
	t.Setenv(mergeDeferEnv, held)
	if out := must(t, dir, "merge", "submit", "t-1", "b/t-1", "--file", "a.go"); !strings.Contains(out, "held b/t-1") {
		t.Errorf("output %q", out)
	}
	b, err := os.ReadFile(held)
	if err != nil || !strings.Contains(string(b), `"branch":"b/t-1"`) || !strings.Contains(string(b), `"lease_id":"L-9"`) {
		t.Fatalf("held submits %q (%v)", b, err)
	}
	if out := must(t, dir, "merge", "list"); !strings.Contains(out, "empty") {
		t.Errorf("a held submit reached the queue:\n%s", out)
	}
}
