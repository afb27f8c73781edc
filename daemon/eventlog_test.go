package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// logBuffer is a log destination safe for the coordinator's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTheLogNamesWhatAnOperatorLooksFor: a request naming an ended lease is logged with its worker and
// lease (the alert on gtc_stale_epoch_refusals_total needs a culprit), and so are an operator's close of
// a leased issue and the lease it cancelled (fleet trial: the log held only import and export lines).
func TestTheLogNamesWhatAnOperatorLooksFor(t *testing.T) {
	var log logBuffer
	h := start(t, []string{line("g-1", "leased, then closed by hand", 1)}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	ctx := context.Background()
	w := h.worker("w1", 1)
	a := w.next(t, 5*time.Second)
	// acked for sure before the close (the test worker acks when its handler returns, which may be later)
	if _, err := w.c.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch}); err != nil {
		t.Fatal(err)
	}
	bob, _ := h.session(rpc.HelloParams{Name: "cli-bob", Role: "client"})
	if _, err := bob.IssueClose(ctx, rpc.IssueCloseParams{ID: "g-1", Reason: "not needed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.Complete(ctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch,
		SessionResult: rpc.SessionResult{Outcome: "success"}}); err == nil {
		t.Fatal("a complete of the cancelled lease was accepted")
	}
	for _, want := range [][]string{
		{"kind=status_changed", "issue=g-1", "actor=cli-bob", `detail="status in_progress → closed"`},
		{"kind=cancelled", "issue=g-1", "lease=" + a.Lease.ID, "worker=w1"},
		{"refused a request naming an ended lease", "method=complete", "worker=w1", "lease=" + a.Lease.ID},
	} {
		eventually(t, 2*time.Second, strings.Join(want, " ")+"\n"+log.String(), func() bool {
			for _, l := range strings.Split(log.String(), "\n") {
				ok := true
				for _, w := range want {
					ok = ok && strings.Contains(l, w)
				}
				if ok {
					return true
				}
			}
			return false
		})
	}
}

// TestTheLogSumsUpAnImport: the changes an import takes from the file are logged as the import's one
// line with counts, not one line per issue (review: a checkout of another branch would log every issue
// it changes), while the audit log still has an event for each.
func TestTheLogSumsUpAnImport(t *testing.T) {
	var log logBuffer
	h := start(t, []string{line("f-1", "one", 2), line("f-2", "two", 2)}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	ctx := context.Background()
	eventually(t, 5*time.Second, "the start's import", func() bool { return len(h.d.Engine().Ready(10)) == 2 })
	lines := h.fileLines()
	later := `"updated_at":"` + time.Now().Add(time.Second).UTC().Format(time.RFC3339) + `"`
	closed := strings.NewReplacer(`"status":"open"`, `"status":"closed"`, `"updated_at":"2026-01-02T03:04:05Z"`, later)
	data := closed.Replace(lines["f-1"]) + "\n" + closed.Replace(lines["f-2"]) + "\n"
	// written whole at once (a rename, as bd and git do), so one import sees both changes
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path+".tmp", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "both closes in the audit log", func() bool {
		r, err := (&backend{d: h.d}).EventsList(ctx, nil, rpc.EventsListParams{Limit: 100})
		n := 0
		for _, e := range r.Events {
			if e.Kind == "status_changed" && e.Actor == "issues.jsonl" {
				n++
			}
		}
		return err == nil && n == 2
	})
	// the import logs its line once it has applied the changes, which may be after their events
	eventually(t, 5*time.Second, "the import's line", func() bool { return strings.Contains(log.String(), "updated=2") })
	time.Sleep(200 * time.Millisecond) // room for the events' publication, where a per-issue line would be written
	if out := log.String(); strings.Contains(out, "kind=status_changed") {
		t.Errorf("the log should sum the import up (updated=2) without a line per issue:\n%s", out)
	}
}

// TestSyncFailureLogsEachNewReason: while the JSONL sync keeps failing, a new reason is logged when it
// appears, not a minute later: a first failure that passes (the file seen half-written) must not hide
// the one that stays; a reason logged within the minute is not logged again when the file flips back. Before, only the first reason was logged for the first minute (an e2e test saw
// "file changed since it was read" and never the refused line that followed).
func TestSyncFailureLogsEachNewReason(t *testing.T) {
	var log logBuffer
	h := start(t, []string{line("s-1", "one", 1), line("s-2", "two", 1)}, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// the start's import read the good file (Run imports after start returns): the conflict below is a
	// sync's failure, not the start's
	for deadline := time.Now().Add(5 * time.Second); h.d.sync.info().LastOK == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the start's import did not finish")
		}
	}
	waitLog := func(what string, mark int, want ...string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := log.String()[mark:]
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(got, w)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the log does not say %q:\n%s", what, want, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	mark := len(log.String())
	conflict := "<<<<<<< HEAD\n" + string(good) + "=======\n>>>>>>> other\n"
	if err := os.WriteFile(path, []byte(conflict), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog("conflict markers", mark, "jsonl sync failed", "conflict marker")
	mark = len(log.String())
	if err := os.WriteFile(path, append(bytes.Clone(good), `{"id":"s-3","title":"cut`...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog("a line cut short", mark, "jsonl sync still failing", ":3:")
	// a file flipping between the two logs each of its reasons once a minute, not a line a flip
	mark = len(log.String())
	cut := append(bytes.Clone(good), `{"id":"s-3","title":"cut`...)
	for i := range 10 {
		data := []byte(conflict)
		if i%2 == 1 {
			data = cut
		}
		// renamed into place, as git does: a sync never reads it half-written (an empty file is a valid
		// one: read mid-write it would end the failure, and the next reason would be logged anew)
		if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(120 * time.Millisecond) // two ticks or more
	}
	// a reason may be worded a few ways (found by the import or by the export, the file seen mid-write),
	// but none is logged twice within the minute
	seen := map[string]bool{}
	for _, l := range strings.Split(log.String()[mark:], "\n") {
		if _, reason, ok := strings.Cut(l, "err="); ok && strings.Contains(l, "still failing") {
			if seen[reason] {
				t.Fatalf("10 flips between two broken files logged a reason twice within the minute: %s\n%s", reason, log.String()[mark:])
			}
			seen[reason] = true
		}
	}
	mark = len(log.String())
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog("the file mended", mark, "jsonl sync recovered")
}
