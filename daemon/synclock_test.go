package daemon

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/rpc"
	"github.com/gofrs/flock"
)

// bd holding its lock for a while (a long bd command) does not stretch the sync tick: the sync's wait
// for the lock is not its work. A review found a 600 ms hold kept a completion out of issues.jsonl
// for ~5 s with a 50 ms tick (nine times the wait).
func TestSyncTickNotStretchedByBdLock(t *testing.T) {
	h := start(t, []string{line("t-1", "first", 1)}, nil)
	w := h.worker("w1", 2)
	w.next(t, 5*time.Second)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	lk := flock.New(filepath.Join(h.dir, ".beads", beads.LockName))
	if err := lk.Lock(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // syncs wait for the lock meanwhile
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte(line("t-2", "added by bd", 0)+"\n")...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	b := w.next(t, 10*time.Second)
	if b.Lease.IssueID != "t-2" {
		t.Fatalf("pushed %s, want t-2", b.Lease.IssueID)
	}
	if _, err := w.c.Complete(context.Background(), rpc.CompleteParams{LeaseID: b.Lease.ID, Epoch: b.Lease.Epoch,
		SessionResult: rpc.SessionResult{Outcome: "success"}}); err != nil {
		t.Fatal(err)
	}
	closedInFileWithin(t, h, "t-2", 2*time.Second, "bd's lock")
}

// closedInFileWithin fails the test unless issue id is closed in issues.jsonl within d (the sync interval
// is 50 ms): a longer wait means the sync tick was stretched by what held it up.
func closedInFileWithin(t *testing.T, h *harness, id string, d time.Duration, what string) {
	t.Helper()
	from := time.Now()
	for statusOf(t, h.fileLines()[id]) != "closed" {
		if time.Since(from) > d {
			t.Fatalf("the completion of %s did not reach issues.jsonl within %v (sync interval 50 ms): the tick was stretched by %s", id, d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Another process holding SQLite's write lock on gtc.db for a while (sqlite3 in a shell) does not
// stretch the sync tick either: the storage-fault trial saw exports stop for 16-22 s after a 14 s hold.
func TestSyncTickNotStretchedBySQLiteLock(t *testing.T) {
	h := start(t, []string{line("t-1", "first", 1)}, nil)
	w := h.worker("w1", 2)
	a := w.next(t, 5*time.Second)
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(h.dir, ".beads", "gtc.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// a completion waits for the lock, and so does the sync that exports it
	done := make(chan error, 1)
	go func() {
		_, err := w.c.Complete(context.Background(), rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch,
			SessionResult: rpc.SessionResult{Outcome: "success"}})
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	_ = tx.Rollback()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	closedInFileWithin(t, h, "t-1", 3*time.Second, "the wait for SQLite's lock")
}
