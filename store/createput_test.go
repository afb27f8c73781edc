package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestCreatePutWritesLabelsAndDeps: a create (which skips clearing label and dependency rows: its id is
// new) stores its labels and dependencies, and a later put of the same issue replaces them.
func TestCreatePutWritesLabelsAndDeps(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	base := beads.Issue{ID: "c-1", Title: "one", Status: "open", IssueType: "task", CreatedAt: now, UpdatedAt: now}
	if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: base}}); err != nil {
		t.Fatal(err)
	}
	is := beads.Issue{ID: "c-2", Title: "two", Status: "open", IssueType: "task", CreatedAt: now, UpdatedAt: now,
		Labels:       []string{"backend", "urgent"},
		Dependencies: []beads.Dependency{{IssueID: "c-2", DependsOnID: "c-1", Type: "blocks"}}}
	if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: is, Create: true}}); err != nil {
		t.Fatal(err)
	}
	check := func(wantLabels []string, wantDeps int) {
		t.Helper()
		got, _, err := db.GetIssue(ctx, "c-2")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Labels, wantLabels) || len(got.Dependencies) != wantDeps {
			t.Fatalf("labels %v deps %+v, want %v and %d", got.Labels, got.Dependencies, wantLabels, wantDeps)
		}
		var n int
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM labels WHERE issue_id = 'c-2'`).Scan(&n); err != nil || n != len(wantLabels) {
			t.Fatalf("label rows %d (%v), want %d", n, err, len(wantLabels))
		}
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM dependencies WHERE issue_id = 'c-2'`).Scan(&n); err != nil || n != wantDeps {
			t.Fatalf("dependency rows %d (%v), want %d", n, err, wantDeps)
		}
	}
	check([]string{"backend", "urgent"}, 1)
	is.Labels, is.Dependencies = []string{"frontend"}, nil
	if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: is}}); err != nil {
		t.Fatal(err)
	}
	check([]string{"frontend"}, 0)
}
