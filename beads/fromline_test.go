package beads

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// lineBackend is memBackend as a DirtyLineLookup, keeping per record the flag the store keeps in
// issue_bodies.raw_has_body: set by an import taken as it is and by MarkExported with HoldsBody at the
// same rev, cleared by a change of the body. It checks what it vouches for: a record it answers
// FromLine has a line that decodes to the stored issue in every field but the state fields.
type lineBackend struct {
	*memBackend
	t        testing.TB
	holds    map[string]bool
	fromLine int // records answered FromLine
	full     int // dirty records answered with their body
}

func newLineBackend(t testing.TB) *lineBackend {
	return &lineBackend{memBackend: newMemBackend(), t: t, holds: map[string]bool{}}
}

func (b *lineBackend) ApplyImport(ctx context.Context, recs []ImportedRecord) error {
	if err := b.memBackend.ApplyImport(ctx, recs); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range recs {
		b.holds[r.Issue.ID] = !r.Dirty
	}
	return nil
}

func (b *lineBackend) MarkExported(ctx context.Context, recs []ExportedRecord) error {
	b.mu.Lock()
	for _, e := range recs {
		if cur := b.recs[e.ID]; cur != nil {
			b.holds[e.ID] = e.HoldsBody && e.Raw != nil && cur.Rev == e.Rev
		}
	}
	b.mu.Unlock()
	return b.memBackend.MarkExported(ctx, recs)
}

// changeBody edits a stored issue's body (and maybe its state), as issue.update does.
func (b *lineBackend) changeBody(id string, fn func(*Issue)) {
	b.change(id, fn)
	b.mu.Lock()
	b.holds[id] = false
	b.mu.Unlock()
}

func (b *lineBackend) DirtyViewsOfLines(_ context.Context, dst []StoredRecord, ids []string, text []byte, spans [][2]int) ([]StoredRecord, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, id := range ids {
		r := b.recs[id]
		if r == nil || !r.Dirty {
			continue
		}
		line := text[spans[i][0]:spans[i][1]]
		if b.holds[id] && bytes.Equal(r.Raw, line) {
			v, err := decodeIssue(line)
			if err != nil || !sameBody(&v, &r.Issue) {
				b.t.Errorf("%s: flagged as holding its body, but the line %s decodes to %+v (%v), the body is %+v", id, line, v, err, r.Issue)
			}
			is := Issue{ID: r.Issue.ID}
			setState(&is, &r.Issue)
			is.Labels = slices.Clone(is.Labels)
			dst = append(dst, StoredRecord{ID: id, Issue: is, Dirty: true, Rev: r.Rev, FromLine: true})
			b.fromLine++
			continue
		}
		c := *r
		c.Issue, c.Raw = cloneIssue(r.Issue), nil
		dst = append(dst, c)
		b.full++
	}
	return dst, nil
}

