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
	// the default search and searches cut to a few events per call (the budget spent after one window)
	for _, scan := range []issueScan{{}, {window: 1}, {window: 4}, {window: 7, budget: time.Hour}} {
		db.issueScan = scan
		for _, id := range ids {
			for _, limit := range []int{0, 1, 3, 1000} {
				var got []int64
				after, pages := int64(0), 0
				for {
					evs, next, more, err := db.IssueEvents(ctx, id, after, limit)
					if err != nil {
						t.Fatalf("%s: %v", id, err)
					}
					for _, e := range evs {
						if e.IssueID != id || e.Seq <= after || e.Seq > next {
							t.Fatalf("%s: event %d of %q in a page after %d up to %d", id, e.Seq, e.IssueID, after, next)
						}
						got = append(got, e.Seq)
					}
					if pages++; !more {
						break
					}
					if next <= after || pages > 1000 {
						t.Fatalf("%s %+v limit %d: more, next %d after %d (%d pages)", id, scan, limit, next, after, pages)
					}
					after = next
				}
				if fmt.Sprint(got) != fmt.Sprint(want[id]) {
					t.Errorf("%s %+v limit %d: events %v, want %v", id, scan, limit, got, want[id])
				}
				if scan.window == 1 && pages <= int(seq)-1 {
					t.Errorf("%s limit %d: %d pages with one event searched per call, want %d or more", id, limit, pages, seq)
				}
			}
		}
	}
	db.issueScan = issueScan{window: 4}
	if evs, next, more, err := db.IssueEvents(ctx, "gt-2", 0, 0); err != nil || !more || next != 4 || len(evs) != 0 {
		t.Errorf("gt-2 (no events), one window of 4 per call: %v next %d more %v %v", evs, next, more, err)
	}
	db.issueScan = issueScan{}
	if evs, _, more, err := db.IssueEvents(ctx, "gt-2", 0, 0); err != nil || more || len(evs) != 0 {
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
// 25, the events of a 100,000-issue run): through the SQLite search (IssueEvents, every page of it) and, for comparison,
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
			n, calls := 0, 0
			for after, more := int64(0), true; more; calls++ {
				var evs []coord.Event
				var err error
				if evs, after, more, err = db.IssueEvents(ctx, id, after, 100); err != nil {
					b.Fatal(err)
				}
				n += len(evs)
			}
			if n != 5 {
				b.Fatalf("%d events", n)
			}
			b.ReportMetric(float64(calls), "calls/op")
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
