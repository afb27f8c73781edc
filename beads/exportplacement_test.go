package beads

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestStreamExportPlacementTies holds the streaming export to the whole-file one on a broader generator
// than genFile's: creation times shared between file lines and new records (so priority and created_at
// ties are broken by id), memory lines anywhere, blank lines, tombstones, changed created_at, chunks of
// 1-4 lines, and a fresh or a reused syncer (the reused one takes the two-pass path of a known profile).
func TestStreamExportPlacementTies(t *testing.T) {
	defer func(l, b, r int) { streamChunkLines, streamChunkBytes, exportedRawBudget = l, b, r }(streamChunkLines, streamChunkBytes, exportedRawBudget)
	streamChunkLines, streamChunkBytes, exportedRawBudget = rapid.IntRange(1, 4).Example(0), 400, 700
	ctx := context.Background()
	rapid.Check(t, func(t *rapid.T) {
		streamChunkLines = rapid.IntRange(1, 4).Draw(t, "chunk")
		fresh := rapid.Bool().Draw(t, "fresh")
		prof := Profile(rapid.IntRange(0, 2).Draw(t, "profile"))
		base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		n := rapid.IntRange(0, 10).Draw(t, "issues")
		var lines []string
		var ids []string
		seen := map[string]bool{}
		if rapid.Bool().Draw(t, "header") {
			lines = append(lines, `{"_schema":"v1"}`)
		}
		mem := 0
		for i := 0; i < n; i++ {
			if prof == ModernTyped && rapid.IntRange(0, 3).Draw(t, "memline") == 0 {
				lines = append(lines, fmt.Sprintf(`{"_type":"memory","key":"k%d","value":"v"}`, mem))
				mem++
			}
			id := fmt.Sprintf("t-%02d", rapid.IntRange(0, 20).Draw(t, "id"))
			if seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
			created := base.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "created")) * time.Hour)
			is := Issue{ID: id, Title: "issue " + id, Status: "open", Priority: rapid.IntRange(0, 2).Draw(t, "priority"),
				IssueType: "task", CreatedAt: created, UpdatedAt: created}
			rec, err := NewRecord(is, prof)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(rec.Raw()))
			if rapid.IntRange(0, 5).Draw(t, "blank") == 0 {
				lines = append(lines, "")
			}
		}
		if prof == ModernTyped && rapid.Bool().Draw(t, "memory") {
			lines = append(lines, `{"_type":"memory","key":"kz","value":"v"}`)
		}
		var data []byte
		if len(lines) > 0 {
			data = []byte(strings.Join(lines, "\n"))
			if rapid.Bool().Draw(t, "final") {
				data = append(data, '\n')
			}
		}
		type change struct {
			id string
			fn func(*Issue)
		}
		var changes []change
		now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
		for range rapid.IntRange(0, 8).Draw(t, "changes") {
			if len(ids) > 0 && rapid.Bool().Draw(t, "existing") {
				id := ids[rapid.IntRange(0, len(ids)-1).Draw(t, "which")]
				status := rapid.SampledFrom([]string{"closed", "tombstone", "open"}).Draw(t, "to")
				prio := rapid.IntRange(0, 2).Draw(t, "newprio")
				cr := rapid.IntRange(-1, 2).Draw(t, "newcr")
				changes = append(changes, change{id, func(is *Issue) {
					is.Status, is.Priority, is.UpdatedAt = status, prio, now
					if cr >= 0 {
						is.CreatedAt = base.Add(time.Duration(cr) * time.Hour)
					}
				}})
				continue
			}
			id := fmt.Sprintf("t-%02d", rapid.IntRange(0, 22).Draw(t, "newid"))
			created := base.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "newcreated")) * time.Hour)
			prio := rapid.IntRange(0, 2).Draw(t, "prio")
			status := rapid.SampledFrom([]string{"open", "open", "tombstone"}).Draw(t, "newstatus")
			changes = append(changes, change{id, func(is *Issue) {
				if is.ID == "" {
					*is = Issue{ID: id, Title: "new " + id, IssueType: "task", CreatedAt: created}
				}
				is.Status, is.Priority, is.UpdatedAt = status, prio, now
			}})
		}
		run := func(streamed bool) ([]byte, ExportStats) {
			dir, err := os.MkdirTemp("", "gtc-placement-")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, "issues.jsonl")
			if data != nil {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m := newMemBackend()
			var b Backend = m
			if !streamed {
				b = plainBackend{m}
			}
			s := NewSyncer(path, b, nil)
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			for _, c := range changes {
				m.change(c.id, c.fn)
			}
			if fresh {
				s = NewSyncer(path, b, nil)
			}
			st, err := s.Export(ctx)
			if err != nil {
				t.Fatalf("streamed=%v: %v", streamed, err)
			}
			got, err := os.ReadFile(path)
			if err != nil && data != nil {
				t.Fatal(err)
			}
			return got, st
		}
		whole, wst := run(false)
		streamed, sst := run(true)
		if !bytes.Equal(whole, streamed) {
			t.Fatalf("differs\nin:\n%s\nwhole:\n%s\nstreamed:\n%s", data, whole, streamed)
		}
		if wst != sst {
			t.Fatalf("stats: whole %+v, streamed %+v", wst, sst)
		}
	})
}
