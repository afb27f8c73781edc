package beads

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// sameSizeEdit makes one issue newer without changing the file's length.
func sameSizeEdit(t *testing.T, data []byte) []byte {
	t.Helper()
	old := []byte(`"created_by":"beads/crew/wolf","updated_at":"2026-01-27T03:48:41Z"`)
	edited := bytes.Replace(data, old, []byte(`"created_by":"beads/crew/wolF","updated_at":"2026-01-29T03:48:41Z"`), 1)
	if bytes.Equal(edited, data) || len(edited) != len(data) {
		t.Fatal("edit did not apply")
	}
	return edited
}

func TestSyncerSeesSameStatEditRightAfterRead(t *testing.T) {
	ctx := context.Background()
	s, b, path, data := setup(t, "beads_dolt-v0.49_051aeb0a.jsonl")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	n := b.importCount()
	// An in-place edit within the timestamp granularity: same inode, size and mtime as gtc saw.
	if err := os.WriteFile(path, sameSizeEdit(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.importCount() - n; got != 1 {
		t.Fatalf("imported %d records after a racy same-stat edit, want 1", got)
	}
}

func TestSyncerSeesEditAfterTrustedStat(t *testing.T) {
	ctx := context.Background()
	s, b, path, data := setupTrusted(t)
	if !s.untouched() {
		t.Fatal("an hour-old file just read is not trusted as untouched")
	}
	if err := s.Sync(ctx); err != nil { // idle tick on the trusted stat
		t.Fatal(err)
	}
	n := b.importCount()
	if err := os.WriteFile(path, sameSizeEdit(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.untouched() {
		t.Fatal("edited file still reads as untouched")
	}
	syncImports(t, s, b, n, 1)
}

func TestSyncerSeesEditThatRestoresTheMtime(t *testing.T) {
	s, b, path, data := setupTrusted(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	n := b.importCount()
	// cp -p / rsync -t / touch -r: same inode, same size, the old mtime put back; only ctime moves.
	time.Sleep(20 * time.Millisecond)
	if err := os.WriteFile(path, sameSizeEdit(t, data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if s.untouched() {
		t.Fatal("an edit that restored the mtime reads as untouched")
	}
	syncImports(t, s, b, n, 1)
}

// setupTrusted is setup with the file an hour old and read once, so its stat is trusted.
func setupTrusted(t *testing.T) (*Syncer, *memBackend, string, []byte) {
	t.Helper()
	s, b, path, data := setup(t, "beads_dolt-v0.49_051aeb0a.jsonl")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, b, path, data
}

// syncImports runs one tick and checks it imported want records more than the n counted before.
func syncImports(t *testing.T, s *Syncer, b *memBackend, n, want int) {
	t.Helper()
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := b.importCount() - n; got != want {
		t.Fatalf("imported %d records, want %d", got, want)
	}
}
