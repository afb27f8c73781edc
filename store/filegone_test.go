package store

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestCommitRefusedOnceTheFileIsGone: gtc.db deleted (or replaced by a rename over it) while the store
// is open: SQLite would keep writing into the unlinked file and a restart would lose it all, so every
// commit is refused as unavailable with a reason; reads of the open file still work.
func TestCommitRefusedOnceTheFileIsGone(t *testing.T) {
	for _, how := range []string{"deleted", "replaced"} {
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
			if how == "deleted" {
				if err := os.Remove(db.path); err != nil {
					t.Fatal(err)
				}
			} else {
				other := db.path + ".other"
				if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(other, db.path); err != nil {
					t.Fatal(err)
				}
			}
			err := put("b")
			if coord.ErrorCode(err) != coord.EUnavailable || !strings.Contains(err.Error(), "deleted or replaced") {
				t.Fatalf("commit after gtc.db was %s: %v", how, err)
			}
			if _, err := db.Records(ctx, []string{"a"}); err != nil {
				t.Fatalf("read after gtc.db was %s: %v", how, err)
			}
		})
	}
}
