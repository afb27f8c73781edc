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
)

const bigCorpus = "beads_sqlite-era_669ea406.jsonl"

func BenchmarkParse(b *testing.B) {
	data := readCorpus(b, bigCorpus)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("f", data, ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseViews is Parse plus the parsed view of every record (what an import decodes).
func BenchmarkParseViews(b *testing.B) {
	data := readCorpus(b, bigCorpus)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f, err := Parse("f", data, ParseOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range f.Issues() {
			if _, err := r.issueRef(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSyncerImport is a cold import of the 3,003-record corpus into an empty in-memory backend:
// read under the lock, sha256, parse, views, merge decisions, ApplyImport.
func BenchmarkSyncerImport(b *testing.B) {
	data := readCorpus(b, bigCorpus)
	dir := filepath.Join(b.TempDir(), ".beads")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "issues.jsonl")
	os.WriteFile(path, data, 0o644)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := NewSyncer(path, newMemBackend(), nil)
		st, err := s.Import(context.Background())
		if err != nil || st.New != 3003 {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	f, data := parseCorpus(b, bigCorpus)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_ = f.Bytes()
	}
}

// BenchmarkApplyClaim patches status and assignee of one record, alternating so every op changes bytes.
func BenchmarkApplyClaim(b *testing.B) {
	f, _ := parseCorpus(b, bigCorpus)
	r := f.Get("bd-x9zf9")
	open, _ := r.Issue()
	claimed := open
	claimed.Status, claimed.Assignee = "in_progress", "gtc/worker-1"
	i := 0
	for b.Loop() {
		is := open
		if i%2 == 0 {
			is = claimed
		}
		i++
		if changed, err := r.Apply(is, Classic); err != nil || !changed {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkApplyUnchanged is Apply of a record's own view (cached): the no-op path.
func BenchmarkApplyUnchanged(b *testing.B) {
	f, _ := parseCorpus(b, bigCorpus)
	r := f.Get("bd-x9zf9")
	is, _ := r.Issue()
	for b.Loop() {
		if changed, err := r.Apply(is, Classic); err != nil || changed {
			b.Fatal(changed, err)
		}
	}
}

// BenchmarkExportTick is one Sync tick with one dirty record on the 3,003-record file: read, sha256,
// patch, encode, temp file + fsync + rename, bookkeeping.
func BenchmarkExportTick(b *testing.B) {
	data := readCorpus(b, bigCorpus)
	dir := filepath.Join(b.TempDir(), ".beads")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "issues.jsonl")
	os.WriteFile(path, data, 0o644)
	be := newMemBackend()
	s := NewSyncer(path, be, nil)
	ctx := context.Background()
	if err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		be.change("bd-x9zf9", func(is *Issue) {
			is.Status = "in_progress"
			is.UpdatedAt = time.Date(2026, 2, 1, 0, 0, i, 0, time.UTC)
		})
		if err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyManyComments is 5 patches of a record holding n comments, each adding one.
func BenchmarkApplyManyComments(b *testing.B) {
	for _, n := range []int{2000, 8000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var cs []string
			for i := 1; i <= n; i++ {
				cs = append(cs, fmt.Sprintf(`{"id":%d,"issue_id":"busy","author":"a","text":"comment %d","created_at":"2026-01-01T00:00:00Z"}`, i, i))
			}
			line := `{"id":"busy","title":"busy","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","comments":[` +
				strings.Join(cs, ",") + `]}`
			f, err := Parse("f", []byte(line+"\n"), ParseOptions{})
			if err != nil {
				b.Fatal(err)
			}
			rec := f.Get("busy")
			is, err := rec.Issue()
			if err != nil || len(is.Comments) != n {
				b.Fatal(len(is.Comments), err)
			}
			at := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
			for b.Loop() {
				r := &Record{Kind: KindIssue, ID: rec.ID, raw: rec.raw}
				for k := range 5 {
					is.Comments = append(is.Comments[:n+k:n+k], Comment{ID: fmt.Sprint(n + k + 1), IssueID: "busy", Author: "b", Text: "more", CreatedAt: at})
					if changed, err := r.Apply(is, Classic); err != nil || !changed {
						b.Fatal(changed, err)
					}
				}
			}
		})
	}
}

// BenchmarkExportWholeInserts: a classic file of n lines, one of them older than the store (the import
// keeps it, so the export is on the parsed file), and n/4 records created since the last export with
// ids spread through the file's.
func BenchmarkExportWholeInserts(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			ts := "2026-01-02T03:04:05Z"
			var sb strings.Builder
			for i := range n {
				fmt.Fprintf(&sb, `{"id":"a-%06d","title":"t","status":"open","priority":2,"issue_type":"task","created_at":%q,"updated_at":%q}`+"\n", 4*i, ts, ts)
			}
			for b.Loop() {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), ".beads")
				os.Mkdir(dir, 0o755)
				path := filepath.Join(dir, "issues.jsonl")
				os.WriteFile(path, []byte(sb.String()), 0o644)
				bk := newMemBackend()
				s := NewSyncer(path, bk, nil)
				if _, err := s.Import(ctx); err != nil {
					b.Fatal(err)
				}
				// the store's a-000000 is newer than its line (the file went back): the next import keeps it
				r := bk.recs["a-000000"]
				r.Issue.UpdatedAt = r.Issue.UpdatedAt.Add(time.Hour)
				r.Raw = []byte(`{"id":"a-000000"}`)
				bk.meta.ReadSHA, bk.meta.WrittenSHA = "other", "other"
				at := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
				for i := range n / 4 {
					id := fmt.Sprintf("a-%06d", 16*i+1)
					bk.change(id, func(is *Issue) {
						*is = Issue{ID: id, Title: "new", Status: "open", Priority: 2, IssueType: "task", CreatedAt: at, UpdatedAt: at}
					})
				}
				b.StartTimer()
				if err := s.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if data, _ := os.ReadFile(path); len(s.keep) != 0 || bytes.Count(data, []byte("\n")) != n+n/4 {
					b.Fatal("not exported")
				}
				b.StartTimer()
			}
		})
	}
}
