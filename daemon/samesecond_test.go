package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	for _, reordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("reordered=%v", reordered), func(t *testing.T) { olderLineOfTheSameSecond(t, reordered) })
	}
}

// olderLineOfTheSameSecond runs the case above; reordered writes the old line back with its keys in
// another order (bd re-encoding its stale copy): the same content, so the same older version.
func olderLineOfTheSameSecond(t *testing.T, reordered bool) {
	for time.Now().Nanosecond() > 200_000_000 { // start early in a second: all of it fits in one
		time.Sleep(5 * time.Millisecond)
	}
	sec := time.Now().UTC().Truncate(time.Second)
	ts := sec.Format(time.RFC3339)
	orig := fmt.Sprintf(`{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":%q,"updated_at":%q,"dependency_count":0,"dependent_count":0,"comment_count":0}`, ts, ts)
	back := orig
	if reordered {
		back = fmt.Sprintf(`{"_type":"issue","id":"t-1","title":"one","priority":1,"status":"open","issue_type":"task","created_at":%q,"updated_at":%q,"dependency_count":0,"dependent_count":0,"comment_count":0}`, ts, ts)
	}
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
	if err := os.WriteFile(path, []byte(back+"\n"), 0o644); err != nil {
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

// TestEditOfTheSameSecondIsTaken: the other side of the rule above. gtc completes an issue of a bd v1
// file and exports its line with updated_at S; within that second bd (a hook reacting to the close)
// edits the line: its priority, a label, updated_at S again. That line is one gtc never wrote or read,
// so it is an edit and taken — not an older version to overwrite — and the completion stays.
func TestEditOfTheSameSecondIsTaken(t *testing.T) {
	ts := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	orig := fmt.Sprintf(`{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":%q,"updated_at":%q,"dependency_count":0,"dependent_count":0,"comment_count":0}`, ts, ts)
	h := start(t, []string{orig}, nil)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	w := h.worker("w1", 1)
	w.complete(t, w.next(t, 3*time.Second))
	eventually(t, 3*time.Second, "the completion exported", func() bool { return statusOf(t, h.fileLines()["t-1"]) == "closed" })
	exported := h.fileLines()["t-1"]
	if !strings.Contains(exported, `"priority":1,`) {
		t.Fatalf("exported line without priority 1: %s", exported)
	}
	edited := strings.Replace(exported, `"priority":1,`, `"priority":3,"labels":["reviewed"],`, 1)
	if err := os.WriteFile(path, []byte(edited+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the same-second edit imported", func() bool {
		got, _, err := h.d.db.GetIssue(context.Background(), "t-1")
		return err == nil && got.Priority == 3
	})
	got, _, _ := h.d.db.GetIssue(context.Background(), "t-1")
	if got.Status != "closed" || !slices.Contains(got.Labels, "reviewed") {
		t.Errorf("after the edit: status %q labels %v, want closed with the label", got.Status, got.Labels)
	}
	time.Sleep(200 * time.Millisecond) // a few ticks: the edit is not written over
	if l := h.fileLines()["t-1"]; !strings.Contains(l, `"priority":3`) {
		t.Errorf("the file lost the edit: %s", l)
	}
}
