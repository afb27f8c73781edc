package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestIssueEvents: an issue's history is exactly its events, in order, paged with more, whatever other
// ids or details hold its id's text (a prefix of another id, quotes, an id in a detail, escaped ids).
func TestIssueEvents(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	ids := []string{"gt-1", "gt-10", "gt-1x", `gt-"q"`, "gt-<&>", "gt-ü", "gt-1\u2028"}
	want := map[string][]int64{}
	seq := int64(0)
	for round := range 5 {
		var cs []coord.Change
		for i, id := range ids {
			if (round+i)%3 == 0 {
				continue // not every batch names every issue
			}
			for _, kind := range []string{"assigned", "acked"} {
				seq++
				cs = append(cs, coord.EventAppend{Event: coord.Event{Time: t0.Add(time.Duration(seq) * time.Second), Kind: kind,
					IssueID: id, Worker: "w", Detail: `"i":"gt-1" ` + id}})
				want[id] = append(want[id], seq)
			}
		}
		seq++ // an event of no issue, its detail naming one
		cs = append(cs, coord.EventAppend{Event: coord.Event{Time: t0, Kind: "storage_check", Detail: `{"i":"gt-1"}`}})
		commit(t, db, cs...)
	}
	for _, id := range ids {
		for _, limit := range []int{0, 1, 3, 1000} {
			var got []int64
			after, pages := int64(0), 0
			for {
				evs, more, err := db.IssueEvents(ctx, id, after, limit)
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				for _, e := range evs {
					if e.IssueID != id {
						t.Fatalf("%s: event %d of %q", id, e.Seq, e.IssueID)
					}
					got = append(got, e.Seq)
					after = e.Seq
				}
				if pages++; !more {
					break
				}
				if len(evs) == 0 || pages > 100 {
					t.Fatalf("%s limit %d: more with an empty page (%d pages)", id, limit, pages)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want[id]) {
				t.Errorf("%s limit %d: events %v, want %v", id, limit, got, want[id])
			}
		}
	}
	if evs, more, err := db.IssueEvents(ctx, "gt-2", 0, 0); err != nil || more || len(evs) != 0 {
		t.Errorf("gt-2 (no events): %v more %v %v", evs, more, err)
	}
	all, more, err := db.EventsPage(ctx, 0, int(seq)-1)
	if err != nil || !more || len(all) != int(seq)-1 {
		t.Errorf("the log but one: %d events, more %v, %v; want %d and more", len(all), more, err, seq-1)
	}
	if all, more, err = db.EventsPage(ctx, 0, int(seq)); err != nil || more || len(all) != int(seq) {
		t.Errorf("the whole log: %d events, more %v, %v; want %d and no more", len(all), more, err, seq)
	}
}

// BenchmarkIssueEvents reads one issue's history out of an audit log of 500,000 events (20,000 commits of
// 25, the events of a 100,000-issue run): through the SQLite search (IssueEvents) and, for comparison,
// by decoding every event and keeping the issue's (what events.list did before).
func BenchmarkIssueEvents(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "gtc.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	kinds := []string{"assigned", "acked", "completed", "merged", "worker_connected"}
	for c := range 20_000 {
		cs := make([]coord.Change, 0, 25)
		for i := range 25 {
			n := c*25 + i
			cs = append(cs, coord.EventAppend{Event: coord.Event{Time: t0.Add(time.Duration(n) * time.Millisecond),
				Kind: kinds[n%5], IssueID: fmt.Sprintf("gt-%06d", n/5), LeaseID: fmt.Sprintf("L-%d", n/5), Worker: "agent-17",
				Actor: "gtc", Detail: "attempt 1"}})
		}
		commit(b, db, cs...)
	}
	const id = "gt-050000" // halfway through the log
	b.Run("search", func(b *testing.B) {
		for b.Loop() {
			if evs, _, err := db.IssueEvents(ctx, id, 0, 100); err != nil || len(evs) != 5 {
				b.Fatalf("%d events, %v", len(evs), err)
			}
		}
	})
	b.Run("decode-all", func(b *testing.B) {
		for b.Loop() {
			n := 0
			for after := int64(0); ; {
				evs, more, err := db.EventsPage(ctx, after, 1000)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range evs {
					if e.IssueID == id {
						n++
					}
					after = e.Seq
				}
				if !more {
					break
				}
			}
			if n != 5 {
				b.Fatalf("%d events", n)
			}
		}
	})
}
