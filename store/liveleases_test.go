package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gastown/gtc/coord"
)

// TestLiveLeaseTravelsWithItsIssue walks leases through the shapes the scheduler commits them in: with
// the issue's state change in the same request (one UPDATE), alone (a heartbeat), ended and replaced in
// one request (a failure requeued and dispatched again), and checks what a restart loads and what the
// history and the leases view show.
func TestLiveLeaseTravelsWithItsIssue(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")}, coord.IssuePut{Issue: sampleIssue("gt-2")})
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	l1 := coord.Lease{ID: "L-1", IssueID: "gt-1", Worker: "w1", Epoch: 1, State: coord.LeasePushed, Attempt: 1,
		CreatedAt: at(1), AckDeadline: at(11), Deadline: at(61)}
	state := func(status, assignee string, s int) coord.IssueState {
		return coord.IssueState{ID: "gt-1", Status: status, Assignee: assignee, UpdatedAt: at(s)}
	}
	live := func(want ...coord.Lease) {
		t.Helper()
		s, err := db.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, s.Leases); d != "" {
			t.Errorf("live leases (-want +got):\n%s", d)
		}
	}

	commit(t, db, coord.LeasePut{Lease: l1}, state("hooked", "w1", 1))
	live(l1)
	l1.State, l1.Deadline = coord.LeaseAcked, at(62)
	commit(t, db, coord.LeasePut{Lease: l1}, state("in_progress", "w1", 2))
	live(l1)
	l1.Deadline, l1.Progress = at(90), "tests pass" // a heartbeat: the lease alone
	commit(t, db, coord.LeasePut{Lease: l1})
	live(l1)
	if is, _, err := db.GetIssue(ctx, "gt-1"); err != nil || is.Status != "in_progress" {
		t.Fatalf("issue after the heartbeat: %v %v", is.Status, err)
	}

	// fail, requeue and dispatch again, all in one request
	ended := l1
	end := at(30)
	ended.State, ended.EndedAt, ended.Outcome, ended.Error = coord.LeaseEnded, &end, "failure", "boom"
	l2 := coord.Lease{ID: "L-2", IssueID: "gt-1", Worker: "w2", Epoch: 2, State: coord.LeasePushed, Attempt: 2,
		CreatedAt: at(30), AckDeadline: at(40), Deadline: at(90)}
	commit(t, db, coord.LeasePut{Lease: ended}, state("open", "", 30), coord.LeasePut{Lease: l2}, state("hooked", "w2", 30))
	live(l2)

	// completed: no live lease, both in the history
	done := l2
	done.State, done.EndedAt, done.Outcome = coord.LeaseEnded, &end, "success"
	commit(t, db, coord.LeasePut{Lease: done}, state("closed", "", 31))
	live()
	hist, err := db.LeasesByIssue(ctx, "gt-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]coord.Lease{ended, done}, hist); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}

	// a live lease shows in the view with the table's columns; an ended one of another lease does not clear it
	l3 := coord.Lease{ID: "L-3", IssueID: "gt-2", Worker: "w1", Epoch: 3, State: coord.LeaseAcked, Attempt: 1,
		CreatedAt: at(40), AckDeadline: at(50), Deadline: at(100), Progress: `say "hi"`}
	stale := coord.Lease{ID: "L-0", IssueID: "gt-2", Worker: "w9", Epoch: 0, State: coord.LeaseEnded, EndedAt: &end, Outcome: "expired"}
	commit(t, db, coord.LeasePut{Lease: l3})
	commit(t, db, coord.LeasePut{Lease: stale})
	got, err := db.Lease(ctx, "L-3")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(l3, got); d != "" {
		t.Errorf("Lease(L-3) through the view (-want +got):\n%s", d)
	}
	s, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxEpoch != 3 || len(s.Leases) != 1 || s.Leases[0].ID != "L-3" {
		t.Errorf("load: MaxEpoch %d leases %+v", s.MaxEpoch, s.Leases)
	}
}

func TestLiveLeaseOfUnknownIssueIsRefused(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Commit(context.Background(), []coord.Change{coord.LeasePut{Lease: coord.Lease{ID: "L-1", IssueID: "nope",
		Worker: "w", Epoch: 1, State: coord.LeasePushed}}})
	if coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("live lease of a missing issue: %v, want not_found", err)
	}
}

// TestMigration4MovesLiveLeases builds a store at schema 0003 with a live and an ended lease, opens it
// (migration 0004) and checks the live lease moved into its issue's row and both still read back.
func TestMigration4MovesLiveLeases(t *testing.T) {
	ctx := context.Background()
	path := storeAtVersion(t, 3, `
		INSERT INTO issues (id, status, priority, issue_type, assignee) VALUES ('gt-1', 'in_progress', 1, 'task', 'w2');
		INSERT INTO issue_bodies (id, raw, body) VALUES ('gt-1', NULL, '{"id":"gt-1","title":"t","status":"open","priority":1,"issue_type":"task"}');
		INSERT INTO leases (epoch, id, issue_id, worker, state, attempt, created_at, ack_deadline, deadline, ended_at, outcome, error)
			VALUES (7, 'L-7', 'gt-1', 'w1', 'ended', 1, '2026-01-01T00:00:00Z', '', '', '2026-01-01T00:00:30Z', 'failure', 'tests failed'),
			       (9, 'L-9', 'gt-1', 'w2', 'acked', 2, '2026-01-01T00:01:00Z', '2026-01-01T00:01:10Z', '2026-01-01T00:02:00Z', '', '', '');`)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var epoch int64
	if err := db.r.GetContext(ctx, &epoch, `SELECT lease_epoch FROM issues WHERE id = 'gt-1'`); err != nil || epoch != 9 {
		t.Fatalf("issue row lease_epoch = %d, %v; want 9", epoch, err)
	}
	s, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := coord.Lease{ID: "L-9", IssueID: "gt-1", Worker: "w2", Epoch: 9, State: coord.LeaseAcked, Attempt: 2,
		CreatedAt: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC), AckDeadline: time.Date(2026, 1, 1, 0, 1, 10, 0, time.UTC),
		Deadline: time.Date(2026, 1, 1, 0, 2, 0, 0, time.UTC)}
	if d := cmp.Diff([]coord.Lease{want}, s.Leases); d != "" || s.MaxEpoch != 9 {
		t.Errorf("live leases after migration (-want +got):\n%s; MaxEpoch %d", d, s.MaxEpoch)
	}
	hist, err := db.LeasesByIssue(ctx, "gt-1")
	if err != nil || len(hist) != 2 || hist[0].ID != "L-7" || hist[0].Error != "tests failed" || hist[1].ID != "L-9" {
		t.Errorf("leases of gt-1 after migration = %+v, %v", hist, err)
	}
}
