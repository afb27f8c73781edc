package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestRetentionPrunesOldHistory: with Retain 1h, the pruning loop deletes the events and the ended
// lease of an issue completed two hours ago (by the scheduler's clock) and keeps those of one completed
// since; the issues themselves stay, and the deleted rows are counted in /metrics.
func TestRetentionPrunesOldHistory(t *testing.T) {
	clock := coord.NewFakeClock(time.Now())
	h := start(t, []string{line("r-1", "old work", 1)}, func(c *Config) {
		c.Clock, c.Retain, c.PruneEvery = clock, time.Hour, 20*time.Millisecond
	})
	ctx := context.Background()
	w := h.worker("w1", 1)
	w.complete(t, w.next(t, 5*time.Second))
	clock.Advance(2 * time.Hour)
	c, _ := h.session(rpc.HelloParams{Name: "cli", Role: "client"})
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{ID: "r-2", Title: "new work"}); err != nil {
		t.Fatal(err)
	}
	w.complete(t, w.next(t, 5*time.Second))
	b := &backend{d: h.d}
	eventsOf := func(id string) int {
		r, err := b.EventsList(ctx, nil, rpc.EventsListParams{IssueID: id, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(r.Events)
	}
	// one prune deletes events, then leases, in steps of their own: wait for both (the leases were
	// read in between once in a few hundred runs)
	eventually(t, 5*time.Second, "r-1's events and leases pruned", func() bool {
		old, err := h.d.db.RecentLeases(ctx, "r-1", 10)
		return eventsOf("r-1") == 0 && err == nil && len(old) == 0
	})
	if n := eventsOf("r-2"); n == 0 {
		t.Error("r-2's events (completed within the hour) were pruned too")
	}
	recent, err := h.d.db.RecentLeases(ctx, "r-2", 10)
	if err != nil || len(recent) != 1 {
		t.Errorf("r-2's leases after pruning = %+v, %v; want its one", recent, err)
	}
	for _, id := range []string{"r-1", "r-2"} {
		if is, _, err := h.d.db.GetIssue(ctx, id); err != nil || is.Status != "closed" {
			t.Errorf("issue %s after pruning: %+v %v; want it kept, closed", id, is, err)
		}
	}
	m := scrape(t, h)
	if m[`gtc_store_pruned_rows_total{table="events"}`] == 0 || m[`gtc_store_pruned_rows_total{table="leases"}`] != 1 {
		t.Errorf("pruned rows in /metrics: events %v, leases %v; want some and 1",
			m[`gtc_store_pruned_rows_total{table="events"}`], m[`gtc_store_pruned_rows_total{table="leases"}`])
	}
}

// TestNegativeRetainKeepsHistory: Retain < 0 never prunes.
func TestNegativeRetainKeepsHistory(t *testing.T) {
	clock := coord.NewFakeClock(time.Now())
	h := start(t, []string{line("k-1", "work", 1)}, func(c *Config) {
		c.Clock, c.Retain, c.PruneEvery = clock, -1, 20*time.Millisecond
	})
	w := h.worker("w1", 1)
	w.complete(t, w.next(t, 5*time.Second))
	clock.Advance(365 * 24 * time.Hour)
	time.Sleep(200 * time.Millisecond) // ten pruning periods
	r, err := (&backend{d: h.d}).EventsList(context.Background(), nil, rpc.EventsListParams{IssueID: "k-1", Limit: 1000})
	if err != nil || len(r.Events) == 0 {
		t.Errorf("k-1's events with Retain < 0: %d, %v; want them kept", len(r.Events), err)
	}
}

// TestPruneEveryFollowsRetain: the history is pruned every tenth of the retention, between a minute and an
// hour apart, unless PruneEvery says otherwise.
func TestPruneEveryFollowsRetain(t *testing.T) {
	for _, tc := range []struct {
		retain, every, want time.Duration
	}{
		{0, 0, time.Hour}, // 30 days
		{5 * time.Hour, 0, 30 * time.Minute},
		{10 * time.Minute, 0, time.Minute},
		{-1, 0, time.Minute}, // keeps everything: never runs
		{time.Hour, 20 * time.Millisecond, 20 * time.Millisecond},
	} {
		if got := (Config{Retain: tc.retain, PruneEvery: tc.every}).withDefaults().PruneEvery; got != tc.want {
			t.Errorf("Retain %v, PruneEvery %v: every %v, want %v", tc.retain, tc.every, got, tc.want)
		}
	}
}

// TestFirstPruneFollowsTheLastOnRecord: a prune records when it ran, and a start schedules the first
// prune from that record, so restarts do not put pruning off (a coordinator restarted more often than
// once a minute never pruned): overdue, it runs pruneSoonest after the start.
func TestFirstPruneFollowsTheLastOnRecord(t *testing.T) {
	h := start(t, []string{line("f-1", "work", 1)}, func(c *Config) { c.Retain, c.PruneEvery = time.Hour, 20*time.Millisecond })
	ctx := context.Background()
	eventually(t, 5*time.Second, "a prune on record", func() bool {
		v, ok, err := h.d.db.Meta(ctx, metaLastPrune)
		at, perr := time.Parse(time.RFC3339Nano, v)
		return err == nil && ok && perr == nil && time.Since(at) < time.Minute
	})
	// the schedule, on a coordinator whose own loop does not run (Retain < 0) and so cannot rewrite the record
	h = start(t, nil, func(c *Config) { c.Retain = -1 })
	record := func(ago time.Duration) {
		t.Helper()
		if err := h.d.db.Commit(ctx, []coord.Change{coord.MetaPut{Key: metaLastPrune,
			Value: time.Now().Add(-ago).UTC().Format(time.RFC3339Nano)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		ago      time.Duration // the last prune on record
		every    time.Duration
		min, max time.Duration
	}{
		{"overdue", 2 * time.Hour, time.Hour, pruneSoonest, pruneSoonest},
		{"due later", 10 * time.Minute, time.Hour, 49 * time.Minute, 50 * time.Minute},
		{"due later, short period", 10 * time.Minute, 20 * time.Minute, 9 * time.Minute, 10 * time.Minute},
		{"period shorter than the soonest", 2 * time.Hour, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond},
	} {
		record(tc.ago)
		if got := h.d.firstPruneIn(ctx, tc.every); got < tc.min || got > tc.max {
			t.Errorf("%s: first prune in %v, want %v to %v", tc.name, got, tc.min, tc.max)
		}
	}
}

// TestStatusShowsThePruneOnRecordAfterARestart: coord.status (gtc status) reports the last prune on
// record across a restart, not "not pruned since the start" while the first prune of the new process
// waits (fleet trial).
func TestStatusShowsThePruneOnRecordAfterARestart(t *testing.T) {
	h := start(t, nil, func(c *Config) { c.Retain, c.PruneEvery = 10*time.Hour, time.Hour })
	ctx := context.Background()
	at := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	if err := h.d.db.Commit(ctx, []coord.Change{coord.MetaPut{Key: metaLastPrune, Value: at.Format(time.RFC3339Nano)}}); err != nil {
		t.Fatal(err)
	}
	h.shutdown()
	h = startIn(t, h.dir, func(c *Config) { c.Retain, c.PruneEvery = 10*time.Hour, time.Hour })
	eventually(t, 5*time.Second, "the prune on record in coord.status", func() bool {
		si := h.d.storeInfo()
		return si.LastPrune != nil && si.LastPrune.Equal(at)
	})
}
