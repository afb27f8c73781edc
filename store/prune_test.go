package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
)

// TestPruneDeletesOldHistoryAndKeepsNumbering prunes a store whose history straddles the cutoff, in
// chunks of two rows, and checks what is left, then that a reopened store numbers new events and leases
// after the pruned ones.
func TestPruneDeletesOldHistoryAndKeepsNumbering(t *testing.T) {
	defer func(n int) { pruneChunk = n }(pruneChunk)
	pruneChunk = 2
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtc.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	cut := t0.Add(24 * time.Hour)
	old, recent := cut.Add(-time.Hour), cut.Add(time.Hour)
	ended := func(id, issue string, epoch int64, created, end time.Time) coord.Change {
		return coord.LeasePut{Lease: coord.Lease{ID: id, IssueID: issue, Worker: "w", Epoch: epoch, State: coord.LeaseEnded,
			CreatedAt: created, EndedAt: tp(end), Outcome: "success"}}
	}
	merge := func(id, issue, state string, epoch int64, updated time.Time) coord.Change {
		return coord.MergePut{Request: coord.MergeRequest{ID: id, IssueID: issue, Worker: "w", State: state, Epoch: epoch,
			CreatedAt: updated, UpdatedAt: updated}}
	}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")}, coord.IssuePut{Issue: sampleIssue("gt-2")})
	// five batches of old events (the last of 2 events), then two recent ones
	for i := range 5 {
		cs := []coord.Change{coord.EventAppend{Event: coord.Event{Time: old.Add(time.Duration(i-10) * time.Minute), Kind: "old"}}}
		if i == 4 {
			cs = append(cs, coord.EventAppend{Event: coord.Event{Time: old, Kind: "old"}})
		}
		commit(t, db, cs...)
	}
	for i := range 2 {
		commit(t, db, coord.EventAppend{Event: coord.Event{Time: recent.Add(time.Duration(i) * time.Minute), Kind: "recent"}})
	}
	commit(t, db,
		ended("L-1", "gt-1", 1, old.Add(-3*time.Hour), old),      // pruned
		ended("L-2", "gt-1", 2, old.Add(-2*time.Hour), recent),   // started before, ended after: kept
		ended("L-3", "gt-2", 3, old.Add(-time.Hour), old),        // pruned
		ended("L-4", "gt-2", 4, old, old.Add(time.Minute)),       // pruned
		ended("L-5", "gt-1", 5, recent, recent.Add(time.Minute)), // recent: kept
		ended("L-6", "gt-2", 6, old.Add(-time.Hour), old),        // after a recent start: not reached, kept
		merge("M-1", "gt-2", "merged", 1, old),                   // pruned
		merge("M-2", "gt-2", "pending", 2, old),                  // live: kept
		merge("M-3", "gt-1", "failed", 3, old),                   // its issue is under a live lease: kept
		merge("M-4", "gt-2", "cancelled", 4, recent),             // recent: kept
		merge("M-5", "gt-2", "failed", 5, old),                   // pruned
		merge("M-6", "gt-2", "merged", 7, old),                   // the highest epoch: kept
	)
	commit(t, db, coord.LeasePut{Lease: coord.Lease{ID: "L-7", IssueID: "gt-1", Worker: "w", Epoch: 7, State: coord.LeasePushed,
		CreatedAt: old}}) // live, in the issue's row

	got, err := db.Prune(ctx, cut, recent.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Pruned{Events: 6, Leases: 3, MergeRequests: 2}, got); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}
	evs, err := db.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, e := range evs {
		seqs = append(seqs, e.Seq)
	}
	// the five old batches (seq 1..6) went; an old batch is kept only while it is the newest
	if d := cmp.Diff([]int64{7, 8}, seqs); d != "" {
		t.Errorf("events left (-want +got):\n%s", d)
	}
	var leases []string
	for _, id := range []string{"gt-1", "gt-2"} {
		ls, err := db.LeasesByIssue(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			leases = append(leases, l.ID)
		}
	}
	if d := cmp.Diff([]string{"L-2", "L-5", "L-7", "L-6"}, leases); d != "" {
		t.Errorf("leases left (-want +got):\n%s", d)
	}
	ms, err := db.MergeRequests(ctx, MergeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var merges []string
	for _, m := range ms {
		merges = append(merges, m.ID)
	}
	if d := cmp.Diff([]string{"M-2", "M-3", "M-6", "M-4"}, merges); d != "" {
		t.Errorf("merge requests left (-want +got):\n%s", d)
	}
	if again, err := db.Prune(ctx, cut, recent.Add(time.Hour)); err != nil || again.Total() != 0 {
		t.Errorf("second prune = %+v, %v; want nothing", again, err)
	}

	// what numbering needs survived: a reopened store continues the seq and the epochs
	db = reopen(t, db, path)
	snap, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.MaxEpoch != 7 {
		t.Errorf("max epoch after prune and reopen = %d, want 7", snap.MaxEpoch)
	}
	commit(t, db, coord.EventAppend{Event: coord.Event{Time: recent, Kind: "next"}})
	if evs, err := db.Events(ctx, 8, 0); err != nil || len(evs) != 1 || evs[0].Seq != 9 {
		t.Errorf("event after reopen = %+v, %v; want seq 9", evs, err)
	}
}

