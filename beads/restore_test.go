package beads

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncRestoresLinesTheFileLacks: a file replaced by one that lacks issues gtc holds (a git checkout
// of an older version, a truncation, a line deleted by hand) gets them back at the next export, as bd's
// full export after an outside change does; a stored tombstone missing from the file stays out.
func TestSyncRestoresLinesTheFileLacks(t *testing.T) {
	ctx := context.Background()
	lines := []string{
		`{"id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","x_keep":1}`,
		`{"id":"t-2","title":"two","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","x_keep":2}`,
		`{"id":"t-3","title":"three","status":"tombstone","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z"}`,
	}
	for _, tc := range []struct {
		name    string
		file    string // what replaces the file
		wantIDs []string
	}{
		{"one line deleted", lines[0] + "\n", []string{"t-1", "t-2"}},
		{"truncated", "", []string{"t-1", "t-2"}},
		{"removed", "-", []string{"t-1", "t-2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := beadsFile(t, strings.Join(lines, "\n")+"\n")
			b := newMemBackend()
			s := NewSyncer(path, b, nil)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.file == "-" {
				os.Remove(path)
			} else if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			out := fileBytes(t, path)
			var ids []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				for _, id := range []string{"t-1", "t-2", "t-3"} {
					if strings.Contains(l, `"id":"`+id+`"`) {
						ids = append(ids, id)
					}
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Fatalf("file after the sync holds %v, want %v:\n%s", ids, tc.wantIDs, out)
			}
			if !bytes.Contains(out, []byte(`"x_keep":2`)) {
				t.Errorf("the restored line lost its unknown key:\n%s", out)
			}
			if b.get("t-2").Dirty {
				t.Error("t-2 still dirty after the export")
			}
			// the next sync has nothing to do: same bytes
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if again := fileBytes(t, path); !bytes.Equal(again, out) {
				t.Fatalf("a second sync changed the file:\n%s", again)
			}
		})
	}
}

// TestSyncLeavesAModernFileWithoutADeletedLine: bd v1 (the modern profile) deletes an issue by removing
// its line, and refuses to export over a file holding issues its database lacks: gtc does not write
// the line back there (it only warns).
func TestSyncLeavesAModernFileWithoutADeletedLine(t *testing.T) {
	ctx := context.Background()
	l1 := `{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	l2 := `{"_type":"issue","id":"t-2","title":"two","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	path := beadsFile(t, l1+"\n"+l2+"\n")
	b := newMemBackend()
	s := NewSyncer(path, b, nil)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(l1+"\n"), 0o644); err != nil { // bd v1: `bd delete t-2`
		t.Fatal(err)
	}
	st, err := s.Import(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if out := string(fileBytes(t, path)); strings.Contains(out, `"id":"t-2"`) || st.Restored != 0 || b.get("t-2").Dirty {
		t.Fatalf("the line bd v1 deleted was written back (restored %d, dirty %v):\n%s", st.Restored, b.get("t-2").Dirty, out)
	}
}

// TestAnEmptiedModernFileKeepsItsProfile: an emptied file tells nothing of its writer: a bd v1 file
// emptied stays a bd v1 file (its lines are not written back in classic style, as bd v1 may have
// deleted them).
func TestAnEmptiedModernFileKeepsItsProfile(t *testing.T) {
	ctx := context.Background()
	l1 := `{"_type":"issue","id":"t-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-03-01T00:00:00Z","updated_at":"2026-03-01T00:00:00Z","dependency_count":0,"dependent_count":0,"comment_count":0}`
	path := beadsFile(t, l1+"\n")
	s := NewSyncer(path, newMemBackend(), nil)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Profile(); !p.Modern() {
		t.Fatalf("profile after the file was emptied: %v", p)
	}
	if out := fileBytes(t, path); len(out) != 0 {
		t.Fatalf("lines written into the emptied bd v1 file:\n%s", out)
	}
}

// beadsFile writes data as .beads/issues.jsonl in a new temp workspace and returns its path.
func beadsFile(t *testing.T, data string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".beads")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "issues.jsonl")
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
