package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestStatusTellsTheStartImport: the import at start is the first sync: coord.status tells how it went
// from the first answer, not from the first tick (trial: no sync state for the first 2 s, so a file the
// server could not read showed nothing wrong until then).
func TestStatusTellsTheStartImport(t *testing.T) {
	const good = `{"id":"s-1","title":"one","status":"open","priority":1,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	for _, tc := range []struct {
		name    string
		lines   []string
		failing bool
	}{
		{"a file it reads", []string{good}, false},
		{"conflict markers", []string{"<<<<<<< HEAD", good, "=======", ">>>>>>> other"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			var log logBuffer
			h := start(t, tc.lines, func(c *Config) {
				c.SyncInterval = 50 * time.Millisecond
				c.Logger = slog.New(slog.NewTextHandler(&log, nil))
			})
			cl, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
			st, err := cl.CoordStatus(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			sy := st.Sync
			switch {
			case sy == nil:
				t.Fatal("no sync state")
			case tc.failing && (sy.FailingSince == nil || sy.FailingSince.Before(before) || !strings.Contains(sy.Error, "conflict")):
				t.Fatalf("sync %+v: want failing since the start, with the reason", sy)
			case !tc.failing && (sy.LastOK == nil || sy.LastOK.Before(before) || sy.FailingSince != nil):
				t.Fatalf("sync %+v: want ok since the start", sy)
			}
			if !tc.failing {
				return
			}
			// the conflict resolved: the recovery is logged as after any failing sync
			if err := os.WriteFile(filepath.Join(h.dir, ".beads", "issues.jsonl"), []byte(good+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(log.String(), "jsonl sync recovered") {
				if time.Now().After(deadline) {
					t.Fatalf("no recovery logged after the start's failed import was mended:\n%s", log.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