// oddShapes is a classic file whose lines take every unusual shape the decoder and the patcher handle:
// spacing, arrays spread out, keys in another case or twice, escapes, unknown keys, wisp, legacy ids.
const oddShapes = `{"id":"od-1","title":"plain","status":"open","priority":1,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}
{ "id" : "od-2" , "title" : "spaced" , "status" : "open" , "priority" : 2 , "issue_type" : "bug" , "created_at" : "2026-01-01T00:00:00.123456789+02:00" , "updated_at" : "2026-01-01T00:00:00Z" , "labels" : [ "b" , "a" ] }
{"id":"od-3","Title":"folded","title":"later","status":"open","priority":"3","issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","dependencies":[ {"issue_id":"od-3","depends_on_id":"od-1","type":"blocks","created_at":"2026-01-01T00:00:00Z"} ]}
{"id":"od-4","title":"esc \u00e9 \"q\" <tag>","description":"line\nbreak","status":"in_progress","assignee":"w1","priority":0,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","started_at":"2026-01-01T00:00:00Z","x_unknown":{"a":[1,2]},"wisp":true}
{"id":"od-5","title":"dup","title":"dup2","status":"closed","priority":4,"issue_type":"task","created_at":"2026-01-01 00:00:00","updated_at":"2026-01-01T00:00:00Z","closed_at":"2026-01-02T00:00:00Z","close_reason":"done","comments":[{"id":7,"issue_id":"od-5","author":"a","text":" hi ","created_at":"2026-01-01T00:00:00Z"}]}
{"id":"od-6","title":"deps","status":"open","priority":1,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","dependencies":[{"issue_id":"od-6","depends_on_id":"od-1","type":"blocks","created_at":"2026-01-01T00:00:00Z","metadata":{"k": 1}},{"issue_id":"od-6","depends_on_id":"od-2","type":"related","created_at":"2026-01-01T00:00:00Z"}],"Labels":["x"]}
{"id":"od-7","title":"","status":"","priority":null,"issue_type":"","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","pinned":true,"defer_until":"2026-03-01T00:00:00Z"}
`

// TestFromLineExportsWhatTheBodyExports runs the same changes through two stores, one answering
// FromLine wherever its flag allows and one always with the body, over the corpora and odd lines:
// state changes, body changes, files edited outside (newer lines imported, older ones kept), and
// records the file lost; after every export the two files must be the same bytes.
func TestFromLineExportsWhatTheBodyExports(t *testing.T) {
	type src struct {
		name string
		data []byte
	}
	var srcs []src
	for _, c := range corpora {
		srcs = append(srcs, src{c.name, readCorpus(t, c.name)})
	}
	srcs = append(srcs, src{"odd", []byte(oddShapes)})
	var gen bytes.Buffer
	for i := range 300 {
		is := Issue{ID: fmt.Sprintf("gn-%03d", i), Title: fmt.Sprintf("generated %d", i), Description: strings.Repeat("d", i%50),
			Status: "open", Priority: i % 5, IssueType: "task", CreatedAt: time.Date(2026, 1, 1, 0, 0, i, i*1000, time.UTC),
			UpdatedAt: time.Date(2026, 1, 2, 0, 0, i, 0, time.UTC)}
		if i%3 == 0 {
			is.Labels = []string{"z", "a"}
		}
		if i%4 == 1 && i > 0 {
			is.Dependencies = []Dependency{{IssueID: is.ID, DependsOnID: fmt.Sprintf("gn-%03d", i-1), Type: "blocks", CreatedAt: is.CreatedAt}}
		}
		r, err := NewRecord(is, Profile(i%3))
		if err != nil {
			t.Fatal(err)
		}
		gen.Write(r.Raw())
		gen.WriteByte('\n')
	}
	srcs = append(srcs, src{"generated", gen.Bytes()})
	for _, sc := range srcs {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			lb := newLineBackend(t)
			pathA, pathB := writeWorkspace(t, sc.data), writeWorkspace(t, sc.data)
			mb := newMemBackend()
			sA, sB := NewSyncer(pathA, lb, nil), NewSyncer(pathB, mb, nil)
			for _, s := range []*Syncer{sA, sB} {
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ids := make([]string, 0)
			for _, r := range lb.list(false) {
				ids = append(ids, r.ID)
			}
			rng := rand.New(rand.NewPCG(1, uint64(len(sc.data))))
			for round := range 12 {
				at := time.Date(2026, 5, 1, 0, round, 0, 0, time.FixedZone("x", 3600))
				for _, id := range ids {
					switch x := rng.IntN(100); {
					case x < 30:
						st := stateChange(rng, round, at)
						lb.change(id, st)
						mb.change(id, st)
					case x < 33:
						bc := bodyChange(rng, round, at, ids)
						lb.changeBody(id, bc)
						mb.change(id, bc)
					}
				}
				if round%4 == 3 {
					// edited outside: a newer line for one record (imported), an older one with another
					// title for a dirty record (kept: the store's version is exported over it), a lost line
					for _, p := range []string{pathA, pathB} {
						editOutside(t, p, ids, round, at)
					}
				}
				for _, s := range []*Syncer{sA, sB} {
					if err := s.Sync(ctx); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				a, b := fileBytes(t, pathA), fileBytes(t, pathB)
				if !bytes.Equal(a, b) {
					t.Fatalf("round %d: the files differ:\n%s", round, firstDiff(a, b))
				}
			}
			if lb.fromLine == 0 {
				t.Fatalf("no record was exported from its line (%d with their body)", lb.full)
			}
			t.Logf("%d records from their line, %d with their body", lb.fromLine, lb.full)
		})
	}
}

