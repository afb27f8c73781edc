package beads

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// A file reverted to the version gtc last imported (git checkout/stash of issues.jsonl after gtc
// exported to it) must be reconciled: gtc's newer records are written back, not silently dropped.
func TestSyncerReexportsAfterRevertToLastImport(t *testing.T) {
	ctx := context.Background()
	s, b, path, data, f := syncedWithChange(t)
	if !bytes.Contains(fileBytes(t, path), []byte(`"assignee":"gtc/worker-7"`)) {
		t.Fatal("change not exported")
	}
	for i := 0; i < 2; i++ { // twice: the second revert is to bytes gtc has already imported once
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(fileBytes(t, path), []byte(`"assignee":"gtc/worker-7"`)) {
			t.Fatalf("revert %d: gtc's change is missing from the file after a sync", i+1)
		}
		if st := b.get(f.Issues()[10].ID); st.Issue.Status != "in_progress" {
			t.Fatalf("revert %d: the older line overwrote the store: %s", i+1, st.Issue.Status)
		}
	}
}

// syncedWithChange syncs a real corpus, changes its 11th issue in the store (assignee gtc/worker-7)
// and syncs again, so that gtc's change is exported; it returns the syncer, its backend, the file's
// path, the corpus bytes and the corpus parsed.
func syncedWithChange(t *testing.T) (*Syncer, *memBackend, string, []byte, *File) {
	t.Helper()
	ctx := context.Background()
	s, b, path, data := setup(t, "beads_sqlite-era_669ea406.jsonl")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f, _ := Parse(path, data, ParseOptions{})
	b.change(f.Issues()[10].ID, func(is *Issue) {
		is.Status, is.Assignee, is.UpdatedAt = "in_progress", "gtc/worker-7", time.Now()
	})
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return s, b, path, data, f
}
