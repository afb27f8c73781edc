package beads

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guessBackend is a memBackend that names the records never written (UnwrittenLookup); guess, when
// set, replaces its answer (a wrong one, to see the export recover).
type guessBackend struct {
	*memBackend
	guess []string
}

func (g *guessBackend) UnwrittenIDs(context.Context) ([]string, error) {
	if g.guess != nil {
		return g.guess, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id, r := range g.recs {
		if r.Raw == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// TestExportPutsNewRecordsInOnOnePass: with the file's profile known, an export that adds created
// records writes the file once when the store names them (it wrote the whole file twice: a first pass
// found them missing, a second put them in), and a wrong guess (a named record the file holds, a new
// one not named) still gives the same file.
func TestExportPutsNewRecordsInOnOnePass(t *testing.T) {
	var file strings.Builder
	for i := 0; i < 16000; i += 2 { // a classic file, sorted by id: c-00000, c-00002, ... (~700 KB: the
		// writer's 256 KiB buffer is flushed several times a pass)
		file.WriteString(`{"id":"c-` + pad5(i) + `","title":"issue ` + pad5(i) + `","status":"open","priority":2,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-09T06:10:55Z"}` + "\n")
	}
	ts := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	run := func(t *testing.T, mk func(*memBackend) Backend) (out string, written int) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), ".beads")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "issues.jsonl")
		if err := os.WriteFile(path, []byte(file.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		m := newMemBackend()
		s := NewSyncer(path, mk(m), nil)
		ctx := context.Background()
		if err := s.Sync(ctx); err != nil { // imports, learns the profile
			t.Fatal(err)
		}
		m.change("c-01001", func(is *Issue) {
			*is = Issue{ID: "c-01001", Title: "created", Status: "open", Priority: 1, IssueType: "task", CreatedAt: ts, UpdatedAt: ts}
		})
		m.change("c-02501", func(is *Issue) {
			*is = Issue{ID: "c-02501", Title: "created too", Status: "open", Priority: 1, IssueType: "bug", CreatedAt: ts, UpdatedAt: ts}
		})
		m.change("c-02000", func(is *Issue) { is.Title, is.UpdatedAt = "changed", ts })
		prev := writeData
		writeData = func(f *os.File, p []byte) error { written += len(p); return prev(f, p) }
		defer func() { writeData = prev }()
		if st, err := s.Export(ctx); err != nil || st.Inserted != 2 || st.Patched != 1 {
			t.Fatalf("export: %+v, %v", st, err)
		}
		return string(fileBytes(t, path)), written
	}
	want, twice := run(t, func(m *memBackend) Backend { return m })
	got, once := run(t, func(m *memBackend) Backend { return &guessBackend{memBackend: m} })
	if got != want {
		t.Fatalf("with the new records named, the file differs:\n%s\nwant\n%s", got, want)
	}
	if size := len(want); once > size+size/10 || twice < size+size/4 {
		t.Errorf("wrote %d bytes with the new records named, %d without, for a file of %d: want one pass and two", once, twice, size)
	}
	wrong, n := run(t, func(m *memBackend) Backend {
		return &guessBackend{memBackend: m, guess: []string{"c-01001", "c-02000"}} // c-02000 is in the file; c-02501 is new
	})
	if wrong != want {
		t.Fatalf("after a wrong guess the file differs:\n%s\nwant\n%s", wrong, want)
	}
	if n < len(want)+len(want)/4 {
		t.Errorf("a wrong guess wrote %d bytes for a file of %d: want a second pass", n, len(want))
	}
	if strings.Count(wrong, `"id":"c-02000"`) != 1 || strings.Count(wrong, `"id":"c-01001"`) != 1 {
		t.Fatalf("a record written twice after a wrong guess:\n%s", wrong)
	}
}

func pad5(i int) string { s := "0000" + strconv.Itoa(i); return s[len(s)-5:] }
