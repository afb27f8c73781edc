package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// gtcIgnored are the files gtc writes in .beads/ that git must not track: its database (and the stores a
// restore keeps or is making: gtc.db.replaced-*, gtc.db.restoring), socket, token (a secret), locks and
// the export's temporary file.
var gtcIgnored = []string{"gtc.db", "gtc.db-*", "gtc.db.*", "gtc.sock", "gtc.token", "gtc.lock", ".jsonl.lock", ".~issues.jsonl.*"}

// EnsureGitignore adds to <bd>/.gitignore the entries of gtc's files it lacks (creating the file), so
// that `git add -A` in a workspace never commits the token or the database. The lines already there are
// kept as they are; nothing is written when none is missing.
func EnsureGitignore(bd string) error {
	p := filepath.Join(bd, ".gitignore")
	old, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", p, err)
	}
	have := map[string]bool{}
	for _, l := range bytes.Split(old, []byte("\n")) {
		have[string(bytes.TrimSpace(l))] = true
	}
	var add []byte
	for _, e := range gtcIgnored {
		if !have[e] {
			add = append(append(add, e...), '\n')
		}
	}
	if len(add) == 0 {
		return nil
	}
	out := old
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, "# gtc's own state (bd's issues.jsonl stays tracked)\n"...)
	out = append(out, add...)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
