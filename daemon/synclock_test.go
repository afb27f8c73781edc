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
	done := time.Now()
	for statusOf(t, h.fileLines()["t-2"]) != "closed" {
		if time.Since(done) > 2*time.Second {
			t.Fatal("the completion did not reach issues.jsonl within 2 s (sync interval 50 ms): the tick was stretched by bd's lock")
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
	released := time.Now()
	for statusOf(t, h.fileLines()["t-1"]) != "closed" {
		if time.Since(released) > 3*time.Second {
			t.Fatal("the completion did not reach issues.jsonl within 3 s of the lock's release (sync interval 50 ms): the tick was stretched by the wait")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
