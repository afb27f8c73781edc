package beads

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Profile reports the file's writer profile once a sync has read or written it, without the lock.
func TestSyncerProfile(t *testing.T) {
	for _, tc := range []struct {
		corpus string
		want   Profile
	}{
		{"beads_sqlite-era_669ea406.jsonl", Classic},
		{"reframe2_v1-typed_15159adb.jsonl", ModernTyped},
	} {
		t.Run(tc.corpus, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), ".beads")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "issues.jsonl")
			if err := os.WriteFile(path, readCorpus(t, tc.corpus), 0o644); err != nil {
				t.Fatal(err)
			}
			s := NewSyncer(path, newMemBackend(), nil)
			if p, ok := s.Profile(); ok {
				t.Fatalf("Profile before any sync = %v, true; want unknown", p)
			}
			if _, err := s.Import(context.Background()); err != nil {
				t.Fatal(err)
			}
			if p, ok := s.Profile(); !ok || p != tc.want {
				t.Fatalf("Profile after import = %v, %v; want %v, true", p, ok, tc.want)
			}
		})
	}
}
