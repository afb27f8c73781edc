package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/store"
)

// renderPushStd is renderPush's store path as it was before: encoding/json for the stored body.
// TestRenderPushMatchesStd holds renderPush to it.
func renderPushStd(s *issueService, id string) (json.RawMessage, string, error) {
	raw, body, err := s.d.db.Body(context.Background(), id)
	if err != nil {
		return nil, "", err
	}
	if raw == nil {
		var is beads.Issue
		if err := json.Unmarshal(body, &is); err != nil {
			return nil, "", fmt.Errorf("decode stored issue %s: %w", id, err)
		}
		b, err := recordJSON(is, nil)
		return b, promptOf(is), err
	}
	var p struct {
		Title              string `json:"title"`
		Description        string `json:"description"`
		AcceptanceCriteria string `json:"acceptance_criteria"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, "", fmt.Errorf("decode stored issue %s: %w", id, err)
	}
	return json.RawMessage(raw), promptOf(beads.Issue{Title: p.Title, Description: p.Description, AcceptanceCriteria: p.AcceptanceCriteria}), nil
}

// renderStore opens a store holding the issues of one corpus file (imported, with raw records) and
// returns an issueService over it with the ids.
func renderStore(t testing.TB, corpus string) (*issueService, []string) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var ids []string
	if corpus != "" {
		data, err := os.ReadFile(corpus)
		if err != nil {
			t.Fatal(err)
		}
		f, err := beads.Parse(filepath.Base(corpus), data, beads.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var recs []beads.ImportedRecord
		seen := map[string]bool{}
		for _, r := range f.Issues() {
			is, err := r.Issue()
			if err != nil || seen[is.ID] {
				continue
			}
			seen[is.ID] = true
			recs = append(recs, beads.ImportedRecord{Issue: is, Raw: bytes.Clone(r.Raw())})
			ids = append(ids, is.ID)
		}
		if err := db.ImportIssues(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
	}
	return &issueService{d: &Daemon{db: db}}, ids
}

func checkRender(t *testing.T, s *issueService, id string) {
	t.Helper()
	wantRec, wantPrompt, werr := renderPushStd(s, id)
	r, err := s.renderPush(id)
	if fmt.Sprint(err) != fmt.Sprint(werr) {
		t.Fatalf("%s: err %v, want %v", id, err, werr)
	}
	rec, prompt := r.record, r.prompt
	if r.promptJSON != nil {
		if prompt != "" {
			t.Fatalf("%s: both a prompt and its JSON", id)
		}
		if err := json.Unmarshal(r.promptJSON, &prompt); err != nil {
			t.Fatalf("%s: prompt JSON %s: %v", id, r.promptJSON, err)
		}
	}
	if !bytes.Equal(rec, wantRec) || (rec == nil) != (wantRec == nil) || prompt != wantPrompt {
		t.Fatalf("%s:\n got  %s %q\n want %s %q", id, rec, prompt, wantRec, wantPrompt)
	}
}

// TestRenderPushMatchesStd renders every issue of the real corpora and issues created through the
// protocol (no raw record yet) both ways.
func TestRenderPushMatchesStd(t *testing.T) {
	corpora, _ := filepath.Glob(filepath.Join(corpusDir(t), "*.jsonl"))
	if len(corpora) == 0 {
		t.Fatal("no corpora under", corpusDir(t))
	}
	for _, c := range corpora {
		t.Run(filepath.Base(c), func(t *testing.T) {
			s, ids := renderStore(t, c)
			if len(ids) == 0 {
				t.Fatal("no issues")
			}
			for _, id := range ids {
				checkRender(t, s, id)
			}
		})
	}
	t.Run("protocol", func(t *testing.T) {
		s, _ := renderStore(t, "")
		at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		var puts []coord.Change
		for i, is := range []beads.Issue{
			{Title: "plain"},
			{Title: "t", Description: "line\n\"two\" <b>&</b>\u2028 \U0001F600", AcceptanceCriteria: "ac\\ \t"},
			{Title: "", Description: "", AcceptanceCriteria: "only ac"},
			{Title: "bad utf-8 \xff\xfe", Description: "d"},
		} {
			is.ID = fmt.Sprintf("gt-p%d", i)
			is.Status, is.IssueType, is.CreatedAt, is.UpdatedAt = "open", "task", at, at
			puts = append(puts, coord.IssuePut{Issue: is})
		}
		raw := beads.Issue{ID: "gt-raw", Title: "with\nraw", Description: "x", Status: "open", CreatedAt: at, UpdatedAt: at}
		puts = append(puts, coord.IssuePut{Issue: raw, Raw: []byte(`{"id":"gt-raw","title":"with\nraw"}`), FromImport: true})
		tricky := beads.Issue{ID: "gt-raw2", Title: "t\x01\x1f", Description: "line\n\"two\" <b>&</b>\u2028 \U0001F600 \xff",
			AcceptanceCriteria: "ac\\ \t", Status: "open", CreatedAt: at, UpdatedAt: at}
		puts = append(puts, coord.IssuePut{Issue: tricky, Raw: []byte(`{"id":"gt-raw2"}`), FromImport: true})
		noTitle := beads.Issue{ID: "gt-raw3", Description: "only a description", Status: "open", CreatedAt: at, UpdatedAt: at}
		puts = append(puts, coord.IssuePut{Issue: noTitle, Raw: []byte(`{"id":"gt-raw3"}`), FromImport: true})
		if err := s.d.db.Commit(context.Background(), puts); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"gt-p0", "gt-p1", "gt-p2", "gt-p3", "gt-raw", "gt-raw2", "gt-raw3", "gt-missing"} {
			checkRender(t, s, id)
		}
	})
}

// BenchmarkRenderPush is the store path of a push (the issue read and the prompt), before and after.
func BenchmarkRenderPush(b *testing.B) {
	dir, _ := os.Getwd()
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "shared", "testdata", "beads")); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	corpus := filepath.Join(dir, "shared", "testdata", "beads", "reframe2_v1-typed_15159adb.jsonl")
	s, ids := renderStore(b, corpus)
	newPath := func(s *issueService, id string) (json.RawMessage, string, error) {
		r, err := s.renderPush(id)
		return r.record, r.prompt, err
	}
	for _, impl := range []struct {
		name string
		f    func(*issueService, string) (json.RawMessage, string, error)
	}{{"std", renderPushStd}, {"new", newPath}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, _, err := impl.f(s, ids[i%len(ids)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
