package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestEventsListPages: events.list pages through the audit log oldest first (NextSeq/More), and with an
// issue filter returns only that issue's events, across pages of the log.
func TestEventsListPages(t *testing.T) {
	var lines []string
	for i := range 12 {
		lines = append(lines, fmt.Sprintf(`{"id":"ev-%02d","title":"t","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-01T00:00:%02dZ","updated_at":"2026-11-01T00:00:00Z"}`, i, i))
	}
	h := start(t, lines, nil)
	ctx := context.Background()
	e := h.d.Engine()
	for deadline := time.Now().Add(10 * time.Second); e.Status().Issues.Total < 12; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the workspace was not imported")
		}
	}
	if _, err := e.Connect(ctx, coord.Hello{Name: "c", Role: "client"}, 77); err != nil {
		t.Fatal(err)
	}
	var held []coord.Lease
	for range 12 { // every issue claimed (held: the next claim takes another), then released
		a, err := e.Claim(ctx, "c", nil, 0)
		if err != nil || a == nil {
			t.Fatalf("claim: %v %v", a, err)
		}
		held = append(held, a.Lease)
	}
	for _, l := range held {
		if _, err := e.Release(ctx, "c", l.ID, l.Epoch, "again"); err != nil {
			t.Fatal(err)
		}
	}
	b := &backend{d: h.d}
	all, err := b.EventsList(ctx, nil, rpc.EventsListParams{Limit: 1000})
	if err != nil || all.More || len(all.Events) == 0 {
		t.Fatalf("whole log: %d events, more %v, %v", len(all.Events), all.More, err)
	}
	var paged []coord.Event
	after := int64(0)
	for {
		r, err := b.EventsList(ctx, nil, rpc.EventsListParams{AfterSeq: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, r.Events...)
		after = r.NextSeq
		if !r.More {
			break
		}
	}
	if len(paged) != len(all.Events) {
		t.Fatalf("paged %d events, the whole log %d", len(paged), len(all.Events))
	}
	for i := range paged {
		if paged[i].Seq != all.Events[i].Seq || (i > 0 && paged[i].Seq <= paged[i-1].Seq) {
			t.Fatalf("event %d: seq %d, want %d in order", i, paged[i].Seq, all.Events[i].Seq)
		}
	}
	want := 0
	for _, ev := range all.Events {
		if ev.IssueID == "ev-00" {
			want++
		}
	}
	r, err := b.EventsList(ctx, nil, rpc.EventsListParams{IssueID: "ev-00", Limit: 1000})
	if err != nil || r.More || len(r.Events) != want || want != 2 {
		t.Fatalf("ev-00: %d events (more %v, %v), want %d", len(r.Events), r.More, err, want)
	}
	for _, ev := range r.Events {
		if ev.IssueID != "ev-00" {
			t.Fatalf("event of %s in ev-00's history", ev.IssueID)
		}
	}
	for _, p := range []rpc.EventsListParams{{AfterSeq: -1}, {Limit: -5}} {
		if r, err := b.EventsList(ctx, nil, p); coord.ErrorCode(err) != coord.EInvalid {
			t.Errorf("events.list %+v: %+v, %v; want invalid params", p, r, err)
		}
	}
}
