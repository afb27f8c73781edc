package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

func TestRevDirtyAndMarkExported(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	state := coord.IssueState{ID: "gt-1", Status: "in_progress", Assignee: "w1", UpdatedAt: t0}
	steps := []struct {
		name      string
		do        func() error
		wantRaw   string
		wantDirty bool
		wantRev   int64
	}{
		{"import is clean", func() error {
			return db.ImportIssues(ctx, []beads.ImportedRecord{{Issue: sampleIssue("gt-1"), Raw: []byte(`{"v":1}`)}})
		}, `{"v":1}`, false, 1},
		{"state change dirties", func() error { return db.Commit(ctx, []coord.Change{state}) }, `{"v":1}`, true, 2},
		{"export at current rev cleans", func() error {
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Raw: []byte(`{"v":2}`), Rev: 2}})
		}, `{"v":2}`, false, 2},
		{"another change", func() error { return db.Commit(ctx, []coord.Change{state}) }, `{"v":2}`, true, 3},
		{"export at stale rev stores bytes, stays dirty", func() error {
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "gt-1", Raw: []byte(`{"v":3}`), Rev: 2}})
		}, `{"v":3}`, true, 3},
		{"put without raw keeps raw", func() error {
			return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}})
		}, `{"v":3}`, true, 4},
		{"export of unknown id is ignored", func() error {
			return db.MarkExported(ctx, []beads.ExportedRecord{{ID: "nope", Raw: []byte(`{}`), Rev: 1}, {ID: "gt-1", Raw: []byte(`{"v":4}`), Rev: 4}})
		}, `{"v":4}`, false, 4},
		{"re-import replaces raw, clean", func() error {
			return db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1"), Raw: []byte(`{"v":5}`), FromImport: true}})
		}, `{"v":5}`, false, 5},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			all, err := db.All(ctx)
			if err != nil || len(all) != 1 {
				t.Fatalf("All = %v, %v", all, err)
			}
			r := all[0]
			if string(r.Raw) != st.wantRaw || r.Dirty != st.wantDirty || r.Rev != st.wantRev {
				t.Errorf("raw %s dirty %v rev %d, want %s %v %d", r.Raw, r.Dirty, r.Rev, st.wantRaw, st.wantDirty, st.wantRev)
			}
			dirty, err := db.Dirty(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if (len(dirty) == 1) != st.wantDirty {
				t.Errorf("Dirty() = %d records, want dirty=%v", len(dirty), st.wantDirty)
			}
		})
	}
}

func TestNewIssueWithoutRawHasNilRaw(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-new")})
	_, raw, err := db.GetIssue(ctx, "gt-new")
	if err != nil || raw != nil {
		t.Fatalf("raw = %q, err %v; want nil", raw, err)
	}
	m, err := db.RawIssues(ctx, []string{"gt-new"})
	if err != nil || len(m) != 0 {
		t.Fatalf("RawIssues = %v, %v; want empty", m, err)
	}
}

func TestSyncMetaRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	if m, err := db.SyncMeta(ctx); err != nil || m != (beads.SyncMeta{}) {
		t.Fatalf("initial SyncMeta = %+v, %v", m, err)
	}
	for _, want := range []beads.SyncMeta{{ReadSHA: "aa", WrittenSHA: "bb"}, {ReadSHA: "cc"}} {
		if err := db.SetSyncMeta(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := db.SyncMeta(ctx); err != nil || got != want {
			t.Errorf("SyncMeta = %+v, %v; want %+v", got, err, want)
		}
	}
}

// testdataDir walks up from the package directory to shared/testdata/beads.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", "beads")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared/testdata/beads not found")
		}
		dir = parent
	}
}

// readCorpus decodes a JSONL corpus with encoding/json (classic integer comment ids are dropped: the
// store keeps raw bytes, so only the parsed view is affected).
func readCorpus(t testing.TB, name string) []beads.ImportedRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(testdataDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []beads.ImportedRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var is beads.Issue
		if err := json.Unmarshal(line, &is); err != nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%s line %d: %v", name, len(recs)+1, err)
			}
			delete(m, "comments")
			b, _ := json.Marshal(m)
			if err := json.Unmarshal(b, &is); err != nil {
				t.Fatalf("%s line %d: %v", name, len(recs)+1, err)
			}
		}
		recs = append(recs, beads.ImportedRecord{Issue: is, Raw: line})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestImportRealCorpusKeepsRawBytes(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"beads_sqlite-era_669ea406.jsonl", "beads_dolt-v0.49_051aeb0a.jsonl"} {
		t.Run(name, func(t *testing.T) {
			recs := readCorpus(t, name)
			db := openTest(t, Options{})
			if err := db.ImportIssues(ctx, recs); err != nil {
				t.Fatal(err)
			}
			want := map[string]beads.ImportedRecord{}
			for _, r := range recs {
				want[r.Issue.ID] = r
			}
			all, err := db.All(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(want) {
				t.Fatalf("All = %d records, want %d", len(all), len(want))
			}
			for _, r := range all {
				w := want[r.ID]
				if !bytes.Equal(r.Raw, w.Raw) || r.Dirty {
					t.Errorf("%s: raw kept %v, dirty %v", r.ID, bytes.Equal(r.Raw, w.Raw), r.Dirty)
				}
				if len(r.Issue.Labels) != len(w.Issue.Labels) || len(r.Issue.Dependencies) != len(w.Issue.Dependencies) || r.Issue.Status != w.Issue.Status {
					t.Errorf("%s: parsed view differs from the imported one", r.ID)
				}
			}
			s, err := db.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			deps := 0
			for _, m := range s.Issues {
				deps += len(m.Deps)
			}
			wantDeps := 0
			for _, r := range want {
				wantDeps += len(r.Issue.Dependencies)
			}
			if len(s.Issues) != len(want) || deps != wantDeps {
				t.Errorf("Load: %d issues %d deps, want %d and %d", len(s.Issues), deps, len(want), wantDeps)
			}
		})
	}
}
