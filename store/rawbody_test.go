package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// rawHasBody reads issue_bodies.raw_has_body of id.
func rawHasBody(t *testing.T, db *DB, id string) bool {
	t.Helper()
	var v int
	if err := db.r.GetContext(context.Background(), &v, `SELECT raw_has_body FROM issue_bodies WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	return v != 0
}

// lineView decodes a stored raw record as the file's reader does.
func lineView(t *testing.T, raw []byte) beads.Issue {
	t.Helper()
	f, err := beads.Parse("raw", raw, beads.ParseOptions{})
	if err != nil || len(f.Issues()) != 1 {
		t.Fatalf("parse %s: %v", raw, err)
	}
	is, err := f.Issues()[0].Issue()
	if err != nil {
		t.Fatal(err)
	}
	return is
}

// bodyDiff is how the issue raw decodes to differs from the stored body, the state columns aside.
func bodyDiff(a, b beads.Issue) string {
	for _, is := range []*beads.Issue{&a, &b} {
		is.Status, is.Assignee, is.UpdatedAt, is.StartedAt, is.ClosedAt, is.CloseReason, is.Labels = "", "", time.Time{}, nil, nil, "", nil
	}
	return cmp.Diff(a, b, cmp.Comparer(func(x, y time.Time) bool { return x.Equal(y) }), cmpopts.EquateEmpty())
}

// checkRawHasBody fails when the flag of id is set while its raw bytes do not decode to its body.
func checkRawHasBody(t *testing.T, db *DB, id string) {
	t.Helper()
	if !rawHasBody(t, db, id) {
		return
	}
	raw, body, err := db.Body(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := beads.DecodeIssueJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	if d := bodyDiff(lineView(t, raw), b); d != "" {
		t.Fatalf("%s: raw_has_body set, but raw %s differs from the body (-raw +body):\n%s", id, raw, d)
	}
}

// TestRawHasBodyPerWriter takes every writer of issue_bodies in turn and checks the flag each leaves.
func TestRawHasBodyPerWriter(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	is := sampleIssue("gt-1")
	line := []byte(`{"id":"gt-1","title":"title gt-1","description":"desc","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-26T10:00:00.123456789Z","updated_at":"2026-11-26T10:00:00.123456789Z","labels":["a","b"],"dependencies":[{"issue_id":"gt-1","depends_on_id":"gt-root","type":"blocks","created_at":"2026-11-26T10:00:00.123456789Z"}]}`)
	state := coord.IssueState{ID: "gt-1", Status: "in_progress", Assignee: "w1", UpdatedAt: t0.Add(time.Minute), AddLabels: []string{"c"}}
	rev := func() int64 {
		all, err := db.All(ctx)
		if err != nil || len(all) != 1 {
			t.Fatalf("All = %v, %v", all, err)
		}
		return all[0].Rev
	}
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"import of a line as it is", func() error {
			return db.ImportIssues(ctx, []beads.ImportedRecord{{Issue: lineView(t, line), Raw: line}})
		}, true},
		{"state change keeps it", func() error { return db.Commit(ctx, []coord.Change{state}) }, true},
		{"export holding the body at the current rev", func() error {
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Raw: line, Rev: rev(), HoldsBody: true}})
		}, true},
		{"put through the protocol clears it", func() error {
			p := is
			p.Title = "edited"
			return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: p}})
		}, false},
		{"export not holding the body", func() error {
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Raw: line, Rev: rev()}})
		}, false},
		{"import merged with the store clears it", func() error {
			return db.ImportIssues(ctx, []beads.ImportedRecord{{Issue: lineView(t, line), Raw: line, Dirty: true}})
		}, false},
		{"export holding the body at a stale rev", func() error {
			r := rev()
			commit(t, db, state) // a change after the export read the record
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Raw: line, Rev: r, HoldsBody: true}})
		}, false},
		{"import again", func() error {
			return db.ImportIssues(ctx, []beads.ImportedRecord{{Issue: lineView(t, line), Raw: line}})
		}, true},
		{"export of a removed record (no bytes)", func() error {
			commit(t, db, state)
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Rev: rev(), HoldsBody: true}})
		}, false},
		{"convoy-style put of the whole issue", func() error {
			if err := db.ImportIssues(ctx, []beads.ImportedRecord{{Issue: lineView(t, line), Raw: line}}); err != nil {
				return err
			}
			return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: lineView(t, line), KeepState: true}})
		}, false},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := rawHasBody(t, db, "gt-1"); got != st.want {
			t.Fatalf("%s: raw_has_body = %v, want %v", st.name, got, st.want)
		}
		checkRawHasBody(t, db, "gt-1")
	}
	// a create through the protocol has no raw bytes
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-2"), Create: true})
	if rawHasBody(t, db, "gt-2") {
		t.Fatal("create: raw_has_body set")
	}
}

// TestDirtyViewsOfLines checks which records come back FromLine (flag set and the line is the stored
// raw) and that the others are exactly DirtyViewsByID's, in the order asked, duplicates included.
func TestDirtyViewsOfLines(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	lineOf := func(id, title string) []byte {
		return []byte(fmt.Sprintf(`{"id":%q,"title":%q,"status":"open","priority":1,"issue_type":"task","created_at":"2026-11-26T10:00:00Z","updated_at":"2026-11-26T10:00:00Z"}`, id, title))
	}
	var recs []beads.ImportedRecord
	for _, id := range []string{"gt-a", "gt-b", "gt-c", "gt-d"} {
		l := lineOf(id, "t "+id)
		recs = append(recs, beads.ImportedRecord{Issue: lineView(t, l), Raw: l})
	}
	if err := db.ImportIssues(ctx, recs); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	for _, id := range []string{"gt-a", "gt-b", "gt-c"} {
		commit(t, db, coord.IssueState{ID: id, Status: "closed", ClosedAt: &at, CloseReason: "done", UpdatedAt: at, AddLabels: []string{"x"}})
	}
	// bytes beyond ASCII and the packing's separators in the state columns
	at2 := at.In(time.FixedZone("", -7*3600))
	commit(t, db, coord.IssueState{ID: "gt-a", Status: "in_progress", Assignee: "wö,r:k 1", UpdatedAt: at2, StartedAt: &at2,
		CloseReason: "12,3:ü", AddLabels: []string{"é", "a,b"}})
	edited := lineView(t, lineOf("gt-b", "new title"))
	edited.Status, edited.ClosedAt, edited.CloseReason, edited.UpdatedAt, edited.Labels = "closed", &at, "done", at, []string{"x"}
	commit(t, db, coord.IssuePut{Issue: edited}) // gt-b's body changed: its line no longer holds it
	// gt-a: its line; gt-b: its old line, body changed; gt-c: a line that is not its stored raw;
	// gt-d: not dirty; gt-a again
	ids := []string{"gt-c", "gt-a", "gt-b", "gt-d", "gt-a"}
	lines := [][]byte{lineOf("gt-c", "changed outside"), lineOf("gt-a", "t gt-a"), lineOf("gt-b", "t gt-b"), lineOf("gt-d", "t gt-d"), lineOf("gt-a", "t gt-a")}
	var text []byte
	var spans [][2]int
	for _, l := range lines {
		text = append(text, "xx"...)
		spans = append(spans, [2]int{len(text), len(text) + len(l)})
		text = append(text, l...)
	}
	got, err := db.DirtyViewsOfLines(ctx, nil, ids, text, spans)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got); n != 4 {
		t.Fatalf("%d records, want 4: %+v", n, got)
	}
	full, err := db.DirtyViewsByID(ctx, []string{"gt-a", "gt-b", "gt-c"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]beads.StoredRecord{}
	for _, r := range full {
		byID[r.ID] = r
	}
	for i, want := range []struct {
		id       string
		fromLine bool
	}{{"gt-c", false}, {"gt-a", true}, {"gt-b", false}, {"gt-a", true}} {
		r := got[i]
		if r.ID != want.id || r.FromLine != want.fromLine {
			t.Fatalf("record %d: %s FromLine %v, want %s %v", i, r.ID, r.FromLine, want.id, want.fromLine)
		}
		f := byID[r.ID]
		if !r.FromLine {
			if d := cmp.Diff(f, r); d != "" {
				t.Fatalf("%s differs from DirtyViewsByID's:\n%s", r.ID, d)
			}
			continue
		}
		// only the state columns, as DirtyViewsByID has them
		st := beads.Issue{ID: r.ID, Status: f.Issue.Status, Assignee: f.Issue.Assignee, UpdatedAt: f.Issue.UpdatedAt,
			StartedAt: f.Issue.StartedAt, ClosedAt: f.Issue.ClosedAt, CloseReason: f.Issue.CloseReason, Labels: f.Issue.Labels}
		if d := cmp.Diff(st, r.Issue); d != "" || r.Rev != f.Rev || !r.Dirty || r.Raw != nil {
			t.Fatalf("%s FromLine: rev %d dirty %v raw %q, state differs:\n%s", r.ID, r.Rev, r.Dirty, r.Raw, d)
		}
	}
	// appends to dst
	again, err := db.DirtyViewsOfLines(ctx, got[:1], ids[1:2], text, spans[1:2])
	if err != nil || len(again) != 2 || again[1].ID != "gt-a" || !again[1].FromLine {
		t.Fatalf("append: %+v %v", again, err)
	}
}

// TestExportFromLineMatchesFullExport runs one random history (state changes, edits through the protocol,
// merges, files edited outside) through two stores and their syncers: one as is, one whose raw_has_body
// is cleared before every export (so every record is read with its body). The files must stay the same
// bytes, every raw_has_body set must hold, and the first store must have exported from the lines.
func TestExportFromLineMatchesFullExport(t *testing.T) {
	for _, name := range []string{"beads_sqlite-era_669ea406.jsonl", "reframe2_v1-typed_15159adb.jsonl", "beads_dolt-v0.49_051aeb0a.jsonl"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			data, err := os.ReadFile(filepath.Join(testdataDir(t), name))
			if err != nil {
				t.Fatal(err)
			}
			served := 0 // records the fast store answered FromLine
			open := func(count bool) exportSide {
				return openExportSide(t, data, func(db *DB) beads.Backend {
					if count {
						return countingDB{importingDB{db}, &served}
					}
					return importingDB{db}
				})
			}
			fast, full := open(true), open(false)
			all, err := fast.db.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range all { // the import set the flag on every line taken as it is: it must hold
				if !rawHasBody(t, fast.db, r.ID) {
					t.Fatalf("%s: imported as it is, raw_has_body not set", r.ID)
				}
				checkRawHasBody(t, fast.db, r.ID)
			}
			rng := rand.New(rand.NewPCG(7, uint64(len(data))))
			holds := 0
			for round := range 8 {
				at := t0.Add(time.Duration(round+1) * time.Hour)
				var changes []coord.Change
				for _, r := range all {
					switch x := rng.IntN(100); {
					case x < 25:
						st := coord.IssueState{ID: r.ID, Status: []string{"hooked", "in_progress", "closed", "open"}[rng.IntN(4)],
							Assignee: fmt.Sprintf("w%d", rng.IntN(3)), UpdatedAt: at}
						if st.Status == "closed" {
							st.ClosedAt, st.CloseReason, st.Assignee = &at, "done", ""
						}
						if rng.IntN(4) == 0 {
							st.AddLabels = []string{fmt.Sprintf("l%d", round)}
						}
						changes = append(changes, st)
					case x < 28:
						cur, _, err := fast.db.GetIssue(ctx, r.ID)
						if err != nil {
							t.Fatal(err)
						}
						cur.Title += " (edited)"
						cur.Priority = (cur.Priority + 1) % 5
						cur.UpdatedAt = at
						changes = append(changes, coord.IssuePut{Issue: cur, KeepState: true})
					}
				}
				for _, sd := range []exportSide{fast, full} {
					commit(t, sd.db, changes...)
				}
				if round%3 == 2 {
					for _, sd := range []exportSide{fast, full} {
						editLine(t, sd.path, all[(round*31)%len(all)].ID, at.Add(time.Minute))
					}
				}
				if _, err := full.db.w.ExecContext(ctx, `UPDATE issue_bodies SET raw_has_body = 0`); err != nil {
					t.Fatal(err)
				}
				ids, err := fast.db.DirtyIDs(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, sd := range []exportSide{fast, full} {
					if err := sd.s.Sync(ctx); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				a, b := readFile(t, fast.path), readFile(t, full.path)
				if !bytes.Equal(a, b) {
					t.Fatalf("round %d: the files differ", round)
				}
				for _, id := range ids {
					if rawHasBody(t, fast.db, id) {
						holds++
					}
					checkRawHasBody(t, fast.db, id)
				}
			}
			if holds == 0 || served == 0 {
				t.Fatalf("%d exported records hold their body, %d were read from their line", holds, served)
			}
			t.Logf("%d exported records hold their body, %d were read from their line", holds, served)
		})
	}
}

// countingDB counts the records DirtyViewsOfLines answers FromLine.
type countingDB struct {
	importingDB
	n *int
}

func (c countingDB) DirtyViewsOfLines(ctx context.Context, dst []beads.StoredRecord, ids []string, text []byte, spans [][2]int) ([]beads.StoredRecord, error) {
	from := len(dst)
	out, err := c.DB.DirtyViewsOfLines(ctx, dst, ids, text, spans)
	for _, r := range out[from:] {
		if r.FromLine {
			*c.n++
		}
	}
	return out, err
}

// editLine gives the record id a new title and a newer updated_at in the file, as bd would.
func editLine(t *testing.T, path, id string, at time.Time) {
	t.Helper()
	f, err := beads.Parse(path, readFile(t, path), beads.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Get(id)
	if r == nil {
		return
	}
	is, err := r.Issue()
	if err != nil {
		t.Fatal(err)
	}
	is.Title, is.UpdatedAt = "edited by bd", at
	if _, err := r.Apply(is, f.Profile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppendJSONText checks that every id reaches SQLite's JSON as the same text.
func TestAppendJSONText(t *testing.T) {
	for _, s := range []string{"", "gt-1", "a\"b", `c\d`, "<&>", "é", "x\x00y", "tab\t", "\x7f", "\xff"} {
		b, err := appendJSONText([]byte("x"), s)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, b[1:], err)
		}
		want := s
		if !utf8.ValidString(s) {
			want = strings.ToValidUTF8(s, "\uFFFD")
		}
		if got != want {
			t.Errorf("%q: decodes to %q", s, got)
		}
	}
}

// exportSide is a store and its syncer on a workspace whose issues.jsonl held data, imported once.
type exportSide struct {
	db   *DB
	s    *beads.Syncer
	path string
}

// openExportSide opens a store and syncs data into it through backend(db).
func openExportSide(t *testing.T, data []byte, backend func(*DB) beads.Backend) exportSide {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".beads")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "issues.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	db := openTest(t, Options{})
	s := beads.NewSyncer(path, backend(db), nil)
	if err := s.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return exportSide{db, s, path}
}
