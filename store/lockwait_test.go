package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestLockWaitedCountsAnotherWriter: a commit that waits for another process's write lock (sqlite3 in
// a shell, a backup tool) adds that wait to LockWaited, which the JSONL sync subtracts from its own
// time: before, a sync held up 14 s by such a lock stretched the next tick by 16-22 s.
func TestLockWaitedCountsAnotherWriter(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	other, err := sql.Open("sqlite3", "file:"+db.path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		t.Fatal(err)
	}
	const hold = 300 * time.Millisecond
	go func() { time.Sleep(hold); _ = tx.Rollback() }()
	before := db.LockWaited()
	if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: beads.Issue{ID: "a", Title: "a", Status: "open",
		IssueType: "task", CreatedAt: t0, UpdatedAt: t0}}}); err != nil {
		t.Fatal(err)
	}
	if w := db.LockWaited() - before; w < hold*3/4 {
		t.Fatalf("LockWaited grew by %v while another writer held the lock for %v", w, hold)
	}
}