func writeWorkspace(t *testing.T, data []byte) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".beads")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "issues.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// stateChange is a random change of the state fields, as leases and completions make.
func stateChange(rng *rand.Rand, round int, at time.Time) func(*Issue) {
	k := rng.IntN(6)
	w := fmt.Sprintf("w%d", rng.IntN(4))
	return func(is *Issue) {
		is.UpdatedAt = at
		switch k {
		case 0:
			is.Status, is.Assignee = "hooked", w
		case 1:
			is.Status, is.Assignee, is.StartedAt = "in_progress", w, &at
		case 2:
			is.Status, is.ClosedAt, is.CloseReason = "closed", &at, fmt.Sprintf("done %d", round)
		case 3:
			is.Status, is.Assignee, is.ClosedAt, is.CloseReason = "open", "", nil, ""
		case 4:
			is.Labels = append(slices.Clone(is.Labels), fmt.Sprintf("l%d", round%3))
		case 5:
			is.Status, is.Labels = "blocked", nil
		}
	}
}

// bodyChange is a random change of the body, as issue.update, convoy edits and merges make.
func bodyChange(rng *rand.Rand, round int, at time.Time, ids []string) func(*Issue) {
	k := rng.IntN(5)
	dep := ids[rng.IntN(len(ids))]
	return func(is *Issue) {
		is.UpdatedAt = at
		switch k {
		case 0:
			is.Title = fmt.Sprintf("retitled %d", round)
		case 1:
			is.Description += " more"
			is.Priority = (is.Priority + 1) % 5
		case 2:
			is.Dependencies = append(slices.Clone(is.Dependencies), Dependency{IssueID: is.ID, DependsOnID: dep, Type: "blocks", CreatedAt: at})
		case 3:
			is.Comments = append(slices.Clone(is.Comments), Comment{ID: fmt.Sprint(round), IssueID: is.ID, Author: "a", Text: "note", CreatedAt: at})
		case 4:
			is.Status, is.Notes = "in_progress", "started"
		}
	}
}

// editOutside edits the file as bd or git would: one line retitled with a newer updated_at, one with an
// older one, and one line dropped.
func editOutside(t *testing.T, path string, ids []string, round int, at time.Time) {
	t.Helper()
	f, err := Parse(path, fileBytes(t, path), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pick := func(k int) *Record { return f.Get(ids[(round*7+k*13)%len(ids)]) }
	edit := func(r *Record, when time.Time, title string) {
		if r == nil {
			return
		}
		is, err := r.Issue()
		if err != nil {
			t.Fatal(err)
		}
		is.UpdatedAt, is.Title = when, title
		if _, err := r.Apply(is, f.Profile); err != nil {
			t.Fatal(err)
		}
	}
	edit(pick(0), at.Add(time.Hour), fmt.Sprintf("bd edit %d", round))
	edit(pick(1), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), fmt.Sprintf("old edit %d", round))
	if r := pick(2); r != nil {
		f.Remove(r.ID)
	}
	if err := os.WriteFile(path, f.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d:\nfrom line: %s\nwith body: %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("%d lines and %d lines", len(la), len(lb))
}
