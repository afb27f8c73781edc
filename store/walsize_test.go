package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestWALShrinksAfterALongRead: a read transaction held open while ~40 MB is written keeps the
// checkpointer from emptying the WAL, which grows past that; once the read ends and a checkpoint has
// run, the next write truncates gtc.db-wal to walSizeLimit (before, it stayed at its largest size
// until a clean shutdown).
func TestWALShrinksAfterALongRead(t *testing.T) {
	db := openTest(t, Options{CheckpointInterval: 20 * time.Millisecond})
	ctx := context.Background()
	tx, err := db.r.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM issues").Scan(&n); err != nil { // the snapshot starts
		t.Fatal(err)
	}
	body := strings.Repeat("x", 1<<20)
	put := func(i int) {
		commit(t, db, coord.IssuePut{Issue: beads.Issue{ID: fmt.Sprintf("w-%03d", i), Title: "t", Description: body,
			Status: "open", IssueType: "task", CreatedAt: t0, UpdatedAt: t0}})
	}
	for i := range 40 {
		put(i)
	}
	wal := func() int64 {
		fi, err := os.Stat(db.path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	grown := wal()
	if grown < 2*walSizeLimit {
		t.Fatalf("WAL %d bytes while a read held its snapshot: the test did not grow it past %d", grown, 2*walSizeLimit)
	}
	_ = tx.Rollback()
	deadline := time.Now().Add(10 * time.Second)
	for i := 40; wal() > walSizeLimit; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes (was %d) 10 s after the read ended, limit %d", wal(), grown, walSizeLimit)
		}
		time.Sleep(50 * time.Millisecond) // a checkpoint copies the WAL back; the next write resets it
		put(i % 40)
	}
}
