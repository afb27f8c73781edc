package beads

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReinsertKeepsUnknownKeys: a line that left the file (a checkout of a commit without it, a bd v1
// hard delete) goes back at the issue's next export from its stored bytes, patched: the keys gtc does
// not model (external_ref, x_custom, ...) stay, in the file and in the stored bytes MarkExported keeps.
func TestReinsertKeepsUnknownKeys(t *testing.T) {
	ctx := context.Background()
	s, b, path, _ := setup(t, "")
	ts := "2026-01-02T03:04:05Z"
	a := `{"id":"t-a","title":"a","status":"open","priority":1,"issue_type":"task","created_at":"` + ts + `","updated_at":"` + ts + `","external_ref":"gh-9","x_custom":{"keep":"me"}}`
	c := `{"id":"t-c","title":"c","status":"open","priority":1,"issue_type":"task","created_at":"` + ts + `","updated_at":"` + ts + `"}`
	if err := os.WriteFile(path, []byte(a+"\n"+c+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// the file loses t-a's line
	if err := os.WriteFile(path, []byte(c+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	b.change("t-a", func(is *Issue) { is.Status, is.Assignee, is.UpdatedAt = "hooked", "w1", time.Now() })
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got := string(fileBytes(t, path))
	if !strings.Contains(got, `"external_ref":"gh-9"`) || !strings.Contains(got, `"x_custom":{"keep":"me"}`) ||
		!strings.Contains(got, `"status":"hooked"`) || !bytes.Contains(b.get("t-a").Raw, []byte("x_custom")) {
		t.Fatalf("the re-inserted line lost the keys gtc does not model or its change:\nfile:\n%s\nstored raw: %s", got, b.get("t-a").Raw)
	}
}
