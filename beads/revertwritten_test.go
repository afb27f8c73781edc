package beads

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestRevertToLastWrittenAfterImport: bd edits a record (imported by gtc), then the file is reverted
// (git checkout, git stash) to the bytes gtc itself last wrote. The syncer must not take those bytes as
// known: the store holds bd's newer record, and the file must get it back.
func TestRevertToLastWrittenAfterImport(t *testing.T) {
	ctx := context.Background()
	s, b, path, _, f := syncedWithChange(t)
	written := fileBytes(t, path) // E: gtc's own write, meta.WrittenSHA
	// bd edits another record: newer updated_at, new title
	other := f.Issues()[20]
	ef, _ := Parse(path, written, ParseOptions{})
	line := ef.Get(other.ID).raw
	re := regexp.MustCompile(`"updated_at":"[^"]*"`)
	nl := re.ReplaceAll(line, []byte(`"updated_at":"2030-01-01T00:00:00Z"`))
	nl = regexp.MustCompile(`"title":"[^"]*"`).ReplaceAll(nl, []byte(`"title":"EDITED BY BD"`))
	x := bytes.Replace(written, line, nl, 1)
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(path, x, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.get(other.ID).Issue.Title; got != "EDITED BY BD" {
		t.Fatalf("bd's edit not imported: %q", got)
	}
	// git checkout -- .beads/issues.jsonl: back to E
	if err := os.WriteFile(path, written, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(fileBytes(t, path), []byte(`"title":"EDITED BY BD"`)) {
		t.Fatalf("store holds the newer record %s (title %q) but the file keeps the reverted, older line for good",
			other.ID, b.get(other.ID).Issue.Title)
	}
}
