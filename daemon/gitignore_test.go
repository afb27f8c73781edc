package daemon

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeKeepsItsFilesOutOfGit: opening a workspace adds gtc's files (the token above all) to
// .beads/.gitignore, keeping the lines there and adding each entry once, across restarts; git then
// ignores them. A bd workspace's .gitignore lacked them, so `git add -A` committed the token.
func TestServeKeepsItsFilesOutOfGit(t *testing.T) {
	for _, tc := range []struct {
		name, before string
	}{
		{"none", ""},
		{"bd's", "*.db\n*.db-journal\ngtc.token\ndaemon.log"}, // no final newline
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkspace(t, nil)
			bd := filepath.Join(dir, ".beads")
			gi := filepath.Join(bd, ".gitignore")
			if tc.before != "" {
				if err := os.WriteFile(gi, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // a restart adds nothing
				d, err := Open(context.Background(), Config{Dir: dir, DB: ":memory:"})
				if err != nil {
					t.Fatal(err)
				}
				d.closeAll()
			}
			b, err := os.ReadFile(gi)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if !strings.HasPrefix(got, tc.before) {
				t.Errorf(".gitignore lost its lines:\n%s", got)
			}
			for _, e := range gtcIgnored {
				if n := strings.Count("\n"+got, "\n"+e+"\n"); n != 1 {
					t.Errorf("%q listed %d times in:\n%s", e, n, got)
				}
			}
			if _, err := exec.LookPath("git"); err != nil {
				return
			}
			if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
				t.Fatalf("git init: %v %s", err, out)
			}
			for _, f := range []string{"gtc.token", "gtc.db", "gtc.db-wal", "gtc.lock", "gtc.sock", ".jsonl.lock", ".~issues.jsonl.123",
				"gtc.db.replaced-20261128T041050Z", "gtc.db.replaced-20261128T041050Z-wal", "gtc.db.restoring"} {
				if err := exec.Command("git", "-C", dir, "check-ignore", "-q", filepath.Join(".beads", f)).Run(); err != nil {
					t.Errorf("git does not ignore .beads/%s", f)
				}
			}
			if err := exec.Command("git", "-C", dir, "check-ignore", "-q", ".beads/issues.jsonl").Run(); err == nil {
				t.Error("git ignores issues.jsonl")
			}
		})
	}
}
