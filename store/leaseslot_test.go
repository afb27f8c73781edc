package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/gastown/gtc/coord"
)

// dumpTables reads every row of every table, for comparing two stores. An issue's rev only has to
// change when a transaction changes the row (MarkExported compares it for equality), so it is dumped
// as whether it moved past the first put's 1, not as how many updates it counted.
func dumpTables(t interface{ Fatal(...any) }, db *DB) map[string][][]any {
	var names []string
	if err := db.r.Select(&names, "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_migrations' ORDER BY name"); err != nil {
		t.Fatal(err)
	}
	out := map[string][][]any{}
	for _, n := range names {
		rows, err := db.r.Queryx(fmt.Sprintf("SELECT * FROM %q ORDER BY rowid", n))
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			row, err := rows.SliceScan()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range row {
				if b, ok := v.([]byte); ok {
					row[i] = string(b)
				}
				if n == "issues" && cols[i] == "rev" {
					row[i] = fmt.Sprintf("rev>1: %v", v.(int64) > 1)
				}
			}
			out[n] = append(out[n], row)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestLeaseColumnsHoldTheLiveLease applies random lifecycles of a few issues (state changes with and
// without labels, live and ended leases) once as one request and once one change per commit: each
// issue row must hold exactly its live lease, and every table must end the same either way (the
// previous store failed the first: a lease that began and ended in one request after another lease of
// the issue had ended, with no state change between, left that ended lease in the row as if live).
func TestLeaseColumnsHoldTheLiveLease(t *testing.T) {
	ctx := context.Background()
	rapid.Check(t, func(rt *rapid.T) {
		ids := []string{"gt-1", "gt-2", "gt-3"}
		var changes []coord.Change
		live := map[string]coord.Lease{}
		epoch := int64(0)
		at := t0
		for range rapid.IntRange(1, 30).Draw(rt, "steps") {
			id := rapid.SampledFrom(ids).Draw(rt, "id")
			at = at.Add(time.Duration(rapid.IntRange(1, 1000).Draw(rt, "dt")) * time.Millisecond)
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0, 1:
				st := coord.IssueState{ID: id, Status: rapid.SampledFrom([]string{"open", "hooked", "in_progress", "closed", "blocked"}).Draw(rt, "status"),
					Assignee: rapid.SampledFrom([]string{"", "w1", "w2"}).Draw(rt, "assignee"), UpdatedAt: at,
					Attempts: rapid.IntRange(0, 3).Draw(rt, "attempts")}
				if rapid.Bool().Draw(rt, "started") {
					s := at
					st.StartedAt = &s
				}
				if st.Status == "closed" {
					c := at
					st.ClosedAt, st.CloseReason = &c, "done"
				}
				if rapid.IntRange(0, 4).Draw(rt, "labels") == 0 {
					st.AddLabels = []string{rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "add")}
					st.DelLabels = []string{rapid.SampledFrom([]string{"a", "b", "x"}).Draw(rt, "del")}
				}
				changes = append(changes, st)
			case 2:
				if _, ok := live[id]; ok {
					continue // the engine never makes a second live lease for an issue
				}
				epoch++
				l := coord.Lease{ID: fmt.Sprintf("L-%d", epoch), IssueID: id, Worker: "w1", Epoch: epoch,
					State:   rapid.SampledFrom([]coord.LeaseState{coord.LeasePushed, coord.LeaseAcked}).Draw(rt, "state"),
					Attempt: 1, CreatedAt: at, AckDeadline: at.Add(time.Second), Deadline: at.Add(time.Minute)}
				live[id] = l
				changes = append(changes, coord.LeasePut{Lease: l})
			case 3:
				if l, ok := live[id]; ok {
					e := at
					l.State, l.EndedAt, l.Outcome = coord.LeaseEnded, &e, "success"
					delete(live, id)
					changes = append(changes, coord.LeasePut{Lease: l})
				}
			}
		}
		// the model: each row holds exactly its issue's live lease
		wantEpoch := map[string]int64{}
		for id, l := range live {
			wantEpoch[id] = l.Epoch
		}
		run := func(split bool) (map[string][][]any, []string) {

			db, err := Open(ctx, ":memory:", Options{})
			if err != nil {
				rt.Fatal(err)
			}
			defer db.Close()
			var seed []coord.Change
			for _, id := range ids {
				seed = append(seed, coord.IssuePut{Issue: sampleIssue(id)})
			}
			if err := db.Commit(ctx, seed); err != nil {
				rt.Fatal(err)
			}
			if split {
				for _, c := range changes {
					if err := db.Commit(ctx, []coord.Change{c}); err != nil {
						rt.Fatal(err)
					}
				}
			} else if err := db.Commit(ctx, changes); err != nil {
				rt.Fatal(err)
			}
			for _, id := range ids {
				var got int64
				if err := db.r.Get(&got, "SELECT lease_epoch FROM issues WHERE id = ?", id); err != nil {
					rt.Fatal(err)
				}
				if got != wantEpoch[id] {
					rt.Fatalf("split=%v: issue %s holds lease epoch %d, want %d (its live lease)", split, id, got, wantEpoch[id])
				}
			}
			dirty, err := db.DirtyIDs(ctx)
			if err != nil {
				rt.Fatal(err)
			}
			return dumpTables(rt, db), dirty
		}
		wantRows, wantDirty := run(false)
		gotRows, gotDirty := run(true)
		if d := cmp.Diff(wantRows, gotRows); d != "" {
			rt.Fatalf("tables differ (-one request +one commit per change):\n%s", d)
		}
		if d := cmp.Diff(wantDirty, gotDirty); d != "" {
			rt.Fatalf("dirty sets differ (-one request +one commit per change):\n%s", d)
		}
	})
}

// TestAppendTimeJSON holds appendTimeJSON to appendJSONString of fmtTime, which it replaces in the
// event batch and the live-lease column.
func TestAppendTimeJSON(t *testing.T) {
	for _, tm := range []time.Time{{}, t0, t0.In(time.FixedZone("", -7*3600-30*60)), time.Unix(0, 1).UTC(),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 14*3600)), time.Unix(1700000000, 0).Local()} {
		if got, want := string(appendTimeJSON([]byte("x"), tm)), string(appendJSONString([]byte("x"), fmtTime(tm))); got != want {
			t.Errorf("appendTimeJSON(%v) = %s, want %s", tm, got, want)
		}
	}
}

