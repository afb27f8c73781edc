package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestModernDependentCountOfUntouchedBlocker: in a bd v1 file, dependent_count of an issue is the number
// of blocks edges pointing at it. When gtc adds, removes or tombstones the edge of another issue, the
// blocker's own line must follow, though nothing else of it changed (it kept its old count: the file said
// a-1 had 1 dependent while 2 issues waited for it, until something else touched a-1's line).
func TestModernDependentCountOfUntouchedBlocker(t *testing.T) {
	line := func(id, deps string, n int) string { return v1Line(id, "T "+id, deps, n) }
	tomb := "tombstone"
	for _, tc := range []struct {
		name   string
		change func(ctx context.Context, c *rpc.Client) error
		want   string // a-1's dependent_count afterwards
	}{
		{"dep added", func(ctx context.Context, c *rpc.Client) error {
			_, err := c.IssueDepAdd(ctx, rpc.IssueDepParams{ID: "a-3", DependsOn: "a-1"})
			return err
		}, `"dependent_count":2`},
		{"dep removed", func(ctx context.Context, c *rpc.Client) error {
			_, err := c.IssueDepRemove(ctx, rpc.IssueDepParams{ID: "a-2", DependsOn: "a-1"})
			return err
		}, `"dependent_count":0`},
		{"dependent tombstoned", func(ctx context.Context, c *rpc.Client) error {
			_, err := c.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "a-2", Status: &tomb})
			return err
		}, `"dependent_count":0`},
		{"new dependent created", func(ctx context.Context, c *rpc.Client) error {
			_, err := c.IssueCreate(ctx, rpc.IssueCreateParams{ID: "a-4", Title: "new", Deps: []rpc.DepSpec{{ID: "a-1"}}})
			return err
		}, `"dependent_count":2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, []string{line("a-1", "", 1), line("a-2", "a-1", 0), line("a-3", "", 0)}, nil)
			ctx := context.Background()
			op, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
			if err := tc.change(ctx, op); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // a few export ticks
			if _, err := h.d.syncer.Export(ctx); err != nil {
				t.Fatal(err)
			}
			if got := h.fileLines()["a-1"]; !strings.Contains(got, tc.want) {
				t.Fatalf("a-1's line after the change: want %s\n%s", tc.want, got)
			}
		})
	}
}

// TestModernDependentCountWholeExport: the same through the export of the parsed file, which the
// syncer takes when an import found lines older than gtc's records (a git checkout) to write back.
func TestModernDependentCountWholeExport(t *testing.T) {
	line := v1Line
	orig := []string{line("a-1", "one", "", 1), line("a-2", "two", "a-1", 0), line("a-3", "three", "", 0)}
	h := start(t, orig, func(c *Config) { c.SyncInterval = time.Hour })
	ctx := context.Background()
	op, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
	title := "three, retitled"
	if _, err := op.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "a-3", Title: &title}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.syncer.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// a checkout brings a-3's older line back (kept: written back by the whole-file export), while
	// gtc drops a-2's edge to a-1
	if _, err := op.IssueDepRemove(ctx, rpc.IssueDepParams{ID: "a-2", DependsOn: "a-1"}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(orig, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.d.syncer.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	lines := h.fileLines()
	if !strings.Contains(lines["a-3"], title) {
		t.Fatalf("a-3 not written back: %s", lines["a-3"])
	}
	if !strings.Contains(lines["a-1"], `"dependent_count":0`) {
		t.Fatalf("a-1's line after a-2's edge was removed: want dependent_count 0\n%s", lines["a-1"])
	}
	// and the next sync takes the rewritten line as gtc's own: nothing imported, nothing written
	before, _ := os.ReadFile(path)
	if err := h.d.syncer.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatalf("the file changed on a sync with nothing to do:\n%s\n%s", before, after)
	}
}

// TestModernDependentCountWholeExportOfATombstone: a checkout that brings back the line of an issue gtc
// tombstoned has the whole-file export drop that line again and nothing else to write: the count on the
// line of the issue it blocked follows all the same.
func TestModernDependentCountWholeExportOfATombstone(t *testing.T) {
	line := func(id, deps string, n int) string { return v1Line(id, "t "+id, deps, n) }
	orig := []string{line("a-1", "", 1), line("a-2", "a-1", 0), line("a-3", "", 0)}
	h := start(t, orig, func(c *Config) { c.SyncInterval = time.Hour })
	ctx := context.Background()
	op, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
	tomb := "tombstone"
	if _, err := op.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "a-2", Status: &tomb}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.syncer.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if lines := h.fileLines(); lines["a-2"] != "" || !strings.Contains(lines["a-1"], `"dependent_count":0`) {
		t.Fatalf("after the tombstone: a-2 %q, a-1 %q", lines["a-2"], lines["a-1"])
	}
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(orig, "\n")+"\n"), 0o644); err != nil { // the checkout
		t.Fatal(err)
	}
	if err := h.d.syncer.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if lines := h.fileLines(); lines["a-2"] != "" || !strings.Contains(lines["a-1"], `"dependent_count":0`) {
		t.Fatalf("after the checkout: a-2 %q, a-1 %q: want a-2 dropped again and a-1 counting no dependent", lines["a-2"], lines["a-1"])
	}
}

// v1Line is a bd v1 issue line: id with title, blocked by deps when given, counting n dependents.
func v1Line(id, title, deps string, n int) string {
	const ts = "2026-05-09T06:10:55Z"
	d, dc := "", 0
	if deps != "" {
		d, dc = `,"dependencies":[{"issue_id":"`+id+`","depends_on_id":"`+deps+`","type":"blocks","created_at":"`+ts+`","metadata":"{}"}]`, 1
	}
	return `{"_type":"issue","id":"` + id + `","title":"` + title + `","status":"open","priority":1,"issue_type":"task","created_at":"` +
		ts + `","updated_at":"` + ts + `"` + d + `,"dependency_count":` + strconv.Itoa(dc) + `,"dependent_count":` + strconv.Itoa(n) + `,"comment_count":0}`
}
