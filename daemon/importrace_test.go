package daemon

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// hookedBackend runs hook once, right after the import has read the stored records of a stretch:
// it stands for a worker's completion that commits while the import is between its read and its apply.
type hookedBackend struct {
	syncBackend
	hook func()
}

func (b *hookedBackend) Records(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	recs, err := b.syncBackend.DB.Records(ctx, ids)
	if b.hook != nil {
		h := b.hook
		b.hook = nil
		h()
	}
	return recs, err
}

// TestMergedImportKeepsNewerCompletion: a bd edit whose merge keeps something of the store (here the
// label bd's line no longer has) is still an import: when a completion commits after the import read
// the store and before it applies (the backend's hook), the completion is not undone.
func TestMergedImportKeepsNewerCompletion(t *testing.T) {
	ts := "2026-01-02T03:04:05Z"
	l := `{"id":"t-a","title":"a","status":"open","priority":1,"issue_type":"task","created_at":"` + ts +
		`","updated_at":"` + ts + `","labels":["l1"]}`
	h := start(t, []string{l}, func(c *Config) { c.SyncInterval = time.Hour })
	w := h.worker("w1", 1)
	a := w.next(t, 3*time.Second)
	ctx := context.Background()
	if _, err := h.d.syncer.Export(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	line := h.fileLines()["t-a"]
	// bd edits the title (and drops the label) a moment after the claim
	time.Sleep(5 * time.Millisecond)
	bdTime := time.Now().UTC().Format(time.RFC3339Nano)
	nl := regexp.MustCompile(`"updated_at":"[^"]*"`).ReplaceAllString(line, `"updated_at":"`+bdTime+`"`)
	nl = strings.Replace(nl, `"title":"a"`, `"title":"edited by bd"`, 1)
	nl = strings.Replace(nl, `,"labels":["l1"]`, ``, 1)
	if err := os.WriteFile(path, []byte(nl+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	hb := &hookedBackend{syncBackend: syncBackend{DB: h.d.db, engine: h.d.Engine()}}
	hb.hook = func() { w.complete(t, a) } // commits after bd's updated_at
	s := beads.NewSyncer(path, hb, nil)
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, err := h.d.db.GetIssue(ctx, "t-a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "closed" {
		t.Fatalf("the completion (newer than bd's edit, %s) was undone by the import: status %q assignee %q; scheduler %+v",
			bdTime, got.Status, got.Assignee, h.d.Engine().Status().Issues)
	}
}
