package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir finds ../shared/testdata/beads from the package directory upwards.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, "shared", "testdata", "beads")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("shared/testdata/beads not found above the package directory")
	return ""
}

func TestImportExportLeavesEveryCorpusByteIdentical(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpusDir(t), "*.jsonl"))
	if err != nil || len(files) < 4 {
		t.Fatalf("corpora: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			bd := filepath.Join(dir, ".beads")
			if err := os.MkdirAll(bd, 0o755); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(bd, "issues.jsonl")
			if err := os.WriteFile(p, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"gtc", "--dir", dir, "import", "--json"}, &out, &errb); code != 0 {
				t.Fatalf("import: exit %d: %s", code, errb.String())
			}
			var st struct{ Records, New int }
			if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Records == 0 || st.New == 0 {
				t.Fatalf("import output %q: %v", out.String(), err)
			}
			for i := 0; i < 2; i++ {
				out.Reset()
				if code := run([]string{"gtc", "--dir", dir, "export", "--json"}, &out, &errb); code != 0 {
					t.Fatalf("export %d: exit %d: %s", i+1, code, errb.String())
				}
				var ex struct{ Written bool }
				_ = json.Unmarshal(out.Bytes(), &ex)
				if ex.Written {
					t.Fatalf("export %d of an unchanged workspace wrote the file: %s", i+1, out.String())
				}
				got, _ := os.ReadFile(p)
				if !bytes.Equal(got, orig) {
					t.Fatalf("issues.jsonl changed after import + export %d", i+1)
				}
			}
			// A second import finds nothing new.
			out.Reset()
			if code := run([]string{"gtc", "--dir", dir, "import", "--json"}, &out, &errb); code != 0 {
				t.Fatalf("re-import: exit %d: %s", code, errb.String())
			}
			_ = json.Unmarshal(out.Bytes(), &st)
			if st.New != 0 {
				t.Fatalf("re-import found %d new records", st.New)
			}
		})
	}
}

func TestImportRefusesConflictMarkersAndMissingWorkspace(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"gtc", "--dir", dir, "import"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "gtc init") {
		t.Fatalf("no .beads: exit %d, %q", code, errb.String())
	}
	bd := filepath.Join(dir, ".beads")
	_ = os.MkdirAll(bd, 0o755)
	bad := "{\"id\":\"x-1\",\"title\":\"a\",\"status\":\"open\",\"priority\":1,\"issue_type\":\"task\",\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n<<<<<<< HEAD\n=======\n>>>>>>> other\n"
	p := filepath.Join(bd, "issues.jsonl")
	_ = os.WriteFile(p, []byte(bad), 0o644)
	errb.Reset()
	if code := run([]string{"gtc", "--dir", dir, "import"}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "issues.jsonl:2") {
		t.Fatalf("conflict markers: exit %d, %q; want file:line", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"gtc", "--dir", dir, "export"}, &out, &errb); code == 0 {
		t.Fatalf("export after a failed import succeeded: %q", out.String())
	}
	if got, _ := os.ReadFile(p); string(got) != bad {
		t.Fatal("a file that does not parse was rewritten")
	}
}

// TestImportReportsLinesTheFileLacks: with the server stopped, `gtc import` of a file that lost lines
// gtc holds names them, `gtc export` writes them back (a classic file), and the workspace's
// .beads/.gitignore keeps gtc's files out of git.
func TestImportReportsLinesTheFileLacks(t *testing.T) {
	dir := t.TempDir()
	bd := filepath.Join(dir, ".beads")
	if err := os.MkdirAll(bd, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(bd, "issues.jsonl")
	l1 := `{"id":"c-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z"}`
	l2 := `{"id":"c-2","title":"two","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z"}`
	if err := os.WriteFile(p, []byte(l1+"\n"+l2+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, dir, "import")
	if gi, err := os.ReadFile(filepath.Join(bd, ".gitignore")); err != nil || !strings.Contains(string(gi), "gtc.db") {
		t.Fatalf(".beads/.gitignore after gtc import: %q, %v", gi, err)
	}
	if err := os.WriteFile(p, []byte(l1+"\n"), 0o644); err != nil { // a git checkout of an older file
		t.Fatal(err)
	}
	r := gtc(t, dir, "import")
	if r.code != exitOK || !strings.Contains(r.out, "1 missing to write back") || !strings.Contains(r.err, "c-2") {
		t.Fatalf("import of a file without c-2: exit %d, out %q, err %q", r.code, r.out, r.err)
	}
	must(t, dir, "export")
	if got, _ := os.ReadFile(p); !bytes.Contains(got, []byte(`"id":"c-2"`)) {
		t.Fatalf("export did not write c-2 back:\n%s", got)
	}
}