// TestPruneKeepsWhatNumberingNeeds: an idle coordinator's whole history is old; its newest event batch,
// its lease of the highest epoch and its merge request of the highest epoch stay, so a restart numbers
// the next event after the last and issues no epoch twice.
func TestPruneKeepsWhatNumberingNeeds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtc.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")})
	for i := range 3 {
		commit(t, db, coord.EventAppend{Event: coord.Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: "old"}})
	}
	for e := range int64(2) {
		commit(t, db,
			coord.LeasePut{Lease: coord.Lease{ID: "L", IssueID: "gt-1", Worker: "w", Epoch: e + 1, State: coord.LeaseEnded,
				CreatedAt: t0, EndedAt: tp(t0)}},
			coord.MergePut{Request: coord.MergeRequest{ID: "M" + string(rune('1'+e)), IssueID: "gt-1", State: "merged", Epoch: e + 1,
				CreatedAt: t0, UpdatedAt: t0}})
	}
	got, err := db.Prune(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Pruned{Events: 2, Leases: 1, MergeRequests: 1}, got); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}
	db = reopen(t, db, path)
	snap, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.MaxEpoch != 2 {
		t.Errorf("max epoch after prune and reopen = %d, want 2", snap.MaxEpoch)
	}
	if len(snap.Merges) != 1 || snap.Merges[0].Epoch != 2 {
		t.Errorf("merge requests loaded after prune = %+v, want the one of epoch 2", snap.Merges)
	}
	commit(t, db, coord.EventAppend{Event: coord.Event{Time: t0.Add(2 * time.Hour), Kind: "next"}})
	evs, err := db.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Seq != evs[0].Seq+1 || evs[0].Seq < 3 {
		t.Errorf("events after prune and reopen = %+v; want the newest old one and the next after it", evs)
	}
}

