package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestBdV1DeletionStopsHandingOut: bd v1 deletes an issue by dropping its line. gtc does not hand such
// an issue out (and so never writes its line back into bd's file by claiming it) until its line is back.
// It kept scheduling the issue, and a worker's claim wrote the line back (git/bd trial); gtc's changes
// of it meanwhile reach the line once it is back (second re-trial).
func TestBdV1DeletionStopsHandingOut(t *testing.T) {
	typed := func(id string) string {
		return `{"_type":"issue","id":"` + id + `","title":"T ` + id + `","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-09T06:10:55Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	}
	h := start(t, []string{typed("m-1"), typed("m-2")}, nil)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	eventually(t, 10*time.Second, "the start's import", func() bool { _, ok := h.d.Engine().Readiness("m-1"); return ok })
	if err := os.WriteFile(path, []byte(typed("m-2")+"\n"), 0o644); err != nil { // bd v1: bd delete m-1
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the deletion is seen", func() bool {
		r, _ := h.d.Engine().Readiness("m-1")
		return strings.Contains(r, "missing from issues.jsonl")
	})
	w := h.worker("w1", 2)
	if a := w.next(t, 5*time.Second); a.Lease.IssueID != "m-2" {
		t.Fatalf("pushed %s, want m-2", a.Lease.IssueID)
	}
	w.none(t, 300*time.Millisecond)
	// an operator's change of the deleted issue does not write its line back either
	op, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
	p0 := 0
	if _, err := op.IssueUpdate(context.Background(), rpc.IssueUpdateParams{ID: "m-1", Priority: &p0}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a few export ticks
	if _, ok := h.fileLines()["m-1"]; ok {
		t.Fatal("m-1's line was written back into bd v1's file")
	}
	if r, _ := h.d.Engine().Readiness("m-1"); !strings.Contains(r, "missing from issues.jsonl") {
		t.Fatalf("m-1 after the update: %q", r)
	}
	// the line comes back (bd's next export after a checkout): handed out again
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte(typed("m-1")+"\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	if a := w.next(t, 10*time.Second); a.Lease.IssueID != "m-1" {
		t.Fatalf("pushed %s, want m-1 once its line is back", a.Lease.IssueID)
	}
	// and the operator's change made meanwhile reaches the line
	eventually(t, 10*time.Second, "the operator's priority in m-1's line", func() bool {
		return strings.Contains(h.fileLines()["m-1"], `"priority":0`)
	})
}
