package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// checkStoredIssue reads one committed issue back and checks that (1) beads.DecodeIssueJSON gives exactly
// what json.Unmarshal gives for the stored body (the decode scanIssue replaced), and (2) GetIssue and
// Records return the issue that was committed.
func checkStoredIssue(t interface {
	Helper()
	Fatalf(string, ...any)
}, db *DB, want beads.Issue) {
	t.Helper()
	ctx := context.Background()
	_, body, err := db.Body(ctx, want.ID)
	if err != nil {
		t.Fatalf("body of %s: %v", want.ID, err)
	}
	var std beads.Issue
	if err := json.Unmarshal(body, &std); err != nil {
		t.Fatalf("stored body of %s: %v", want.ID, err)
	}
	fast, err := beads.DecodeIssueJSON(body)
	if err != nil || !reflect.DeepEqual(fast, std) {
		t.Fatalf("DecodeIssueJSON(%s) = %v, differs from encoding/json:\n%s", body, err, cmp.Diff(std, fast))
	}
	got, _, err := db.GetIssue(ctx, want.ID)
	if err != nil {
		t.Fatalf("get %s: %v", want.ID, err)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("issue %s read back differs (-committed +read):\n%s", want.ID, d)
	}
	recs, err := db.Records(ctx, []string{want.ID})
	if err != nil || len(recs) != 1 {
		t.Fatalf("records of %s: %v, %d", want.ID, err, len(recs))
	}
	if d := cmp.Diff(got, recs[0].Issue); d != "" {
		t.Fatalf("Records and GetIssue disagree on %s:\n%s", want.ID, d)
	}
}

// TestReadDecodeCorpora commits every issue of every corpus and reads each back through the store.
func TestReadDecodeCorpora(t *testing.T) {
	db := openTest(t, Options{})
	dir := testdataDir(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []beads.Issue
	for n, e := range ents {
		if filepath.Ext(e.Name()) != ".jsonl" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := beads.Parse(e.Name(), data, beads.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var puts []coord.Change
		for _, r := range f.Issues() {
			is, err := r.Issue()
			if err != nil {
				t.Fatal(err)
			}
			is.ID = fmt.Sprintf("c%d-%s", n, is.ID) // corpora share id prefixes
			puts, all = append(puts, coord.IssuePut{Issue: is}), append(all, is)
		}
		commit(t, db, puts...)
	}
	if len(all) < 5000 {
		t.Fatalf("only %d corpus issues", len(all))
	}
	for _, is := range all {
		checkStoredIssue(t, db, is)
	}
}

// TestReadDecodeProperty commits generated issues (nil and empty slices, dependencies, comments, times in
// several zones, pointers to the zero time, huge priorities) and reads each back through the store.
func TestReadDecodeProperty(t *testing.T) {
	db := openTest(t, Options{})
	locs := []*time.Location{time.UTC, time.Local, time.FixedZone("", 5*3600+1800), time.FixedZone("PST", -8*3600)}
	genTime := func(t *rapid.T, label string) time.Time {
		sec := rapid.Int64Range(-62135596800+86400, 253402300799-86400).Draw(t, label) // years 1..9999
		ns := rapid.OneOf(rapid.Just(int64(0)), rapid.Int64Range(0, 999999999)).Draw(t, label+"_ns")
		return time.Unix(sec, ns).In(rapid.SampledFrom(locs).Draw(t, label+"_loc"))
	}
	genPtr := func(t *rapid.T, label string, zeroOK bool) *time.Time {
		switch rapid.IntRange(0, 2).Draw(t, label+"_ptr") {
		case 0:
			return nil
		case 1:
			if zeroOK { // the store keeps started/closed in columns, where a zero time reads as nil
				return &time.Time{}
			}
		}
		tm := genTime(t, label)
		return &tm
	}
	str := rapid.OneOf(rapid.String(), rapid.StringMatching(`[a-z0-9\-]{0,8}`),
		rapid.SampledFrom([]string{"", "<a&b>", "line\nbreak\t\"q\"\\/", "\u2028", "😀 é", "\ufffd", "\x00"}))
	n := 0
	rapid.Check(t, func(t *rapid.T) {
		n++
		is := beads.Issue{
			ID: fmt.Sprintf("r-%d", n), Title: str.Draw(t, "title"), Description: str.Draw(t, "desc"),
			Design: str.Draw(t, "design"), AcceptanceCriteria: str.Draw(t, "ac"), Notes: str.Draw(t, "notes"),
			Status:    rapid.SampledFrom([]string{"", "open", "in_progress", "closed"}).Draw(t, "status"),
			Priority:  rapid.OneOf(rapid.IntRange(0, 4), rapid.Int()).Draw(t, "prio"),
			IssueType: rapid.SampledFrom([]string{"", "task", "bug"}).Draw(t, "type"),
			Assignee:  str.Draw(t, "assignee"), Owner: str.Draw(t, "owner"),
			CreatedAt: genTime(t, "created"), CreatedBy: str.Draw(t, "by"), UpdatedAt: genTime(t, "updated"),
			StartedAt: genPtr(t, "started", false), ClosedAt: genPtr(t, "closed", false), CloseReason: str.Draw(t, "reason"),
			DeferUntil: genPtr(t, "defer", true), DeletedAt: genPtr(t, "deleted", true),
			Pinned: rapid.Bool().Draw(t, "pinned"), Ephemeral: rapid.Bool().Draw(t, "ephemeral"),
		}
		if rapid.Bool().Draw(t, "haslabels") {
			is.Labels = rapid.SliceOfNDistinct(str, 0, 4, func(s string) string { return s }).Draw(t, "labels")
		}
		if k := rapid.IntRange(-1, 3).Draw(t, "deps"); k >= 0 {
			is.Dependencies = []beads.Dependency{}
			for i := range k {
				is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: is.ID,
					DependsOnID: str.Draw(t, fmt.Sprint("to", i)), Type: str.Draw(t, fmt.Sprint("dtype", i)),
					CreatedAt: genTime(t, fmt.Sprint("dat", i)), CreatedBy: str.Draw(t, fmt.Sprint("dby", i)),
					Metadata: rapid.OneOf(str, rapid.Just(`{"gate":"all-children"}`)).Draw(t, fmt.Sprint("meta", i))})
			}
		}
		if k := rapid.IntRange(-1, 3).Draw(t, "comments"); k >= 0 {
			is.Comments = []beads.Comment{}
			for i := range k {
				is.Comments = append(is.Comments, beads.Comment{ID: rapid.StringMatching(`[0-9a-f]{1,6}`).Draw(t, fmt.Sprint("cid", i)),
					IssueID: is.ID, Author: str.Draw(t, fmt.Sprint("author", i)), Text: str.Draw(t, fmt.Sprint("text", i)),
					CreatedAt: genTime(t, fmt.Sprint("cat", i))})
			}
		}
		if err := db.Commit(context.Background(), []coord.Change{coord.IssuePut{Issue: is}}); err != nil {
			t.Fatalf("commit: %v", err)
		}
		checkStoredIssue(t, db, is)
	})
}
