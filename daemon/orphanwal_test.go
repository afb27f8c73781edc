package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/store"
)

// TestStartKeepsAnOrphanWAL: a start refused because gtc.db is gone while its WAL (with commits) is
// there leaves that WAL where it was: the failed start's clean-up removed it as a file of its own (a
// trial: the next start then began an empty store and the WAL's commits were gone).
func TestStartKeepsAnOrphanWAL(t *testing.T) {
	dir := newWorkspace(t, nil)
	bd := filepath.Join(dir, ".beads")
	// a store's WAL holding a commit, as a kill -9 leaves it
	live := filepath.Join(t.TempDir(), "live.db")
	db, err := store.Open(context.Background(), live, store.Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	now := coord.RealClock{}.Now()
	is := beads.Issue{ID: "gt-1", Title: "kept", Status: "open", IssueType: "task", CreatedAt: now, UpdatedAt: now}
	if err := db.Commit(context.Background(), []coord.Change{coord.IssuePut{Issue: is}}); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(live + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no WAL: %v", err)
	}
	path := filepath.Join(bd, "gtc.db")
	if err := os.WriteFile(path+"-wal", wal, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), Config{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if !errors.Is(err, store.ErrOrphanWAL) {
		t.Fatalf("start beside an orphan WAL: %v", err)
	}
	if got, err := os.ReadFile(path + "-wal"); err != nil || len(got) != len(wal) {
		t.Fatalf("the WAL after the refused start: %d bytes, %v (want %d)", len(got), err, len(wal))
	}
}
