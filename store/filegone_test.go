package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestCommitRefusedOnceTheFileIsGone: gtc.db deleted, replaced by a rename over it, moved away, or
// hard-linked elsewhere and deleted while the store is open: SQLite would keep writing into a file a
// restart at that path does not open, so every commit is refused as unavailable with a reason; reads of
// the open file still work.
func TestCommitRefusedOnceTheFileIsGone(t *testing.T) {
	for _, how := range []string{"deleted", "replaced", "moved away", "hard-linked, then deleted"} {
		t.Run(how, func(t *testing.T) {
			db := openTest(t, Options{})
			ctx := context.Background()
			put := func(id string) error {
				return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: beads.Issue{ID: id, Title: id, Status: "open",
					IssueType: "task", CreatedAt: t0, UpdatedAt: t0}}})
			}
			if err := put("a"); err != nil {
				t.Fatal(err)
			}
			aside := db.path + ".aside"
			var err error
			switch how {
			case "deleted":
				err = os.Remove(db.path)
			case "replaced":
				if err = os.WriteFile(aside, []byte("x"), 0o600); err == nil {
					err = os.Rename(aside, db.path)
				}
			case "moved away":
				err = os.Rename(db.path, aside)
			default: // the open file keeps a link
				if err = os.Link(db.path, aside); err == nil {
					err = os.Remove(db.path)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			err = put("b")
			if coord.ErrorCode(err) != coord.EUnavailable || !strings.Contains(err.Error(), "deleted, moved or replaced") {
				t.Fatalf("commit after gtc.db was %s: %v", how, err)
			}
			if _, err := db.Records(ctx, []string{"a"}); err != nil {
				t.Fatalf("read after gtc.db was %s: %v", how, err)
			}
		})
	}
}

// TestCommitRefusedOnceTheWALIsGone: gtc.db-wal deleted while the store is open (someone reclaiming
// space): SQLite would go on committing into the deleted file, which no restart reads. Every commit is
// refused with a reason saying to stop gtc cleanly, and a clean close still copies what the deleted WAL
// held into gtc.db: the acknowledged commit is there after a reopen.
func TestCommitRefusedOnceTheWALIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gtc.db")
	ctx := context.Background()
	db, err := Open(ctx, path, Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	put := func(db *DB, id string) error {
		return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: beads.Issue{ID: id, Title: id, Status: "open",
			IssueType: "task", CreatedAt: t0, UpdatedAt: t0}}})
	}
	if err := put(db, "a"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + "-wal"); err != nil {
		t.Fatal(err)
	}
	err = put(db, "b")
	if coord.ErrorCode(err) != coord.EUnavailable || !strings.Contains(err.Error(), "-wal was deleted") {
		t.Fatalf("commit after gtc.db-wal was deleted: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if recs, err := db.Records(ctx, []string{"a"}); err != nil || len(recs) != 1 {
		t.Fatalf("the commit acknowledged before the WAL was deleted, after a clean close: %v %v", recs, err)
	}
	if err := put(db, "c"); err != nil {
		t.Fatalf("commit after the reopen: %v", err)
	}
}
