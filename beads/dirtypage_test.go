package beads

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// pagedBackend is a memBackend that also pages its dirty records (DirtyPager), counting the pages.
type pagedBackend struct {
	Backend
	mem   *memBackend
	pages int
}

func (p *pagedBackend) DirtyPage(_ context.Context, after string, limit int) ([]StoredRecord, error) {
	p.pages++
	var out []StoredRecord
	for _, r := range p.mem.list(true) {
		if strings.Compare(r.ID, after) > 0 && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func TestSyncerPagedExportMatchesWholeExport(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 5, 0, 0, 0, time.UTC)
	for _, name := range []string{"beads_sqlite-era_669ea406.jsonl", "reframe2_v1-typed_15159adb.jsonl"} {
		t.Run(name, func(t *testing.T) {
			run := func(mode string) ([]byte, *memBackend, int) {
				s, b, path, data := setup(t, name)
				var pb *pagedBackend
				switch mode {
				case "paged":
					pb = &pagedBackend{Backend: b, mem: b}
					s = NewSyncer(path, pb, nil)
				case "whole":
					s = NewSyncer(path, plainBackend{b}, nil)
				}
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				f, _ := Parse(path, data, ParseOptions{})
				for i, r := range f.Issues() {
					switch {
					case i%3 == 0:
						b.change(r.ID, func(is *Issue) {
							is.Status, is.Assignee, is.UpdatedAt = "in_progress", fmt.Sprintf("gtc/w-%d", i), now
						})
					case i == 7 && f.Profile.Modern():
						b.change(r.ID, func(is *Issue) { is.Status, is.UpdatedAt = "tombstone", now })
					}
				}
				for i := range 3 {
					id := fmt.Sprintf("zz-new-%d", i)
					b.change(id, func(is *Issue) {
						is.ID, is.Title, is.Status, is.IssueType = id, "new "+id, "open", "task"
						is.Priority, is.CreatedAt, is.UpdatedAt = i, now, now
					})
				}
				if err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if d, _ := b.Dirty(ctx); len(d) != 0 {
					t.Fatalf("%s: %d records still dirty", mode, len(d))
				}
				pages := 0
				if pb != nil {
					pages = pb.pages
				}
				return fileBytes(t, path), b, pages
			}
			whole, _, _ := run("whole")
			paged, _, pages := run("paged")
			streamed, _, _ := run("stream")
			if pages < 3 {
				t.Fatalf("export read %d pages, want several", pages)
			}
			if !bytes.Equal(whole, paged) {
				t.Fatalf("paged export differs from the whole export at lines %v", diffLines(whole, paged))
			}
			if !bytes.Equal(whole, streamed) {
				t.Fatalf("streamed export differs from the whole export at lines %v", diffLines(whole, streamed))
			}
		})
	}
}
