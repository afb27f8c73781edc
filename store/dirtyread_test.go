package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// dirtyAmongStd is the database/sql read the driver read replaced.
func dirtyAmongStd(ctx context.Context, db *DB, ids []string) ([]beads.StoredRecord, error) {
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := db.rs[rDirtyByIDs].QueryContext(ctx, string(js))
	if err != nil {
		return nil, err
	}
	return collectRecords(rows, len(ids))
}

// TestDirtyAmongDriverMatchesStd draws issues (raw or not, labels, dependencies, comments, odd text),
// state changes, exports and re-puts, and checks that the driver read gives what database/sql gave (and
// DirtyViewsByID the same records without Raw).
func TestDirtyAmongDriverMatchesStd(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	n := 0
	text := rapid.OneOf(rapid.Just(""), rapid.StringN(0, 16, -1), rapid.SampledFrom([]string{"a<b>&c", "\u2028", `q"\`, "é😀"}))
	rapid.Check(t, func(rt *rapid.T) {
		n++
		var ids []string
		var changes []coord.Change
		for i := range rapid.IntRange(1, 12).Draw(rt, "issues") {
			id := fmt.Sprintf("d%03d-%02d", n, i)
			ids = append(ids, id)
			at := t0.Add(time.Duration(rapid.IntRange(0, 1e6).Draw(rt, "at")) * time.Millisecond)
			is := beads.Issue{ID: id, Title: text.Draw(rt, "title"), Description: text.Draw(rt, "desc"), Status: "open",
				Priority: rapid.IntRange(0, 4).Draw(rt, "prio"), IssueType: "task", CreatedAt: at, UpdatedAt: at,
				Labels: rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "rig:x", "é"}), 0, 3).Draw(rt, "labels")}
			if rapid.Bool().Draw(rt, "dep") {
				is.Dependencies = []beads.Dependency{{IssueID: id, DependsOnID: "d-root", Type: "blocks", CreatedAt: at, Metadata: "{}"}}
			}
			if rapid.Bool().Draw(rt, "comment") {
				is.Comments = []beads.Comment{{ID: "1", IssueID: id, Author: "w", Text: text.Draw(rt, "ctext"), CreatedAt: at}}
			}
			var raw []byte
			switch rapid.IntRange(0, 2).Draw(rt, "raw") {
			case 1:
				raw = []byte(`{"id":"` + id + `"}`)
			case 2:
				raw = []byte{}
			}
			changes = append(changes, coord.IssuePut{Issue: is, Raw: raw, FromImport: rapid.Bool().Draw(rt, "clean")})
			if rapid.Bool().Draw(rt, "state") {
				later := at.Add(time.Minute)
				st := coord.IssueState{ID: id, Status: "in_progress", Assignee: text.Draw(rt, "assignee"), UpdatedAt: later,
					StartedAt: &later, AddLabels: []string{"claimed"}}
				if rapid.Bool().Draw(rt, "close") {
					st.Status, st.ClosedAt, st.CloseReason = "closed", &later, text.Draw(rt, "reason")
				}
				changes = append(changes, st)
			}
		}
		if err := db.Commit(ctx, changes); err != nil {
			rt.Fatal(err)
		}
		ask := append(rapid.Permutation(ids).Draw(rt, "ask"), "missing")
		want, err := dirtyAmongStd(ctx, db, ask)
		if err != nil {
			rt.Fatal(err)
		}
		got, err := db.dirtyAmongDriver(ctx, ask, true)
		if err != nil {
			rt.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			rt.Fatalf("driver read differs (-std +driver):\n%s", d)
		}
		views, err := db.DirtyViewsByID(ctx, ask)
		if err != nil {
			rt.Fatal(err)
		}
		for i := range want {
			want[i].Raw = nil
		}
		if d := cmp.Diff(want, views); d != "" {
			rt.Fatalf("DirtyViewsByID differs from the read without Raw (-want +got):\n%s", d)
		}
	})
}

// rawOnlyDB hides DirtyViewsByID: the export reads the dirty records with their Raw, as before.
type rawOnlyDB struct{ importingDB }

func (rawOnlyDB) DirtyViewsByID() {}

// TestExportWithoutRawMatches exports the same changes into two copies of a load-test workspace, one
// through DirtyViewsByID (the store as it is) and one through DirtyByID, and compares the files and the
// stored records.
func TestExportWithoutRawMatches(t *testing.T) {
	ctx := context.Background()
	const n = 300
	var files [2][]byte
	var stored [2][]beads.StoredRecord
	for i, viaViews := range []bool{true, false} {
		db, _, path := exportWorkspace(t, n)
		var b beads.Backend = importingDB{db}
		if !viaViews {
			b = rawOnlyDB{importingDB{db}}
		}
		if _, ok := b.(beads.DirtyViewLookup); ok != viaViews {
			t.Fatalf("backend %T: DirtyViewLookup %v", b, ok)
		}
		s := beads.NewSyncer(path, b, nil)
		for round := range 3 {
			dirtyLoad(t, db, n, round*40, 100, round)
			if st, err := s.Export(ctx); err != nil || st.Dirty != 100 || st.Patched != 100 {
				t.Fatalf("round %d: %+v %v", round, st, err)
			}
		}
		var err error
		if files[i], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		ids := make([]string, n)
		for j := range ids {
			ids[j] = fmt.Sprintf("lt-%05d", j)
		}
		if stored[i], err = db.Records(ctx, ids); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("the files differ")
	}
	if d := cmp.Diff(stored[0], stored[1]); d != "" {
		t.Fatalf("stored records differ (-views +raw):\n%s", d)
	}
}
