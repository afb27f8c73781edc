package beads

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordsHook is a memBackend whose Records call n runs fn first: a deterministic point inside the
// streaming import's second pass.
type recordsHook struct {
	*memBackend
	n, calls int
	fn       func()
}

func (h *recordsHook) Records(ctx context.Context, ids []string) ([]StoredRecord, error) {
	h.calls++
	if h.calls == h.n && h.fn != nil {
		h.fn()
	}
	return h.memBackend.Records(ctx, ids)
}

// TestStreamedImportAppliesNothingOfAFileRewrittenInPlace rewrites the file in place (same inode: an
// editor, `cat >`) while the streaming import applies it a stretch at a time. The bytes read after
// the rewrite were never validated (here: a file with conflict markers further down), so none of them
// may be applied; the next import takes the file as it then is.
func TestStreamedImportAppliesNothingOfAFileRewrittenInPlace(t *testing.T) {
	defer func(l int) { streamChunkLines = l }(streamChunkLines)
	streamChunkLines = 1
	ctx := context.Background()
	pad := strings.Repeat("x", 8<<10) // lines past the reader's 64 KiB buffer are read after the rewrite
	file := func(title string, from int, conflict bool) []byte {
		var b strings.Builder
		for i := range 30 {
			tt, upd := "t0", "2026-01-01T00:00:00Z"
			if i >= from {
				tt, upd = title, "2026-02-01T00:00:00Z"
			}
			if conflict && i == 25 {
				b.WriteString("<<<<<<< HEAD\n")
			}
			fmt.Fprintf(&b, `{"id":"a-%02d","title":"%s","description":"%s","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"%s"}`+"\n", i, tt, pad, upd)
		}
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name    string
		rewrite []byte
	}{
		{"conflict markers", file("theirs", 10, true)},
		{"valid other edit", file("theirs", 10, false)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), ".beads")
			os.Mkdir(dir, 0o755)
			path := filepath.Join(dir, "issues.jsonl")
			os.WriteFile(path, file("", 99, false), 0o644)
			mem := newMemBackend()
			h := &recordsHook{memBackend: mem}
			s := NewSyncer(path, h, nil)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, file("ours", 0, false), 0o644) // the outside edit gtc imports next
			h.calls, h.n, h.fn = 0, 2, func() {
				fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0) // in place: same inode
				if err != nil {
					t.Fatal(err)
				}
				fh.Write(tc.rewrite)
				fh.Close()
			}
			if _, err := s.Import(ctx); err == nil {
				t.Fatal("import of a file rewritten while it was read succeeded")
			}
			for _, r := range mem.list(false) {
				if r.Issue.Title == "theirs" {
					t.Fatalf("%s imported from bytes that were never validated", r.ID)
				}
			}
			h.fn = nil
			_, err := s.Import(ctx)
			if tc.name == "conflict markers" {
				if err == nil || !strings.Contains(err.Error(), "issues.jsonl:26") {
					t.Fatalf("import of the conflicted file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mem.get("a-20").Issue.Title; got != "theirs" {
				t.Fatalf("a-20 title %q after the re-import", got)
			}
		})
	}
}
