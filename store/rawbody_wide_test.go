package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// A wider random history than TestExportFromLineMatchesFullExport: label removals, started_at, comment and
// dependency edits through the protocol, stateful puts, and file edits (labels, an unknown key, new lines).
func TestExportFromLineMatchesFullExportWide(t *testing.T) {
	names := []string{"beads_sqlite-era_669ea406.jsonl", "reframe2_v1-typed_15159adb.jsonl", "beads_dolt-v0.49_051aeb0a.jsonl", "beads_v1.0-noType_HEAD-root_fbcee6c6.jsonl"}
	for _, name := range names {
		for seed := uint64(1); seed <= wideSeeds(); seed++ {
			t.Run(fmt.Sprintf("%s/%d", name, seed), func(t *testing.T) { wideRun(t, name, seed) })
		}
	}
}

func wideRun(t *testing.T, name string, seed uint64) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testdataDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	plain := func(db *DB) beads.Backend { return importingDB{db} }
	fast, full := openExportSide(t, data, plain), openExportSide(t, data, plain)
	rng := rand.New(rand.NewPCG(seed, uint64(len(data))))
	for round := range wideRounds() {
		all, err := fast.db.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Duration(round+1) * time.Hour)
		var changes []coord.Change
		for _, r := range all {
			if r.Issue.Status == "tombstone" {
				continue
			}
			switch x := rng.IntN(100); {
			case x < 15:
				st := coord.IssueState{ID: r.ID, Status: []string{"hooked", "in_progress", "closed", "open", "blocked"}[rng.IntN(5)],
					Assignee: fmt.Sprintf("w%d", rng.IntN(3)), UpdatedAt: at, Attempts: rng.IntN(3)}
				if st.Status == "closed" {
					st.ClosedAt, st.CloseReason, st.Assignee = &at, "done", ""
				}
				if st.Status == "in_progress" && rng.IntN(2) == 0 {
					s := at.Add(-time.Minute)
					st.StartedAt = &s
				}
				if st.Status == "blocked" {
					st.AddLabels = []string{"gtc:failed"}
				}
				if len(r.Issue.Labels) > 0 && rng.IntN(3) == 0 {
					st.DelLabels = []string{r.Issue.Labels[rng.IntN(len(r.Issue.Labels))]}
				}
				changes = append(changes, st)
			case x < 20:
				cur, _, err := fast.db.GetIssue(ctx, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				switch rng.IntN(5) {
				case 0:
					cur.Comments = append(cur.Comments, beads.Comment{ID: fmt.Sprint(rng.IntN(1000)), IssueID: r.ID, Author: "me", Text: "hi", CreatedAt: at})
				case 1:
					cur.Dependencies = append(cur.Dependencies, beads.Dependency{IssueID: r.ID, DependsOnID: all[rng.IntN(len(all))].ID, Type: "related", CreatedAt: at})
				case 2:
					cur.Description += "\nmore"
				case 3:
					cur.Labels = append(cur.Labels, "added")
				case 4:
					cur.Notes = "n"
				}
				cur.UpdatedAt = at
				changes = append(changes, coord.IssuePut{Issue: cur, KeepState: rng.IntN(2) == 0})
			}
		}
		for _, sd := range []exportSide{fast, full} {
			commit(t, sd.db, changes...)
		}
		// file edits, the same on both sides
		if round%2 == 1 {
			victim := all[rng.IntN(len(all))].ID
			mode := rng.IntN(3)
			for _, sd := range []exportSide{fast, full} {
				fileEdit(t, sd.path, victim, mode, at.Add(time.Minute), round)
			}
		}
		if _, err := full.db.w.ExecContext(ctx, `UPDATE issue_bodies SET raw_has_body = 0`); err != nil {
			t.Fatal(err)
		}
		for _, sd := range []exportSide{fast, full} {
			if err := sd.s.Sync(ctx); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		a, b := readFile(t, fast.path), readFile(t, full.path)
		if !bytes.Equal(a, b) {
			la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
			for i := range min(len(la), len(lb)) {
				if !bytes.Equal(la[i], lb[i]) {
					t.Fatalf("round %d: the files differ at line %d:\nfast %s\nfull %s", round, i+1, la[i], lb[i])
				}
			}
			t.Fatalf("round %d: the files differ (%d vs %d lines)", round, len(la), len(lb))
		}
		all2, _ := fast.db.All(ctx)
		for _, r := range all2 {
			checkRawHasBody(t, fast.db, r.ID)
		}
	}
}

// fileEdit changes the record id in the file as bd or a person would: 0 its labels, 1 an unknown key,
// 2 a new record appended.
func fileEdit(t *testing.T, path, id string, mode int, at time.Time, round int) {
	t.Helper()
	f, err := beads.Parse(path, readFile(t, path), beads.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case 0:
		r := f.Get(id)
		if r == nil {
			return
		}
		is, err := r.Issue()
		if err != nil {
			t.Fatal(err)
		}
		is.Labels, is.UpdatedAt = append(is.Labels, "from-file"), at
		if _, err := r.Apply(is, f.Profile); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	case 1:
		r := f.Get(id)
		if r == nil {
			return
		}
		is, err := r.Issue()
		if err != nil {
			t.Fatal(err)
		}
		is.UpdatedAt = at
		if _, err := r.Apply(is, f.Profile); err != nil {
			t.Fatal(err)
		}
		b := f.Bytes()
		// an unknown key after the id, as a newer bd writes it
		key := []byte(fmt.Sprintf(`"id":%q`, id))
		b = bytes.Replace(b, key, append(append([]byte{}, key...), []byte(`,"x_extra":{"k":[1,2]}`)...), 1)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	case 2:
		b := readFile(t, path)
		nid := fmt.Sprintf("zz-new-%d", round)
		line := fmt.Sprintf(`{"id":%q,"title":"new from bd","description":"d <&> \u00e9","status":"open","priority":1,"issue_type":"task","created_at":%q,"updated_at":%q,"labels":["q"],"x_other":true}`,
			nid, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
		if !strings.HasSuffix(string(b), "\n") && len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, line...)
		b = append(b, '\n')
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wideRounds is how many rounds of changes, file edits and syncs a history has: 3, or 10 with STRESS_SEEDS.
func wideRounds() int {
	if os.Getenv("STRESS_SEEDS") != "" {
		return 10
	}
	return 3
}

// wideSeeds is how many random histories TestExportFromLineMatchesFullExportWide runs per file: 1, or STRESS_SEEDS.
func wideSeeds() uint64 {
	if n, err := strconv.Atoi(os.Getenv("STRESS_SEEDS")); err == nil && n > 0 {
		return uint64(n)
	}
	return 1
}