// TestPruneKeepsEachIssuesLastMergeOutcome: a restart takes an issue's newest finished merge request as
// its last merge outcome (a closed issue whose branch merged refuses another submit); pruning an older
// one must not change which that is, even when the older one holds the highest epoch. Found by review:
// pruning the newer cancelled request brought the older merge back and a submit was refused after a restart.
func TestPruneKeepsEachIssuesLastMergeOutcome(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	is := sampleIssue("gt-1")
	is.Dependencies = nil
	is.Status, is.ClosedAt = "closed", tp(t0)
	commit(t, db, coord.IssuePut{Issue: is})
	mr := func(id, state string, epoch int64, at time.Time) coord.Change {
		return coord.MergePut{Request: coord.MergeRequest{ID: id, IssueID: "gt-1", Worker: "w", Branch: id,
			Target: "main", State: state, Epoch: epoch, CreatedAt: at, UpdatedAt: at.Add(time.Minute)}}
	}
	commit(t, db, mr("MR-0", "failed", 3, t0.Add(-time.Hour)))
	commit(t, db, mr("MR-1", "merged", 5, t0))
	commit(t, db, mr("MR-2", "cancelled", 0, t0.Add(time.Hour))) // cancelled before a refinery took it
	now := t0.Add(90 * 24 * time.Hour)
	p, err := db.Prune(ctx, now.Add(-30*24*time.Hour), now)
	if err != nil || p.MergeRequests != 1 {
		t.Fatalf("prune = %+v, %v; want MR-0 alone pruned", p, err)
	}
	snap, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := coord.NewEngine(coord.Config{MergeQueue: mergeq.Factory(mergeq.Config{})}, coord.NewFakeClock(now), db, snap, coord.DiscardOutbox{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	defer func() { cancel(); <-done }()
	if _, err := e.Connect(ctx, coord.Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.MergeSubmit(ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "fix-2", Target: "main"}); err != nil {
		t.Errorf("submit after prune and reload refused: %v (the issue's last outcome is MR-2, cancelled)", err)
	}
}

// TestPruneLooksPastRowsStampedInTheFuture: a batch and a lease stamped a year ahead (the clock was set
// back since) are kept until they are old, and do not stop the scan: the old rows after them go.
func TestPruneLooksPastRowsStampedInTheFuture(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	future := t0.Add(365 * 24 * time.Hour)
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")},
		coord.EventAppend{Event: coord.Event{Time: future, Kind: "skewed"}},
		coord.LeasePut{Lease: coord.Lease{ID: "L-1", IssueID: "gt-1", Worker: "w", Epoch: 1, State: coord.LeaseEnded,
			CreatedAt: future, EndedAt: tp(future)}})
	for i := range 5 {
		commit(t, db, coord.EventAppend{Event: coord.Event{Time: t0.Add(time.Duration(i) * time.Minute), Kind: "old"}},
			coord.LeasePut{Lease: coord.Lease{ID: "L", IssueID: "gt-1", Worker: "w", Epoch: int64(i + 2), State: coord.LeaseEnded,
				CreatedAt: t0, EndedAt: tp(t0.Add(time.Minute))}})
	}
	now := t0.Add(60 * 24 * time.Hour)
	p, err := db.Prune(ctx, now.Add(-30*24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	// the newest batch and the lease of the highest epoch stay in any case
	if d := cmp.Diff(Pruned{Events: 4, Leases: 4}, p); d != "" {
		t.Errorf("pruned (-want +got):\n%s", d)
	}
	if evs, err := db.Events(ctx, 0, 0); err != nil || len(evs) != 2 || evs[0].Kind != "skewed" {
		t.Errorf("events left = %+v, %v; want the skewed one and the newest", evs, err)
	}
}

// TestPruneKeepsTheMergeALoadTakes: a restart picks an issue's last merge outcome among the last finished
// requests written (recentMerges); with a request stamped ahead by a wrong clock, the newest by time and the
// last written differ, and both stay. Found by review: the last written one was pruned and a restart found
// no outcome for the issue.
func TestPruneKeepsTheMergeALoadTakes(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	now := t0.Add(90 * 24 * time.Hour)
	mr := func(id, issue, state string, epoch int64, at time.Time) coord.Change {
		return coord.MergePut{Request: coord.MergeRequest{ID: id, IssueID: issue, Worker: "w", Branch: id,
			Target: "main", State: state, Epoch: epoch, CreatedAt: at, UpdatedAt: at}}
	}
	loaded := func() []string {
		t.Helper()
		snap, err := db.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range snap.Merges {
			if m.IssueID == "gt-x" {
				ids = append(ids, m.ID)
			}
		}
		return ids
	}
	commit(t, db, mr("MR-A", "gt-x", "cancelled", 0, now.Add(365*24*time.Hour))) // stamped ahead
	cs := make([]coord.Change, 0, recentMerges)
	for i := range recentMerges {
		cs = append(cs, mr(fmt.Sprintf("MR-o%d", i), fmt.Sprintf("gt-o%d", i), "merged", int64(i+2), t0))
	}
	commit(t, db, cs...)
	commit(t, db, mr("MR-B", "gt-x", "merged", 1, t0))
	if got := loaded(); len(got) != 1 || got[0] != "MR-B" {
		t.Fatalf("before the prune a start takes %v for gt-x, want [MR-B]", got)
	}
	if _, err := db.Prune(ctx, now.Add(-30*24*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if got := loaded(); len(got) != 1 || got[0] != "MR-B" {
		t.Errorf("after the prune a start takes %v for gt-x, want [MR-B]", got)
	}
}