// TestTxTimeCache: the transaction's cache of formatted times gives fmtTime's text for every time,
// repeated or not, including one instant in two zones, and again after the transaction is reused.
func TestTxTimeCache(t *testing.T) {
	var tx wtx
	zone := time.FixedZone("", 3600)
	seq := []time.Time{t0, t0, t0.In(zone), t0.Add(time.Second), {}, t0.Add(2 * time.Second), t0.Add(3 * time.Second),
		t0.Add(4 * time.Second), t0, t0.In(zone), time.Now(), t0.Add(time.Second)}
	for round := range 2 {
		for i, tm := range seq {
			if got, want := tx.timeArg(tm), fmtTime(tm); got != want {
				t.Fatalf("round %d, time %d (%v): %q, want %q", round, i, tm, got, want)
			}
		}
		if got := tx.timePtrArg(nil); got != "" {
			t.Fatalf("nil time: %q", got)
		}
		for _, s := range []string{"", "open", "open", "w1"} {
			if got := tx.textArg(s); got != s {
				t.Fatalf("textArg(%q) = %q", s, got)
			}
		}
		tx.reuse(nil, nil)
	}
	// The text of a time stays as it was while later ones grow the transaction's buffer.
	var held []any
	for i := range 2000 {
		held = append(held, tx.timeArg(t0.Add(time.Duration(i)*time.Millisecond+time.Nanosecond)))
	}
	for i, v := range held {
		if want := fmtTime(t0.Add(time.Duration(i)*time.Millisecond + time.Nanosecond)); v != want {
			t.Fatalf("time %d reads %q after the buffer grew, want %q", i, v, want)
		}
	}
}
