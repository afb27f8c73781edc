package beads

import (
	"os"
	"path/filepath"
	"testing"
)

// corpusDir walks up from the package directory until it finds shared/testdata/beads.
func corpusDir(t testing.TB) string {
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

type corpus struct {
	name    string
	profile Profile
	issues  int
	memory  int
}

var corpora = []corpus{
	{"beads_sqlite-era_669ea406.jsonl", Classic, 3003, 0},
	{"beads_dolt-v0.49_051aeb0a.jsonl", Classic, 485, 0},
	{"reframe2_v1-typed_15159adb.jsonl", ModernTyped, 1689, 21},
	{"beads_v1.0-noType_HEAD-root_fbcee6c6.jsonl", ModernUntyped, 1, 0},
}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseCorpus(t testing.TB, name string) (*File, []byte) {
	t.Helper()
	data := readCorpus(t, name)
	f, err := Parse(name, data, ParseOptions{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return f, data
}
