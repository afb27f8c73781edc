package beads

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memBackend is an in-memory Backend: the real store belongs to another package.
type memBackend struct {
	mu      sync.Mutex
	recs    map[string]*StoredRecord
	meta    SyncMeta
	imports int // records received through ApplyImport
}

func newMemBackend() *memBackend { return &memBackend{recs: map[string]*StoredRecord{}} }

func (m *memBackend) list(dirtyOnly bool) []StoredRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredRecord
	for _, r := range m.recs {
		if !dirtyOnly || r.Dirty {
			c := *r
			c.Issue = cloneIssue(r.Issue)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (m *memBackend) All(context.Context) ([]StoredRecord, error) { return m.list(false), nil }

// DirtyIDs and DirtyByID make memBackend a DirtyLookup, so every syncer test runs the streaming export;
// plainBackend hides them to run the whole-file export.
func (m *memBackend) DirtyIDs(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, r := range m.recs {
		if r.Dirty {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (m *memBackend) DirtyByID(_ context.Context, ids []string) ([]StoredRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredRecord
	for _, id := range ids {
		if r := m.recs[id]; r != nil && r.Dirty {
			c := *r
			c.Issue = cloneIssue(r.Issue)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Records makes memBackend a RecordLookup, so the syncer tests run the streaming import.
func (m *memBackend) Records(_ context.Context, ids []string) ([]StoredRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []StoredRecord
	for _, id := range ids {
		if r := m.recs[id]; r != nil {
			c := *r
			c.Issue = cloneIssue(r.Issue)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// plainBackend is a Backend without the optional streaming extensions; it restores missing lines as
// the store does (LineRestorer), so a whole-file and a streamed sync can be compared.
type plainBackend struct{ Backend }

// MarkMissing passes LineRestorer through.
func (p plainBackend) MarkMissing(ctx context.Context, present func(string) bool, mark bool) ([]string, error) {
	if lr, ok := p.Backend.(LineRestorer); ok {
		return lr.MarkMissing(ctx, present, mark)
	}
	return nil, nil
}

func (m *memBackend) Dirty(context.Context) ([]StoredRecord, error) { return m.list(true), nil }

// MarkMissing makes memBackend a LineRestorer, as the store is.
func (m *memBackend) MarkMissing(_ context.Context, present func(string) bool, mark bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, r := range m.recs {
		if (!r.Dirty || !mark && len(r.Raw) > 0) && r.Issue.Status != "tombstone" && !present(id) {
			if mark {
				r.Dirty = true
				r.Rev++
			}
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memBackend) ApplyImport(_ context.Context, recs []ImportedRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		cur := m.recs[r.Issue.ID]
		if cur == nil {
			cur = &StoredRecord{ID: r.Issue.ID}
			m.recs[r.Issue.ID] = cur
		}
		cur.Issue, cur.Raw, cur.Dirty = r.Issue, r.Raw, r.Dirty
		cur.Rev++
		m.imports++
	}
	return nil
}

func (m *memBackend) MarkExported(_ context.Context, recs []ExportedRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range recs {
		if cur := m.recs[e.ID]; cur != nil {
			cur.Raw = bytes.Clone(e.Raw) // the syncer may reuse e.Raw once MarkExported returns
			if cur.Rev == e.Rev {
				cur.Dirty = false
			}
		}
	}
	return nil
}

func (m *memBackend) SyncMeta(context.Context) (SyncMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.meta, nil
}

func (m *memBackend) SetSyncMeta(_ context.Context, meta SyncMeta) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta = meta
	return nil
}

// change edits a stored issue the way the coordinator would: dirty, rev bumped.
func (m *memBackend) change(id string, fn func(*Issue)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[id]
	if r == nil {
		r = &StoredRecord{ID: id}
		m.recs[id] = r
	}
	fn(&r.Issue)
	r.Dirty = true
	r.Rev++
}

func (m *memBackend) get(id string) StoredRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.recs[id]
}

func (m *memBackend) importCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.imports
}

// setup copies a corpus into a temp .beads dir and returns a syncer on it.
func setup(t *testing.T, corpusName string) (*Syncer, *memBackend, string, []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".beads")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "issues.jsonl")
	var data []byte
	if corpusName != "" {
		data = readCorpus(t, corpusName)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := newMemBackend()
	return NewSyncer(path, b, nil), b, path, data
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSyncerCorpusRoundTripUnchanged(t *testing.T) {
	ctx := context.Background()
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			s, b, path, data := setup(t, c.name)
			st, err := s.Import(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.New != c.issues || b.importCount() != c.issues {
				t.Fatalf("imported %+v / %d, want %d", st, b.importCount(), c.issues)
			}
			ex, err := s.Export(ctx)
			if err != nil || ex.Written || ex.Dirty != 0 {
				t.Fatalf("export with nothing dirty: %+v %v", ex, err)
			}
			// Every record dirty with an unchanged view: patching must reproduce the file.
			for _, r := range b.list(false) {
				b.change(r.ID, func(*Issue) {})
			}
			ex, err = s.Export(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Written || ex.Patched != 0 || ex.Dirty != c.issues {
				t.Fatalf("full export of unchanged records: %+v", ex)
			}
			if !bytes.Equal(fileBytes(t, path), data) {
				t.Fatal("file changed")
			}
			if ex, _ = s.Export(ctx); ex.Dirty != 0 || ex.Written {
				t.Fatalf("second export: %+v", ex)
			}
			// Sync on the untouched file neither imports nor writes.
			before := b.importCount()
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if b.importCount() != before || !bytes.Equal(fileBytes(t, path), data) {
				t.Fatal("sync of an unchanged file did something")
			}
		})
	}
}

func TestSyncerImportsExternalEdit(t *testing.T) {
	ctx := context.Background()
	s, b, path, data := setup(t, "beads_dolt-v0.49_051aeb0a.jsonl")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	n := b.importCount()
	// bd closes bd-1hc40 later on: status and updated_at change on that line.
	oldLine := `"status":"closed","priority":1,"issue_type":"task","owner":"steve.yegge@gmail.com","created_at":"2026-01-12T02:16:13Z","created_by":"beads/crew/wolf","updated_at":"2026-01-27T03:48:41Z"`
	newLine := `"status":"deferred","priority":1,"issue_type":"task","owner":"steve.yegge@gmail.com","created_at":"2026-01-12T02:16:13Z","created_by":"beads/crew/wolf","updated_at":"2026-02-01T00:00:00Z","labels":["ext"]`
	edited := bytes.Replace(data, []byte(oldLine), []byte(newLine), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("edit did not apply")
	}
	os.WriteFile(path, edited, 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if b.importCount() != n+1 {
		t.Fatalf("imported %d records, want 1", b.importCount()-n)
	}
	got := b.get("bd-1hc40")
	if got.Issue.Status != "deferred" || !slices.Equal(got.Issue.Labels, []string{"ext"}) || got.Dirty {
		t.Fatalf("stored %+v", got)
	}
	if !bytes.Contains(got.Raw, []byte(`"status":"deferred"`)) {
		t.Fatal("raw not taken from the file")
	}
	if !bytes.Equal(fileBytes(t, path), edited) {
		t.Fatal("import rewrote the file")
	}
}

func TestSyncerExportsGtcChange(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"beads_sqlite-era_669ea406.jsonl", "reframe2_v1-typed_15159adb.jsonl"} {
		t.Run(name, func(t *testing.T) {
			s, b, path, data := setup(t, name)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			f, _ := Parse(path, data, ParseOptions{})
			target := f.Issues()[10]
			now := time.Now()
			b.change(target.ID, func(is *Issue) {
				is.Status, is.Assignee, is.UpdatedAt = "in_progress", "gtc/worker-7", now
			})
			n := b.importCount()
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			out := fileBytes(t, path)
			if d := diffLines(data, out); len(d) != 1 || d[0] != target.Line {
				t.Fatalf("changed lines %v, want [%d]", d, target.Line)
			}
			if !bytes.Contains(out, []byte(`"assignee":"gtc/worker-7"`)) {
				t.Fatal("assignee not written")
			}
			st := b.get(target.ID)
			meta, _ := b.SyncMeta(ctx)
			if st.Dirty || meta.WrittenSHA != SHA256(out) || !bytes.Contains(out, st.Raw) {
				t.Fatalf("bookkeeping: dirty=%v written=%s", st.Dirty, meta.WrittenSHA)
			}
			// The next tick must not re-import gtc's own write nor write again.
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if b.importCount() != n || !bytes.Equal(fileBytes(t, path), out) {
				t.Fatal("own write re-imported or rewritten")
			}
			// A fresh syncer (restart) on the same store does not re-import either.
			s2 := NewSyncer(path, b, nil)
			if err := s2.Sync(ctx); err != nil || b.importCount() != n {
				t.Fatalf("restart: %v, imports %d→%d", err, n, b.importCount())
			}
		})
	}
}

func TestSyncerRefusesConflictMarkers(t *testing.T) {
	ctx := context.Background()
	s, b, path, data := setup(t, "beads_dolt-v0.49_051aeb0a.jsonl")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	n := b.importCount()
	lines := bytes.SplitAfter(data, []byte("\n"))
	var bad []byte
	bad = append(bad, lines[0]...)
	bad = append(bad, "<<<<<<< HEAD\n"...)
	bad = append(bad, bytes.Replace(lines[1], []byte(`"priority":`), []byte(`"priority":0,"x":`), 1)...)
	bad = append(bad, "=======\n"...)
	bad = append(bad, lines[1]...)
	bad = append(bad, ">>>>>>> theirs\n"...)
	for _, l := range lines[2:] {
		bad = append(bad, l...)
	}
	os.WriteFile(path, bad, 0o644)
	b.change("bd-1hc40", func(is *Issue) { is.Status = "open" })
	err := s.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), path+":2: git conflict marker") {
		t.Fatalf("err = %v", err)
	}
	if _, err := s.Export(ctx); err == nil || !strings.Contains(err.Error(), path+":4:") {
		t.Fatalf("export err = %v", err)
	}
	if b.importCount() != n || !bytes.Equal(fileBytes(t, path), bad) {
		t.Fatal("conflicted file imported or rewritten")
	}
	// Once resolved, the dirty change goes out.
	os.WriteFile(path, data, 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(fileBytes(t, path), []byte(`{"id":"bd-1hc40","title":"Blocking issue","status":"open"`)) {
		t.Fatal("change not exported after resolution")
	}
}

func TestSyncerMergeRules(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := func(id, status string, upd time.Time, extra string) string {
		return `{"id":"` + id + `","title":"T ` + id + `","status":"` + status + `","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"` +
			upd.Format(time.RFC3339) + `"` + extra + `}` + "\n"
	}
	s, b, path, _ := setup(t, "")
	initial := line("a-1", "open", t0, `,"labels":["keep"],"dependencies":[{"issue_id":"a-1","depends_on_id":"a-9","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]`) +
		line("a-2", "tombstone", t0, `,"deleted_at":"2026-01-01T00:00:00Z"`) +
		line("a-3", "open", t0, "") +
		line("a-4", "open", t0, "")
	os.WriteFile(path, []byte(initial), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// gtc changes a-3 (newer than anything in the file, not exported yet) and a-4 is left alone.
	b.change("a-3", func(is *Issue) { is.Assignee, is.UpdatedAt = "w", t0.Add(2*time.Hour) })
	t1 := t0.Add(time.Hour)
	edited := line("a-1", "in_progress", t1, `,"dependencies":[{"issue_id":"a-1","depends_on_id":"a-8","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]`) +
		line("a-2", "open", t1, "") + // a tombstone is never resurrected
		line("a-3", "closed", t1, `,"closed_at":"2026-01-01T01:00:00Z"`) + // closed after the line gtc wrote (older than gtc's change): the close wins
		line("a-4", "open", t0.Add(-time.Hour), `,"notes":"older"`) + // older and store clean: store wins, re-exported
		line("a-5", "open", t1, "")
	os.WriteFile(path, []byte(edited), 0o644)
	st, err := s.Import(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.New != 1 || st.Updated != 2 || st.Kept != 1 || st.Tombstoned != 1 || !slices.Equal(st.KeptIDs, []string{"a-4"}) {
		t.Fatalf("stats %+v", st)
	}
	a1 := b.get("a-1")
	// the line dropped the label and a-9 since gtc read it (bd removed them): taken as it is
	if a1.Issue.Status != "in_progress" || len(a1.Issue.Labels) != 0 || len(a1.Issue.Dependencies) != 1 || a1.Dirty {
		t.Fatalf("a-1 merge: %+v", a1.Issue)
	}
	if b.get("a-2").Issue.Status != "tombstone" {
		t.Fatal("tombstone resurrected")
	}
	// taken with gtc's later time (the scheduler drops an import older than its record): to export
	if a3 := b.get("a-3"); a3.Issue.Status != "closed" || a3.Issue.Assignee != "" || !a3.Dirty || !a3.Issue.UpdatedAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("a-3 after a close made on the line gtc last wrote: %+v", a3)
	}
	ex, err := s.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := string(fileBytes(t, path))
	for _, want := range []string{
		line("a-1", "in_progress", t1, `,"dependencies":[{"issue_id":"a-1","depends_on_id":"a-8","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]`), // as bd wrote it
		line("a-3", "closed", t0.Add(2*time.Hour), `,"closed_at":"2026-01-01T01:00:00Z"`),                                                                // bd's close, at gtc's later time
		line("a-4", "open", t0, ""),
		line("a-2", "tombstone", t0, `,"deleted_at":"2026-01-01T00:00:00Z"`), // the tombstone written back over the live line
	} {
		if !strings.Contains(out, want) {
			t.Errorf("file lacks %s\n%s\n%+v", want, out, ex)
		}
	}
}

func TestSyncerNewIssuesAndCounts(t *testing.T) {
	ctx := context.Background()
	s, b, path, _ := setup(t, "")
	const typed = `{"_type":"issue","id":"m-1","title":"T","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-09T06:10:55Z","dependency_count":0,"dependent_count":0,"comment_count":0}` + "\n" +
		`{"_type":"memory","key":"k","value":"v"}` + "\n"
	os.WriteFile(path, []byte(typed), 0o644)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)
	b.change("m-2", func(is *Issue) {
		*is = Issue{ID: "m-2", Title: "New", Status: "open", Priority: 1, IssueType: "task", CreatedAt: ts, UpdatedAt: ts}
	})
	b.change("m-3", func(is *Issue) {
		*is = Issue{ID: "m-3", Title: "Blocked", Status: "open", Priority: 2, IssueType: "bug", CreatedAt: ts, UpdatedAt: ts,
			Dependencies: []Dependency{{IssueID: "m-3", DependsOnID: "m-2", Type: "blocks", CreatedAt: ts}}}
	})
	ex, err := s.Export(ctx)
	if err != nil || ex.Inserted != 2 {
		t.Fatalf("%+v %v", ex, err)
	}
	want := `{"_type":"issue","id":"m-2","title":"New","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-10T00:00:00Z","updated_at":"2026-05-10T00:00:00Z","dependency_count":0,"dependent_count":1,"comment_count":0}` + "\n" +
		`{"_type":"issue","id":"m-1","title":"T","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-09T06:10:55Z","dependency_count":0,"dependent_count":0,"comment_count":0}` + "\n" +
		`{"_type":"issue","id":"m-3","title":"Blocked","status":"open","priority":2,"issue_type":"bug","created_at":"2026-05-10T00:00:00Z","updated_at":"2026-05-10T00:00:00Z","dependencies":[{"issue_id":"m-3","depends_on_id":"m-2","type":"blocks","created_at":"2026-05-10T00:00:00Z","metadata":"{}"}],"dependency_count":1,"dependent_count":0,"comment_count":0}` + "\n" +
		`{"_type":"memory","key":"k","value":"v"}` + "\n"
	if got := string(fileBytes(t, path)); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestSyncerNewFileAndMissingDir(t *testing.T) {
	ctx := context.Background()
	s, b, path, _ := setup(t, "")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b.change("n-1", func(is *Issue) {
		*is = Issue{ID: "n-1", Title: "x", Status: "open", Priority: 0, IssueType: "task", CreatedAt: ts, UpdatedAt: ts}
	})
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := fileBytes(t, path)
	f, err := Parse(path, got, ParseOptions{})
	if err != nil || f.Get("n-1") == nil || f.Profile != Classic || !bytes.Contains(got, []byte(`"priority":0`)) {
		t.Fatalf("new file: %s %v", got, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", st.Mode())
	}

	gone := NewSyncer(filepath.Join(t.TempDir(), "nope", ".beads", "issues.jsonl"), newMemBackend(), nil)
	if err := gone.Sync(ctx); err == nil || !strings.Contains(err.Error(), "gtc init") || !strings.Contains(err.Error(), "--dir") {
		t.Fatalf("err = %v", err)
	}
}

func TestSyncerRunStops(t *testing.T) {
	s, b, path, _ := setup(t, "beads_v1.0-noType_HEAD-root_fbcee6c6.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, 5*time.Millisecond) }()
	deadline := time.After(5 * time.Second)
	for b.importCount() == 0 {
		select {
		case <-deadline:
			t.Fatal("Run did not import")
		case <-time.After(5 * time.Millisecond):
		}
	}
	b.change("bd-main-idj", func(is *Issue) { is.Assignee = "w9" })
	for !bytes.Contains(fileBytes(t, path), []byte(`"assignee":"w9"`)) {
		select {
		case <-deadline:
			t.Fatal("Run did not export")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}

// TestSyncerCRLFRewriteIsNoChange: a file converted to CRLF line endings (an editor, git's autocrlf)
// holds the same records: nothing is re-imported, and the file is left as it is.
func TestSyncerCRLFRewriteIsNoChange(t *testing.T) {
	ctx := context.Background()
	s, b, path, data := setup(t, "beads_dolt-v0.49_051aeb0a.jsonl")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	n := b.importCount()
	crlf := bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
	if err := os.WriteFile(path, crlf, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := s.Import(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.importCount() != n || st.Updated != 0 || st.Unchanged != st.Records {
		t.Errorf("CRLF rewrite: %d records re-imported, stats %+v; want none, all unchanged", b.importCount()-n, st)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fileBytes(t, path), crlf) {
		t.Error("the sync rewrote the CRLF file")
	}
}
