package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

func TestProfileCacheFollowsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issues.jsonl")
	var c profileCache
	if got := c.get(path); got != beads.Classic {
		t.Fatalf("missing file: %v, want classic", got)
	}
	classic := `{"id":"bd-1","title":"a","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z"}` + "\n"
	if err := os.WriteFile(path, []byte(classic), 0o644); err != nil {
		t.Fatal(err)
	}
	want := func() beads.Profile {
		f, _, err := beads.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return f.Profile
	}
	if got := c.get(path); got != want() {
		t.Fatalf("profile %v, want %v", got, want())
	}
	// A modern (v1) file: the cache notices the change through size and mtime.
	data, err := os.ReadFile(filepath.Join(corpusDir(t), "reframe2_v1-typed_15159adb.jsonl"))
	if err != nil {
		t.Skip("corpus not found:", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	os.Chtimes(path, later, later)
	if got := c.get(path); got != want() || !got.Modern() {
		t.Fatalf("after rewrite: %v, want modern %v", got, want())
	}
}

// corpusDir walks up from the package directory to shared/testdata/beads.
func corpusDir(t *testing.T) string {
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, "shared", "testdata", "beads")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		dir = filepath.Dir(dir)
	}
	return filepath.Join("..", "..", "shared", "testdata", "beads")
}
