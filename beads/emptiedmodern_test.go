package beads

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// TestEmptiedModernFileRefilledModern: an emptied bd v1 file keeps its profile, in the import and in the
// streaming and whole-file exports alike. An issue gtc creates next must then go into
// the file as a bd v1 line (typed, with counts), and the file must stay bd v1: once it reads as classic,
// any later import restores every line bd v1 deleted.
func TestEmptiedModernFileRefilledModern(t *testing.T) {
	ctx := context.Background()
	l1 := `{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	path := beadsFile(t, l1+"\n")
	b := newMemBackend()
	s := NewSyncer(path, b, nil)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil { // bd v1 deleted its only issue
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Profile(); !p.Modern() {
		t.Fatalf("profile after the file was emptied: %v", p)
	}
	// gtc creates an issue (issue.create)
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	b.change("t-2", func(is *Issue) {
		is.ID, is.Title, is.Status, is.Priority, is.IssueType, is.CreatedAt, is.UpdatedAt = "t-2", "two", "open", 1, "task", at, at
	})
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	out := fileBytes(t, path)
	p, _ := s.Profile()
	if !bytes.Contains(out, []byte(`"_type":"issue"`)) || !p.Modern() {
		t.Errorf("the emptied bd v1 file was refilled in classic style (profile now %v):\n%s", p, out)
	}
	// the consequence: the next outside edit (here of t-2's title) is imported as a classic file, and
	// the line bd v1 deleted is written back
	edited := bytes.Replace(out, []byte(`"title":"two"`), []byte(`"title":"two, edited"`), 1)
	edited = bytes.Replace(edited, []byte(`"updated_at":"2026-03-02T00:00:00Z"`), []byte(`"updated_at":"2026-03-03T00:00:00Z"`), 1)
	if err := os.WriteFile(path, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if out := fileBytes(t, path); bytes.Contains(out, []byte(`"id":"t-1"`)) {
		t.Errorf("the issue bd v1 deleted was written back into its file:\n%s", out)
	}
}

// TestModernFileEmptiedByTheExportStaysModern: when gtc's own export empties a bd v1 file (its only
// issue deleted: v1 files hold no tombstones), the streamed export keeps the file bd v1's — a later
// change to that tombstone writes nothing. The streamed export took the empty file it wrote for a
// classic one and wrote the tombstone line back (the property test TestStreamedExportMatchesWholeExport
// found it against the whole-file export).
func TestModernFileEmptiedByTheExportStaysModern(t *testing.T) {
	ctx := context.Background()
	l1 := `{"id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	path := beadsFile(t, l1+"\n")
	b := newMemBackend()
	s := NewSyncer(path, b, nil)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	b.change("t-1", func(is *Issue) { is.Status, is.UpdatedAt = "tombstone", at }) // deleted in gtc
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if out := fileBytes(t, path); bytes.Contains(out, []byte(`"id":"t-1"`)) {
		t.Fatalf("the deleted issue is still in the bd v1 file:\n%s", out)
	}
	if p, _ := s.Profile(); !p.Modern() {
		t.Fatalf("profile after gtc emptied the file: %v", p)
	}
	b.change("t-1", func(is *Issue) { is.Notes, is.UpdatedAt = "later", at.Add(time.Hour) }) // a later change to the tombstone
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if out := fileBytes(t, path); bytes.Contains(out, []byte(`"id":"t-1"`)) {
		t.Errorf("a tombstone line was written into the bd v1 file:\n%s", out)
	}
}
