package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

func TestDirtyIDsAndDirtyByID(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "gtc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var puts []coord.Change
	for _, id := range []string{"c-3", "c-1", "c-2", "c-4"} {
		is := beads.Issue{ID: id, Title: id, Status: "open", IssueType: "task", CreatedAt: ts, UpdatedAt: ts}
		// c-1 and c-3 come from the file (clean); c-2 and c-4 are gtc's changes (dirty)
		puts = append(puts, coord.IssuePut{Issue: is, Raw: []byte(`{"id":"` + id + `"}`), FromImport: id == "c-1" || id == "c-3"})
	}
	if err := db.Commit(ctx, puts); err != nil {
		t.Fatal(err)
	}
	ids, err := db.DirtyIDs(ctx)
	if err != nil || len(ids) != 2 || ids[0] != "c-2" || ids[1] != "c-4" {
		t.Fatalf("DirtyIDs = %v, %v", ids, err)
	}
	recs, err := db.DirtyByID(ctx, []string{"c-4", "c-1", "c-2", "nope", "c-3"})
	if err != nil || len(recs) != 2 || recs[0].ID != "c-2" || recs[1].ID != "c-4" || !recs[0].Dirty || recs[1].Issue.Title != "c-4" {
		t.Fatalf("DirtyByID = %+v, %v", recs, err)
	}
	if err := db.MarkExported(ctx, []beads.ExportedRecord{{ID: "c-2", Raw: []byte(`{"id":"c-2"}`), Rev: recs[0].Rev}}); err != nil {
		t.Fatal(err)
	}
	if recs, err := db.DirtyByID(ctx, []string{"c-2", "c-4"}); err != nil || len(recs) != 1 || recs[0].ID != "c-4" {
		t.Fatalf("after MarkExported: %+v, %v", recs, err)
	}
	if recs, err := db.DirtyByID(ctx, nil); err != nil || len(recs) != 0 {
		t.Fatalf("no ids: %+v, %v", recs, err)
	}
	var _ beads.DirtyLookup = db
}

// TestUnwrittenIDs: the issues created since the last export (no file bytes yet), in id order; an
// imported one, or a created one once exported, is not among them, and a later change keeps it written.
func TestUnwrittenIDs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	is := func(id string) beads.Issue {
		return beads.Issue{ID: id, Title: id, Status: "open", IssueType: "task", CreatedAt: ts, UpdatedAt: ts}
	}
	commit(t, db, coord.IssuePut{Issue: is("u-from-file"), Raw: []byte(`{"id":"u-from-file"}`), FromImport: true},
		coord.IssuePut{Issue: is("u-3"), Create: true}, coord.IssuePut{Issue: is("u-1"), Create: true})
	ids, err := db.UnwrittenIDs(ctx)
	if err != nil || !slices.Equal(ids, []string{"u-1", "u-3"}) {
		t.Fatalf("UnwrittenIDs = %v, %v; want [u-1 u-3]", ids, err)
	}
	recs, err := db.DirtyByID(ctx, []string{"u-1"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	if err := db.MarkExported(ctx, []beads.ExportedRecord{{ID: "u-1", Raw: []byte(`{"id":"u-1"}`), Rev: recs[0].Rev}}); err != nil {
		t.Fatal(err)
	}
	changed := is("u-1")
	changed.Title = "changed after its export"
	commit(t, db, coord.IssuePut{Issue: changed})
	if ids, err := db.UnwrittenIDs(ctx); err != nil || !slices.Equal(ids, []string{"u-3"}) {
		t.Fatalf("UnwrittenIDs after u-1's export = %v, %v; want [u-3]", ids, err)
	}
}
