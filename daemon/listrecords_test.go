package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestListSendsCleanRecordsAsTheirLines: issue.list answers a record not changed since its line was
// written with the line itself (the body left undecoded; it was half of issue.list's time), and the
// same bytes the full rendering gives; changed records are rendered from the store as before. Over the
// real beads files, with some issues changed through gtc.
func TestListSendsCleanRecordsAsTheirLines(t *testing.T) {
	dir, _ := os.Getwd()
	for range 6 {
		if _, err := os.Stat(filepath.Join(dir, "shared", "testdata", "beads")); err == nil {
			break
		}
		dir = filepath.Dir(dir)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shared", "testdata", "beads", "*.jsonl"))
	if len(files) < 4 {
		t.Fatalf("corpora: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
			h := start(t, lines, nil)
			ctx := context.Background()
			b := &backend{d: h.d}
			var all *rpc.IssueListResult
			eventually(t, 10*time.Second, "the file imported", func() bool {
				all, err = b.IssueList(ctx, nil, rpc.IssueListParams{Limit: 5000})
				return err == nil && len(all.Issues) > 0
			})
			ids := make([]string, 0, len(all.Issues))
			for _, r := range all.Issues {
				ids = append(ids, viewOf(t, r).ID)
			}
			// change a few through gtc: their rows are dirty until the next export
			changed := 0
			for _, id := range ids {
				if changed == 3 {
					break
				}
				if _, err := b.IssueUpdate(ctx, nil, rpc.IssueUpdateParams{ID: id, Title: ptr("changed by gtc")}); err == nil {
					changed++
				}
			}
			fileLine := map[string][]byte{}
			for _, l := range lines {
				if v := viewOf(t, []byte(l)); v.ID != "" {
					fileLine[v.ID] = []byte(l)
				}
			}
			got, err := b.render(ctx, ids, 0, len(ids))
			if err != nil {
				t.Fatal(err)
			}
			recs, err := h.d.db.Records(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]byte{}
			dirty := 0
			for _, r := range recs {
				j, err := recordJSON(r.Issue, r.Raw)
				if err != nil {
					t.Fatal(err)
				}
				want[r.ID] = j
				if r.Dirty {
					dirty++
				}
			}
			same := 0
			for _, j := range got.Issues {
				id := viewOf(t, j).ID
				if !bytes.Equal(j, want[id]) {
					t.Fatalf("%s: listed\n%s\nrendered\n%s", id, j, want[id])
				}
				if bytes.Equal(j, fileLine[id]) {
					same++
				}
			}
			if len(got.Issues) != len(recs) || dirty < changed || same < len(recs)-dirty {
				t.Fatalf("%d listed of %d records, %d dirty (%d changed), %d equal to their file line", len(got.Issues), len(recs), dirty, changed, same)
			}
		})
	}
}

// viewOf reads a record's id.
func viewOf(t *testing.T, raw []byte) struct{ ID string } {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("record %s: %v", raw, err)
	}
	return struct{ ID string }{v.ID}
}

func ptr[T any](v T) *T { return &v }
