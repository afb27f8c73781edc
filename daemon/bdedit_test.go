package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gofrs/flock"
)

// TestBdEditOfAStaleLineKeepsGtcState: bd edits a line the export has not brought up to date yet (gtc's
// change is at most a sync tick old). The edit must take effect without undoing gtc's change: a priority
// edit of an issue a worker runs does not cancel the lease, a label added to an issue just completed
// does not reopen it. bd's lock holds the syncs back while the change and the edit are made.
func TestBdEditOfAStaleLineKeepsGtcState(t *testing.T) {
	h := start(t, []string{line("t-run", "running", 2), line("t-done", "done soon", 2)}, nil)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	eventually(t, 5*time.Second, "the start's import", func() bool { return len(h.d.Engine().Ready(10)) == 2 })
	lk := flock.New(filepath.Join(h.dir, ".beads", beads.LockName))
	if err := lk.Lock(); err != nil { // as bd does while it writes
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			lk.Unlock()
		}
	}()
	w := h.worker("w1", 2)
	got := map[string]bool{}
	var run, done = w.next(t, 5*time.Second), w.next(t, 5*time.Second)
	if run.Lease.IssueID != "t-run" {
		run, done = done, run
	}
	got[run.Lease.IssueID], got[done.Lease.IssueID] = true, true
	if !got["t-run"] || !got["t-done"] {
		t.Fatalf("pushed %v", got)
	}
	// bd edits t-done before gtc's completion of it is exported — and before the completion itself, by
	// the clock: the edit is still taken, and the completion stays
	mid := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(5 * time.Millisecond)
	w.complete(t, done)
	// bd, working from the file (both lines still "open"): a priority edit and a label
	later := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
	lines := h.fileLines()
	if statusOf(t, lines["t-run"]) != "open" || statusOf(t, lines["t-done"]) != "open" {
		t.Fatalf("the syncs were not held back: %v", lines)
	}
	edit := func(l, at string, repl ...string) string {
		l = strings.Replace(l, `"updated_at":"2026-01-02T03:04:05Z"`, `"updated_at":"`+at+`"`, 1)
		return strings.NewReplacer(repl...).Replace(l)
	}
	data := edit(lines["t-run"], later, `"priority":2`, `"priority":0`) + "\n" +
		edit(lines["t-done"], mid, `,"x_custom"`, `,"labels":["needs-review"],"x_custom"`) + "\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	lk.Unlock()
	locked = false
	eventually(t, 5*time.Second, "bd's edits imported and gtc's state exported", func() bool {
		l := h.fileLines()
		return strings.Contains(l["t-run"], `"priority":0`) && statusOf(t, l["t-run"]) == "in_progress" &&
			strings.Contains(l["t-done"], `"needs-review"`) && statusOf(t, l["t-done"]) == "closed"
	})
	if l, ok := h.d.Engine().Lease(run.Lease.ID); !ok || l.State != "acked" {
		t.Fatalf("the running lease after a priority edit: %+v (live %v)", l, ok)
	}
	w.mu.Lock()
	cancels := len(w.cancels)
	w.mu.Unlock()
	if cancels != 0 {
		t.Fatalf("the worker got %d cancels", cancels)
	}
}

// TestLinesMissingFromTheFileAreWrittenBack: a file replaced by an older one that lacks issues gtc
// holds (git checkout) gets them back at the next sync, unknown keys included, and they stay scheduled.
func TestLinesMissingFromTheFileAreWrittenBack(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 2), line("t-2", "two", 2), line("t-3", "three", 2)}, nil)
	eventually(t, 5*time.Second, "the start's import", func() bool { return len(h.d.Engine().Ready(10)) == 3 })
	lines := h.fileLines()
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path, []byte(lines["t-1"]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the missing lines written back", func() bool {
		l := h.fileLines()
		return len(l) == 3 && strings.Contains(l["t-2"], `"x_custom":{"keep":"me"}`) && strings.Contains(l["t-3"], `"three"`)
	})
	if n := len(h.d.Engine().Ready(10)); n != 3 {
		t.Fatalf("%d issues ready after the restore, want 3", n)
	}
}
