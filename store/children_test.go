package store

import (
	"context"
	"slices"
	"testing"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestLastChild: the highest n of the ids parent.n, whatever else shares the prefix.
func TestLastChild(t *testing.T) {
	db := openTest(t, Options{})
	var puts []coord.Change
	for _, id := range []string{"bd-a", "bd-a.1", "bd-a.2", "bd-a.10", "bd-a.3.7", "bd-a.x", "bd-a.+12", "bd-a.1234567890",
		"bd-ab.40", "bd-a-b.50", "bd-b.9", "bd-a0.60"} {
		puts = append(puts, coord.IssuePut{Issue: sampleIssue(id)})
	}
	commit(t, db, puts...)
	for _, tc := range []struct {
		parent string
		want   int
	}{{"bd-a", 10}, {"bd-a.3", 7}, {"bd-b", 9}, {"bd-ab", 40}, {"bd-c", 0}, {"bd-a.1", 0}} {
		got, err := db.LastChild(context.Background(), tc.parent)
		if err != nil || got != tc.want {
			t.Errorf("LastChild(%s) = %d, %v; want %d", tc.parent, got, err, tc.want)
		}
	}
}

// TestDependents: the issues depending on one, by id, with type, status and title; n bounds the list,
// not the count.
func TestDependents(t *testing.T) {
	db := openTest(t, Options{})
	dep := func(id, on, typ, status string) coord.Change {
		is := sampleIssue(id)
		is.Status = status
		is.Dependencies = []beads.Dependency{{IssueID: id, DependsOnID: on, Type: typ, CreatedAt: t0}}
		return coord.IssuePut{Issue: is}
	}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("bd-e")}, dep("bd-e.2", "bd-e", "parent-child", "closed"),
		dep("bd-e.1", "bd-e", "parent-child", "open"), dep("bd-x", "bd-e", "blocks", "in_progress"), dep("bd-y", "bd-other", "blocks", "open"))
	got, total, err := db.Dependents(context.Background(), "bd-e", 10)
	want := []coord.Dependent{{ID: "bd-e.1", Type: "parent-child", Status: "open", Title: "title bd-e.1"},
		{ID: "bd-e.2", Type: "parent-child", Status: "closed", Title: "title bd-e.2"}, {ID: "bd-x", Type: "blocks", Status: "in_progress", Title: "title bd-x"}}
	if err != nil || total != 3 || !slices.Equal(got, want) {
		t.Fatalf("Dependents(bd-e) = %+v, %d, %v; want %+v, 3", got, total, err, want)
	}
	if got, total, err := db.Dependents(context.Background(), "bd-e", 1); err != nil || total != 3 || len(got) != 1 || got[0].ID != "bd-e.1" {
		t.Fatalf("Dependents(bd-e, 1) = %+v, %d, %v", got, total, err)
	}
	if got, total, err := db.Dependents(context.Background(), "bd-y", 10); err != nil || total != 0 || got != nil {
		t.Fatalf("Dependents(bd-y) = %+v, %d, %v", got, total, err)
	}
}
