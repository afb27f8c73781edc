package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreSaysWhyEpochsComeFromTheClock: gtc restore into a workspace whose gtc.db could not be read
// and into one that has none say which it was. Into a workspace without gtc.db it said "the replaced
// store's could not be read" (user trial), about a store that did not exist.
func TestRestoreSaysWhyEpochsComeFromTheClock(t *testing.T) {
	src := newWorkspace(t)
	must(t, src, "import")
	backup := filepath.Join(t.TempDir(), "b.db")
	must(t, src, "backup", backup)
	for _, tc := range []struct {
		name    string
		args    []string
		prepare func(dir string)
		want    string
		notWant string
	}{
		{"no gtc.db", []string{"restore", backup}, func(string) {}, "there was no gtc.db", "could not be read"},
		{"an unreadable gtc.db", []string{"restore", "--force", backup}, func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".beads", "gtc.db"), []byte("not a database"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "could not be read", "there was no gtc.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkspace(t)
			tc.prepare(dir)
			out := must(t, dir, tc.args...)
			if !strings.Contains(out, "continue from the clock") || !strings.Contains(out, tc.want) || strings.Contains(out, tc.notWant) {
				t.Errorf("gtc %s: %q; want %q, not %q", strings.Join(tc.args, " "), out, tc.want, tc.notWant)
			}
		})
	}
}
