package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOlderLineOfTheSameSecondDoesNotUndoACompletion: bd v1 writes whole-second times and so does
// gtc's export of a bd v1 file. An issue bd created at second S, claimed and completed by gtc within S,
// is exported closed with updated_at S. The file then goes back to its older version (git checkout of
// the commit before, or bd writing its stale copy of the line): the open line of second S. It must be
// taken as the older version it is — gtc's record written back — not as an edit that undoes the
// completion and runs the issue a second time.
func TestOlderLineOfTheSameSecondDoesNotUndoACompletion(t *testing.T) {
	for time.Now().Nanosecond() > 200_000_000 { // start early in a second: all of it fits in one
		time.Sleep(5 * time.Millisecond)
	}
	sec := time.Now().UTC().Truncate(time.Second)
	ts := sec.Format(time.RFC3339)
	orig := fmt.Sprintf(`{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":%q,"updated_at":%q,"dependency_count":0,"dependent_count":0,"comment_count":0}`, ts, ts)
	h := start(t, []string{orig}, nil)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	w := h.worker("w1", 1)
	a := w.next(t, 3*time.Second)
	w.complete(t, a)
	eventually(t, 3*time.Second, "the completion exported", func() bool { return statusOf(t, h.fileLines()["t-1"]) == "closed" })
	got, _, err := h.d.db.GetIssue(context.Background(), "t-1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Truncate(time.Second).Equal(sec) {
		t.Skipf("the completion (%v) fell outside the second of the line (%v): rerun", got.UpdatedAt, sec)
	}
	t.Logf("line's updated_at %s; gtc's completion %s; exported line: %s", ts, got.UpdatedAt.Format(time.RFC3339Nano), h.fileLines()["t-1"])
	// the older version of the file comes back (git checkout / a stale bd export)
	if err := os.WriteFile(path, []byte(orig+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // ten sync ticks
	got, _, err = h.d.db.GetIssue(context.Background(), "t-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "closed" {
		t.Errorf("the completed issue is %q after an older version of its line came back (want closed, written back)", got.Status)
	}
	select {
	case a2 := <-w.ch:
		t.Errorf("the completed issue was pushed again: lease %s epoch %d", a2.Lease.ID, a2.Lease.Epoch)
	default:
	}
	t.Logf("file now: %s", h.fileLines()["t-1"])
}
