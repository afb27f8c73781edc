package coord

import (
	"strings"
	"testing"
)

// TestAbsentIssuesAreNotHandedOut: an issue whose line a bd v1 file lacks (bd v1 deletes by dropping
// the line) is not handed out, and issue show says why; once a later import no longer reports it (the
// line is back) it is ready again. gtc kept scheduling such an issue, and the claim wrote its line back
// into bd v1's file (git/bd trial).
func TestAbsentIssuesAreNotHandedOut(t *testing.T) {
	c := newTestCore(t, testCfg(), iss("t-gone", 0), iss("t-here", 1), iss("t-done", 0, withStatus("closed")))
	s := &sim{t: t, c: c, now: t0}
	c.setAbsent(s.now, []string{"t-gone", "t-unknown"})
	if r := c.readiness(c.issues["t-gone"]); !strings.HasPrefix(r, "not ready: its line is missing from issues.jsonl") {
		t.Errorf("readiness %q", r)
	}
	c.setAbsent(s.now, []string{"t-gone", "t-done"}) // a closed issue's dropped line is said too
	if r := c.readiness(c.issues["t-done"]); r != "not ready: closed (and its line is missing from issues.jsonl)" {
		t.Errorf("readiness of the closed t-done: %q", r)
	}
	s.connect("w", 2, Filters{})
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "t-here" {
		t.Fatalf("pushed %+v, want t-here alone", p)
	}
	c.setAbsent(s.now, nil) // the line is back
	s.step()
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "t-gone" {
		t.Fatalf("pushed %+v after the line came back, want t-gone", p)
	}
}
