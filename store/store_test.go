package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jmoiron/sqlx"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// countObserver counts commits and reads.
type countObserver struct {
	mu      sync.Mutex
	commits int
	changes int
	writes  int
	reads   map[string]int
}

func (o *countObserver) ObserveRead(kind string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reads == nil {
		o.reads = map[string]int{}
	}
	o.reads[kind]++
}

func (o *countObserver) ObserveCommit(d time.Duration, changes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commits++
	o.changes += changes
}

func (o *countObserver) ObserveWrite(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.writes++
}

func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func commit(t testing.TB, db *DB, cs ...coord.Change) {
	t.Helper()
	if err := db.Commit(context.Background(), cs); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

func tp(t time.Time) *time.Time { return &t }

// reopen closes db and opens the store at path again, closed when the test ends.
func reopen(t testing.TB, db *DB, path string) *DB {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func sampleIssue(id string) beads.Issue {
	return beads.Issue{
		ID: id, Title: "title " + id, Description: "desc", Status: "open", Priority: 2, IssueType: "task",
		CreatedAt: t0, UpdatedAt: t0, Labels: []string{"b", "a"},
		Dependencies: []beads.Dependency{{IssueID: id, DependsOnID: "gt-root", Type: "blocks", CreatedAt: t0}},
	}
}

func TestChangesRoundTripThroughLoad(t *testing.T) {
	ctx := context.Background()
	ended := t0.Add(time.Minute)
	lease1 := coord.Lease{ID: "l1", IssueID: "gt-1", Worker: "w1", Epoch: 7, State: coord.LeaseAcked, Attempt: 1,
		CreatedAt: t0, AckDeadline: t0.Add(time.Second), Deadline: t0.Add(time.Minute), Progress: "half"}
	lease2 := coord.Lease{ID: "l2", IssueID: "gt-1", Worker: "w2", Epoch: 9, State: coord.LeaseEnded, Attempt: 2,
		CreatedAt: t0, EndedAt: &ended, Outcome: "failure", Error: "boom"}
	worker := coord.WorkerRow{Name: "w1", Role: "worker", Capacity: 2, State: "busy", FirstSeen: t0, LastSeen: ended,
		Filters: coord.Filters{Labels: []string{"x"}, Types: []string{"bug"}, Prefixes: []string{"gt-"}, Convoy: "c1"}}
	mr := coord.MergeRequest{ID: "m1", IssueID: "gt-1", Worker: "w1", Branch: "b", Commit: "abc", Target: "main",
		Files: []string{"a.go"}, State: "pending", Attempts: 1, Epoch: 3, Deadline: &ended, CreatedAt: t0, UpdatedAt: t0,
		Conflicts: []string{"m0"}}
	merged := mr
	merged.ID, merged.State = "m2", "merged"

	tests := []struct {
		name    string
		changes []coord.Change
		check   func(t *testing.T, s *coord.Snapshot)
	}{
		{"issue put", []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}}, func(t *testing.T, s *coord.Snapshot) {
			want := []coord.IssueMeta{coord.MetaOf(sampleIssue("gt-1"))}
			if d := cmp.Diff(want, s.Issues); d != "" {
				t.Errorf("issues (-want +got):\n%s", d)
			}
		}},
		{"issue state", []coord.Change{
			coord.IssuePut{Issue: sampleIssue("gt-1")},
			coord.IssueState{ID: "gt-1", Status: "in_progress", Assignee: "w1", UpdatedAt: ended, StartedAt: &ended,
				AddLabels: []string{"c", "a"}, DelLabels: []string{"b"}, Attempts: 2, NotBefore: ended},
		}, func(t *testing.T, s *coord.Snapshot) {
			want := coord.MetaOf(sampleIssue("gt-1"))
			want.Status, want.Assignee, want.UpdatedAt, want.Attempts, want.NotBefore = "in_progress", "w1", ended, 2, ended
			want.StartedAt = &ended
			want.Labels = []string{"a", "c"}
			if d := cmp.Diff([]coord.IssueMeta{want}, s.Issues); d != "" {
				t.Errorf("issues (-want +got):\n%s", d)
			}
		}},
		{"leases", []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}, coord.LeasePut{Lease: lease1}, coord.LeasePut{Lease: lease2}}, func(t *testing.T, s *coord.Snapshot) {
			if d := cmp.Diff([]coord.Lease{lease1}, s.Leases); d != "" {
				t.Errorf("live leases (-want +got):\n%s", d)
			}
			if s.MaxEpoch != 9 {
				t.Errorf("MaxEpoch = %d, want 9", s.MaxEpoch)
			}
		}},
		{"lease replaced", []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}, coord.LeasePut{Lease: lease1}, coord.LeasePut{Lease: func() coord.Lease {
			l := lease1
			l.State, l.EndedAt, l.Outcome = coord.LeaseEnded, &ended, "success"
			return l
		}()}}, func(t *testing.T, s *coord.Snapshot) {
			if len(s.Leases) != 0 || s.MaxEpoch != 7 {
				t.Errorf("leases %v MaxEpoch %d, want none and 7", s.Leases, s.MaxEpoch)
			}
		}},
		{"worker", []coord.Change{coord.WorkerPut{Worker: worker}}, func(t *testing.T, s *coord.Snapshot) {
			if d := cmp.Diff([]coord.WorkerRow{worker}, s.Workers); d != "" {
				t.Errorf("workers (-want +got):\n%s", d)
			}
		}},
		{"worker deleted", []coord.Change{coord.WorkerPut{Worker: worker}, coord.WorkerPut{Worker: func() coord.WorkerRow {
			w := worker
			w.Name = "w-other"
			return w
		}()}, coord.WorkerDelete{Name: worker.Name}}, func(t *testing.T, s *coord.Snapshot) {
			if len(s.Workers) != 1 || s.Workers[0].Name != "w-other" {
				t.Errorf("workers %+v, want w-other alone", s.Workers)
			}
		}},
		{"merges", []coord.Change{coord.MergePut{Request: mr}, coord.MergePut{Request: merged}}, func(t *testing.T, s *coord.Snapshot) {
			// the open request, then the newest finished ones (recentMerges)
			if d := cmp.Diff([]coord.MergeRequest{mr, merged}, s.Merges); d != "" {
				t.Errorf("merges (-want +got):\n%s", d)
			}
		}},
		{"meta", []coord.Change{coord.MetaPut{Key: "paused", Value: "1"}, coord.MetaPut{Key: "paused", Value: "0"}}, func(t *testing.T, s *coord.Snapshot) {
			if d := cmp.Diff(map[string]string{"paused": "0"}, s.Meta); d != "" {
				t.Errorf("meta (-want +got):\n%s", d)
			}
		}},
		{"empty", nil, func(t *testing.T, s *coord.Snapshot) {
			if len(s.Issues)+len(s.Leases)+len(s.Workers)+len(s.Merges)+len(s.Meta) != 0 || s.MaxEpoch != 0 {
				t.Errorf("snapshot of empty store not empty: %+v", s)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, Options{})
			if err := db.Commit(ctx, tc.changes); err != nil {
				t.Fatal(err)
			}
			s, err := db.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestEventsAppendAssignsSeq(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	var want []coord.Event
	for i, kind := range []string{"assigned", "acked", "completed"} {
		e := coord.Event{Seq: 99, Time: t0.Add(time.Duration(i) * time.Second), Kind: kind, IssueID: "gt-1", LeaseID: "l1",
			Worker: "w1", Actor: "sched", Detail: `{"n":1}`}
		commit(t, db, coord.EventAppend{Event: e})
		e.Seq = int64(i + 1)
		want = append(want, e)
	}
	got, err := db.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	got, err = db.Events(ctx, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want[1:2], got); d != "" {
		t.Errorf("events after 1 limit 1 (-want +got):\n%s", d)
	}
}

func TestIssueStateOverlaysReads(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	is := sampleIssue("gt-1")
	is.StartedAt = tp(t0)
	commit(t, db, coord.IssuePut{Issue: is, Raw: []byte(`{"id":"gt-1"}`), FromImport: true})

	later := t0.Add(time.Hour)
	tests := []struct {
		name   string
		change coord.IssueState
		want   func(beads.Issue) beads.Issue
	}{
		{"claim keeps started_at when nil", coord.IssueState{ID: "gt-1", Status: "hooked", Assignee: "w1", UpdatedAt: later},
			func(b beads.Issue) beads.Issue {
				b.Status, b.Assignee, b.UpdatedAt = "hooked", "w1", later
				return b
			}},
		{"ack sets started_at and labels", coord.IssueState{ID: "gt-1", Status: "in_progress", Assignee: "w1", UpdatedAt: later,
			StartedAt: &later, AddLabels: []string{"z"}, DelLabels: []string{"b", "missing"}},
			func(b beads.Issue) beads.Issue {
				b.Status, b.Assignee, b.UpdatedAt, b.StartedAt, b.Labels = "in_progress", "w1", later, &later, []string{"a", "z"}
				return b
			}},
		{"close", coord.IssueState{ID: "gt-1", Status: "closed", UpdatedAt: later, ClosedAt: &later, CloseReason: "done",
			DelLabels: []string{"a", "z"}},
			func(b beads.Issue) beads.Issue {
				b.Status, b.Assignee, b.UpdatedAt, b.StartedAt, b.ClosedAt, b.CloseReason = "closed", "", later, &later, &later, "done"
				b.Labels = nil
				return b
			}},
		{"reopen clears closed_at", coord.IssueState{ID: "gt-1", Status: "open", UpdatedAt: later},
			func(b beads.Issue) beads.Issue {
				b.Status, b.UpdatedAt, b.ClosedAt, b.CloseReason = "open", later, nil, ""
				return b
			}},
	}
	want := is
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			commit(t, db, tc.change)
			want = tc.want(want)
			got, raw, err := db.GetIssue(ctx, "gt-1")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("issue (-want +got):\n%s", d)
			}
			if string(raw) != `{"id":"gt-1"}` {
				t.Errorf("raw = %q, want kept", raw)
			}
			recs, err := db.Records(ctx, []string{"gt-1"})
			if err != nil || len(recs) != 1 {
				t.Fatalf("Records: %v %v", recs, err)
			}
			if !recs[0].Dirty || recs[0].Rev != int64(i+2) {
				t.Errorf("dirty %v rev %d, want true %d", recs[0].Dirty, recs[0].Rev, i+2)
			}
		})
	}
}

func TestIssueStateUnknownIssueIsNotFound(t *testing.T) {
	db := openTest(t, Options{})
	err := db.Commit(context.Background(), []coord.Change{coord.IssueState{ID: "nope", Status: "open"}})
	if coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("err = %v, want not_found", err)
	}
}

func TestReadsNotFound(t *testing.T) {
	ctx := context.Background()
	obs := &countObserver{}
	db := openTest(t, Options{Observer: obs})
	defer func() {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		if d := cmp.Diff(map[string]int{"issue": 1, "lease": 1, "meta": 1}, obs.reads); d != "" {
			t.Errorf("observed reads (-want +got):\n%s", d)
		}
	}()
	if _, _, err := db.GetIssue(ctx, "x"); coord.ErrorCode(err) != coord.ENotFound {
		t.Errorf("GetIssue: %v", err)
	}
	if _, err := db.Lease(ctx, "x"); coord.ErrorCode(err) != coord.ENotFound {
		t.Errorf("Lease: %v", err)
	}
	if v, ok, err := db.Meta(ctx, "x"); v != "" || ok || err != nil {
		t.Errorf("Meta = %q %v %v", v, ok, err)
	}
}

func TestListIssuesFilters(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	mk := func(id, status, typ, assignee string, prio int, labels ...string) coord.Change {
		is := sampleIssue(id)
		is.Status, is.IssueType, is.Assignee, is.Priority, is.Labels = status, typ, assignee, prio, labels
		return coord.IssuePut{Issue: is}
	}
	commit(t, db,
		mk("gt-a", "open", "bug", "", 1, "x"),
		mk("gt-b", "open", "task", "w1", 0, "x", "y"),
		mk("gt-c", "closed", "task", "w1", 2),
		mk("gt-d", "open", "task", "", 3, "y"),
		coord.IssueState{ID: "gt-d", Status: "in_progress", Assignee: "w2", UpdatedAt: t0, AddLabels: []string{"x"}},
	)
	tests := []struct {
		name string
		f    IssueFilter
		want []string
	}{
		{"all by priority", IssueFilter{}, []string{"gt-b", "gt-a", "gt-c", "gt-d"}},
		{"status", IssueFilter{Status: "open"}, []string{"gt-b", "gt-a"}},
		{"status from state change", IssueFilter{Status: "in_progress"}, []string{"gt-d"}},
		{"label", IssueFilter{Label: "x"}, []string{"gt-b", "gt-a", "gt-d"}},
		{"type", IssueFilter{Type: "task"}, []string{"gt-b", "gt-c", "gt-d"}},
		{"assignee", IssueFilter{Assignee: "w2"}, []string{"gt-d"}},
		{"ids", IssueFilter{IDs: []string{"gt-c", "gt-a", "zz"}}, []string{"gt-a", "gt-c"}},
		{"combined", IssueFilter{Type: "task", Label: "y", Status: "open"}, []string{"gt-b"}},
		{"limit", IssueFilter{Limit: 2}, []string{"gt-b", "gt-a"}},
		// a huge limit is no limit (it sized the result buffer: 910 GB asked of the runtime, a fatal error)
		{"huge limit", IssueFilter{Limit: math.MaxInt32}, []string{"gt-b", "gt-a", "gt-c", "gt-d"}},
		{"huger limit", IssueFilter{Limit: math.MaxInt64}, []string{"gt-b", "gt-a", "gt-c", "gt-d"}},
		{"none", IssueFilter{Status: "deferred"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListIssues(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, is := range got {
				ids = append(ids, is.ID)
			}
			if d := cmp.Diff(tc.want, ids); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
		})
	}
}

func TestLeasesByIssueAndMergeFilter(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	cs := []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}}
	for i, st := range []coord.LeaseState{coord.LeaseEnded, coord.LeaseEnded, coord.LeasePushed} {
		cs = append(cs, coord.LeasePut{Lease: coord.Lease{ID: "l" + string(rune('a'+i)), IssueID: "gt-1", Worker: "w",
			Epoch: int64(10 - i), State: st, Attempt: i + 1}})
	}
	for i, st := range []string{"pending", "merged", "failed", "merging"} {
		cs = append(cs, coord.MergePut{Request: coord.MergeRequest{ID: "m" + string(rune('a'+i)), IssueID: "gt-1",
			Worker: "w", State: st, CreatedAt: t0.Add(time.Duration(i) * time.Second)}})
	}
	commit(t, db, cs...)
	ls, err := db.LeasesByIssue(ctx, "gt-1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
	}
	if d := cmp.Diff([]string{"lc", "lb", "la"}, got); d != "" {
		t.Errorf("leases by epoch (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		f    MergeFilter
		want []string
	}{
		{MergeFilter{}, []string{"ma", "mb", "mc", "md"}},
		{MergeFilter{Open: true}, []string{"ma", "md"}},
		{MergeFilter{State: "failed"}, []string{"mc"}},
		{MergeFilter{IssueID: "gt-2"}, nil},
		{MergeFilter{Worker: "w", Limit: 1}, []string{"ma"}},
	} {
		ms, err := db.MergeRequests(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		if d := cmp.Diff(tc.want, ids); d != "" {
			t.Errorf("%+v (-want +got):\n%s", tc.f, d)
		}
	}
}

func TestGroupCommitManyCommitters(t *testing.T) {
	ctx := context.Background()
	obs := &countObserver{}
	db := openTest(t, Options{Observer: obs, MaxBatch: 64})
	const goroutines, each = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				key := "k" + string(rune('A'+g)) + "-" + string(rune('a'+i))
				if err := db.Commit(ctx, []coord.Change{
					coord.MetaPut{Key: key, Value: "v"},
					coord.EventAppend{Event: coord.Event{Time: t0, Kind: "test", Detail: key}},
				}); err != nil {
					errs <- err
					return
				}
				// answered only after its own commit: the read pool already sees it
				if v, ok, err := db.Meta(ctx, key); err != nil || !ok || v != "v" {
					errs <- coord.Errorf(coord.EInternal, "meta %s after commit: %q %v %v", key, v, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Meta) != goroutines*each {
		t.Errorf("meta rows = %d, want %d", len(s.Meta), goroutines*each)
	}
	ev, err := db.Events(ctx, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != goroutines*each {
		t.Errorf("events = %d, want %d", len(ev), goroutines*each)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.changes != 2*goroutines*each {
		t.Errorf("observed changes = %d, want %d", obs.changes, 2*goroutines*each)
	}
	if obs.commits >= goroutines*each {
		t.Logf("no grouping observed: %d transactions for %d requests", obs.commits, goroutines*each)
	}
}

// TestBatchIsolatesFailingRequest drives one batch directly: a failing request is rolled back alone.
func TestBatchIsolatesFailingRequest(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	reqs := []*commitReq{
		{ctx: ctx, changes: []coord.Change{coord.MetaPut{Key: "a", Value: "1"}}},
		{ctx: ctx, changes: []coord.Change{coord.MetaPut{Key: "b", Value: "1"},
			coord.EventAppend{Event: coord.Event{Time: t0, Kind: "lost"}}, coord.IssueState{ID: "missing"}}},
		{ctx: canceled, changes: []coord.Change{coord.MetaPut{Key: "c", Value: "1"}}},
		{ctx: ctx, changes: []coord.Change{coord.MetaPut{Key: "d", Value: "1"}, coord.EventAppend{Event: coord.Event{Time: t0, Kind: "kept"}}}},
		{ctx: ctx, changes: []coord.Change{&coord.EventAppend{Event: coord.Event{Time: t0, Kind: "numbered"}},
			&coord.EventAppend{Event: coord.Event{Time: t0, Kind: "numbered too"}}}},
	}
	dones := make([]chan error, len(reqs))
	for i, r := range reqs {
		dones[i] = make(chan error, 1)
		r.done = dones[i]
	}
	db.commitBatch(reqs)
	wantCodes := []coord.Code{"", coord.ENotFound, coord.EInternal, "", ""}
	for i := range reqs {
		if got := coord.ErrorCode(<-dones[i]); got != wantCodes[i] {
			t.Errorf("request %d: code %q, want %q", i, got, wantCodes[i])
		}
	}
	s, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"a": "1", "d": "1"}, s.Meta); d != "" {
		t.Errorf("meta (-want +got):\n%s", d)
	}
	// the failed request's event went with it; the kept one is number 1, and the caller's own
	// (pointer) events carry the numbers they were stored under, as a live subscriber gets them
	ev, err := db.Events(ctx, 0, 0)
	if err != nil || len(ev) != 3 || ev[0].Kind != "kept" || ev[0].Seq != 1 || ev[1].Seq != 2 || ev[2].Seq != 3 {
		t.Errorf("events = %+v, %v; want kept, numbered, numbered too: seq 1, 2, 3", ev, err)
	}
	for i, want := range []int64{2, 3} {
		if got := reqs[4].changes[i].(*coord.EventAppend).Event.Seq; got != want {
			t.Errorf("committed event %d has seq %d, want %d", i, got, want)
		}
	}
	if got := reqs[1].changes[1].(coord.EventAppend).Event.Seq; got != 0 {
		t.Errorf("a value event has seq %d", got)
	}
}

func TestWriteFailureIsUnavailableAndLosesNothingAcknowledged(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	commit(t, db, coord.MetaPut{Key: "kept", Value: "1"})
	var pages int
	if err := db.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// the writer is one connection: this caps the file size for every later write (a full disk)
	if _, err := db.w.ExecContext(ctx, `PRAGMA max_page_count = `+strconv.Itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	var big []coord.Change
	for i := range 500 {
		is := sampleIssue("gt-" + strconv.Itoa(i))
		is.Description = string(make([]byte, 2000))
		big = append(big, coord.IssuePut{Issue: is})
	}
	err := db.Commit(ctx, big)
	if coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("commit on full disk: %v, want unavailable", err)
	}
	s, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Issues) != 0 || s.Meta["kept"] != "1" {
		t.Errorf("after failed commit: %d issues, meta %v; want 0 and kept", len(s.Issues), s.Meta)
	}
	// the store recovers once space is back
	if _, err := db.w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	commit(t, db, big[:3]...)
}

func TestCommitAfterCloseIsUnavailable(t *testing.T) {
	db, err := Open(context.Background(), ":memory:", Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, coord.MetaPut{Key: "a", Value: "b"})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(db.Path())); !os.IsNotExist(err) {
		t.Errorf("temporary directory of a :memory: store still there after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := db.Commit(context.Background(), []coord.Change{coord.MetaPut{Key: "a"}}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Errorf("Commit after Close: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtc.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db,
		coord.IssuePut{Issue: sampleIssue("gt-1"), Raw: []byte(`{"id":"gt-1","x":1}`), FromImport: true},
		coord.IssuePut{Issue: sampleIssue("gt-2")},
		coord.IssueState{ID: "gt-2", Status: "hooked", Assignee: "w1", UpdatedAt: t0, Attempts: 1},
		coord.LeasePut{Lease: coord.Lease{ID: "l1", IssueID: "gt-2", Worker: "w1", Epoch: 4, State: coord.LeasePushed}},
		coord.WorkerPut{Worker: coord.WorkerRow{Name: "w1", Role: "worker", Capacity: 1, State: "busy"}},
		coord.MergePut{Request: coord.MergeRequest{ID: "m1", State: "pending"}},
		coord.EventAppend{Event: coord.Event{Time: t0, Kind: "assigned"}},
		coord.MetaPut{Key: "paused", Value: "1"},
	)
	before, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	allBefore, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, path)
	after, err := db.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("snapshot changed across reopen (-before +after):\n%s", d)
	}
	allAfter, err := db.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(allBefore, allAfter, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("records changed across reopen (-before +after):\n%s", d)
	}
	if ev, err := db.Events(ctx, 0, 10); err != nil || len(ev) != 1 {
		t.Errorf("events after reopen: %v %v", ev, err)
	}
	// the dirty set is rebuilt from the rows: gt-2 (created and changed by gtc) is dirty, gt-1 (imported) is not
	if d, err := db.Dirty(ctx); err != nil || len(d) != 1 || d[0].ID != "gt-2" {
		t.Errorf("dirty after reopen = %+v, %v; want gt-2 only", d, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtc.db")
	for range 2 {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if applied, err := migrate(ctx, db.w); err != nil || len(applied) != 0 {
			t.Fatalf("second migrate: applied %v, %v; want nothing to do", applied, err)
		}
		var n int
		if err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations`); err != nil {
			t.Fatal(err)
		}
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || n == 0 {
			t.Errorf("schema_migrations rows = %d, want %d", n, len(ms))
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenRefusesANewerSchema: a gtc.db a newer gtc migrated further is refused with ErrNewerSchema and
// left as it was (upgrade trial: an older gtc opened a newer store silently, and one that predated a
// migration refused every request from then on); an older store is upgraded and says which migrations ran.
func TestOpenRefusesANewerSchema(t *testing.T) {
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	newest := ms[len(ms)-1]
	older := storeAtVersion(t, newest.version-1, `SELECT 1`)
	db, err := Open(ctx, older, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Migrated(); len(got) != 1 || got[0] != newest.name {
		t.Errorf("an upgrade from the migration before the newest applied %v, want [%s]", got, newest.name)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, older, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Migrated(); len(got) != 0 {
		t.Errorf("a second open applied %v", got)
	}
	future := fmt.Sprintf("%04d_from_a_newer_gtc.sql", newest.version+1)
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, 'x')`,
		newest.version+1, future); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(older)
	if err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, older, Options{})
	if err == nil {
		db.Close()
		t.Fatal("a store migrated past this gtc's migrations was opened")
	}
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), future) || !strings.Contains(err.Error(), newest.name) {
		t.Errorf("error %q: want ErrNewerSchema naming %s and %s", err, future, newest.name)
	}
	if after, err := os.ReadFile(older); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the refused store changed (%v)", err)
	}
}

// TestGroupCommitGroupsQueuedRequests holds the writer connection so requests queue up, then checks that the
// queued ones commit together in batches capped at MaxBatch changes.
func TestGroupCommitGroupsQueuedRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		requests    int
		maxBatch    int
		wantCommits int
	}{
		{"all queued in one batch", 20, 1024, 2},   // the first alone (it waits for the connection), then 19 together
		{"cap splits batches", 20, 5, 1 + 4},       // the first, then 19 in batches of 5,5,5,4
		{"cap of one commits singly", 6, 1, 1 + 5}, // grouping disabled
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := &countObserver{}
			db := openTest(t, Options{Observer: obs, MaxBatch: tc.maxBatch})
			conn, err := db.w.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			errs := make(chan error, tc.requests)
			submit := func(i int) {
				go func() {
					errs <- db.Commit(ctx, []coord.Change{coord.MetaPut{Key: strconv.Itoa(i), Value: "v"}})
				}()
			}
			waitFor := func(what string, cond func() bool) {
				deadline := time.Now().Add(10 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						_ = conn.Close()
						t.Fatalf("timed out waiting for %s", what)
					}
					time.Sleep(time.Millisecond)
				}
			}
			// the first request is taken alone and waits for the connection; the rest queue behind it
			submit(0)
			waitFor("the first request to be taken", func() bool { return db.taken.Load() == 1 })
			for i := 1; i < tc.requests; i++ {
				submit(i)
			}
			waitFor("the rest to queue", func() bool { return len(db.reqs) == tc.requests-1 })
			select {
			case err := <-errs:
				t.Fatalf("a commit returned while the writer was held: %v", err)
			default:
			}
			_ = conn.Close()
			for range tc.requests {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if obs.commits != tc.wantCommits || obs.changes != tc.requests {
				t.Errorf("%d transactions with %d changes, want %d with %d", obs.commits, obs.changes, tc.wantCommits, tc.requests)
			}
		})
	}
}

func TestBackgroundCheckpointCopiesWAL(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		want     bool // the database file grows without any further commit
	}{
		{"background checkpointer", 5 * time.Millisecond, true},
		{"left to SQLite (below its 1000-page threshold)", -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, Options{CheckpointInterval: tc.interval})
			time.Sleep(50 * time.Millisecond) // let a first checkpoint copy the schema
			size := func() int64 {
				st, err := os.Stat(db.Path())
				if err != nil {
					t.Fatal(err)
				}
				return st.Size()
			}
			before := size()
			var cs []coord.Change
			for i := range 300 {
				cs = append(cs, coord.IssuePut{Issue: sampleIssue("gt-" + strconv.Itoa(i))})
			}
			commit(t, db, cs...)
			wait := 300 * time.Millisecond // how long the negative case watches
			if tc.want {
				wait = 5 * time.Second
			}
			grew := false
			for deadline := time.Now().Add(wait); !grew && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
				grew = size() > before
			}
			if grew != tc.want {
				t.Errorf("database file grew from %d to %d bytes: %v, want %v", before, size(), grew, tc.want)
			}
		})
	}
}

// storeAtVersion creates a store file with the migrations up to version applied, runs seed on it and
// returns its path: a store as an older gtc left it.
func storeAtVersion(t *testing.T, version int, seed string) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtc.db")
	w, err := sqlx.Open("sqlite3", fileURI(path, url.Values{"_foreign_keys": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version <= version {
			if _, err := applyMigration(ctx, w, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.ExecContext(ctx, seed); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestMigration3KeepsLeasesAndEvents builds a store at schema 0002, writes leases and events the old way,
// then opens it: migration 0003 must carry every lease (now keyed by epoch) and every event (now in
// batches, same sequence numbers) over, and new events must number on from the old ones.
func TestMigration3KeepsLeasesAndEvents(t *testing.T) {
	ctx := context.Background()
	path := storeAtVersion(t, 2, `
		INSERT INTO leases (id, issue_id, worker, epoch, state, attempt, created_at, outcome, error)
			VALUES ('L-7', 'gt-1', 'w1', 7, 'ended', 1, '2026-01-01T00:00:00Z', 'failure', 'tests failed'),
			       ('L-9', 'gt-1', 'w2', 9, 'acked', 2, '2026-01-01T00:01:00Z', '', '');
		INSERT INTO events (time, kind, issue_id, lease_id, worker, actor, detail)
			VALUES ('2026-01-01T00:00:00Z', 'assigned', 'gt-1', 'L-7', 'w1', '', 'attempt 1'),
			       ('2026-01-01T00:00:30Z', 'failed', 'gt-1', 'L-7', 'w1', '', 'say "why" <here>');`)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ls, err := db.LeasesByIssue(ctx, "gt-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].ID != "L-7" || ls[0].Error != "tests failed" || ls[1].ID != "L-9" || ls[1].State != coord.LeaseAcked {
		t.Errorf("leases after migration = %+v", ls)
	}
	if l, err := db.Lease(ctx, "L-9"); err != nil || l.Worker != "w2" || l.Epoch != 9 {
		t.Errorf("Lease(L-9) = %+v, %v", l, err)
	}
	if err := db.Commit(ctx, []coord.Change{coord.EventAppend{Event: coord.Event{Time: t0, Kind: "requeued", IssueID: "gt-1"}}}); err != nil {
		t.Fatal(err)
	}
	ev, err := db.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []coord.Event{
		{Seq: 1, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Kind: "assigned", IssueID: "gt-1", LeaseID: "L-7", Worker: "w1", Detail: "attempt 1"},
		{Seq: 2, Time: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC), Kind: "failed", IssueID: "gt-1", LeaseID: "L-7", Worker: "w1", Detail: `say "why" <here>`},
		{Seq: 3, Time: t0, Kind: "requeued", IssueID: "gt-1"},
	}
	if d := cmp.Diff(want, ev); d != "" {
		t.Errorf("events after migration (-want +got):\n%s", d)
	}
	if ev, err := db.Events(ctx, 2, 0); err != nil || len(ev) != 1 || ev[0].Seq != 3 {
		t.Errorf("Events(after 2) = %+v, %v", ev, err)
	}
}

// TestEventsView checks the events view that expands the batches for sqlite3 users.
func TestEventsView(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	commit(t, db, coord.EventAppend{Event: coord.Event{Time: t0, Kind: "assigned", IssueID: "gt-1", LeaseID: "L-1", Worker: "w1"}},
		coord.EventAppend{Event: coord.Event{Time: t0, Kind: "completed", IssueID: "gt-1", Detail: "done"}})
	commit(t, db, coord.EventAppend{Event: coord.Event{Time: t0, Kind: "requeued", IssueID: "gt-2", Actor: "cli"}})
	var got []string
	rows, err := db.r.QueryContext(ctx, `SELECT seq || ' ' || kind || ' ' || issue_id || ' ' || lease_id || ' ' || worker
		|| ' ' || actor || ' ' || detail || ' ' || time FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	ts := fmtTime(t0)
	want := []string{"1 assigned gt-1 L-1 w1   " + ts, "2 completed gt-1    done " + ts, "3 requeued gt-2   cli  " + ts}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events view (-want +got):\n%s", d)
	}
}

// TestCommitAsync checks the engine's commit path: the outcome arrives on the caller's channel, an
// empty commit answers at once, and a closed store answers unavailable.
func TestCommitAsync(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	done := make(chan error, 1)
	db.CommitAsync(ctx, []coord.Change{coord.MetaPut{Key: "k", Value: "v"}}, done)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Meta(ctx, "k"); err != nil || !ok || v != "v" {
		t.Fatalf("meta k = %q %v %v", v, ok, err)
	}
	db.CommitAsync(ctx, []coord.Change{coord.IssueState{ID: "missing"}}, done)
	if err := <-done; coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("async commit of a bad change: %v, want not_found", err)
	}
	db.CommitAsync(ctx, nil, done)
	if err := <-done; err != nil {
		t.Fatalf("empty async commit: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db.CommitAsync(ctx, []coord.Change{coord.MetaPut{Key: "k", Value: "w"}}, done)
	if err := <-done; coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("async commit on a closed store: %v, want unavailable", err)
	}
}

func TestRecentLeasesKeepsTheNewestInEpochOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	cs := []coord.Change{coord.IssuePut{Issue: sampleIssue("gt-1")}, coord.IssuePut{Issue: sampleIssue("gt-2")}}
	for e := int64(1); e <= 61; e++ {
		st := coord.LeaseEnded
		if e == 61 {
			st = coord.LeasePushed // the live lease lives in the issue row: the view's other arm
		}
		cs = append(cs, coord.LeasePut{Lease: coord.Lease{ID: fmt.Sprintf("l%d", e), IssueID: "gt-1", Worker: "w",
			Epoch: e, State: st, Attempt: int(e)}})
	}
	cs = append(cs, coord.LeasePut{Lease: coord.Lease{ID: "other", IssueID: "gt-2", Worker: "w", Epoch: 62,
		State: coord.LeaseEnded, Attempt: 1}})
	commit(t, db, cs...)
	for _, tc := range []struct {
		n          int
		first, len int64
	}{{50, 12, 50}, {1, 61, 1}, {100, 1, 61}} {
		ls, err := db.RecentLeases(ctx, "gt-1", tc.n)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []int64
		for _, l := range ls {
			got = append(got, l.Epoch)
		}
		for e := tc.first; e < tc.first+tc.len; e++ {
			want = append(want, e)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("RecentLeases(%d) epochs (-want +got):\n%s", tc.n, d)
		}
		if last := ls[len(ls)-1]; last.ID != "l61" || last.State != coord.LeasePushed {
			t.Errorf("RecentLeases(%d) ends with %s %s, want the live lease l61", tc.n, last.ID, last.State)
		}
	}
}

func TestMarkMissingMarksCleanIssuesTheFileLacks(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	tomb := sampleIssue("gt-4")
	tomb.Status = "tombstone"
	var cs []coord.Change
	for _, id := range []string{"gt-1", "gt-2", "gt-3"} {
		cs = append(cs, coord.IssuePut{Issue: sampleIssue(id), Raw: []byte(`{"id":"` + id + `"}`), FromImport: true})
	}
	cs = append(cs, coord.IssuePut{Issue: tomb, Raw: []byte(`{"id":"gt-4"}`), FromImport: true})
	commit(t, db, cs...)
	changed := sampleIssue("gt-3")
	changed.Title = "changed by gtc"
	commit(t, db, coord.IssuePut{Issue: changed})             // dirty already: not marked
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-5")}) // gtc's new issue, never in the file
	// without mark (a bd v1 file: its dropped lines are deletions) a dirty issue that had a line counts
	// too, a new one that never had one does not
	if got, err := db.MarkMissing(ctx, func(id string) bool { return id == "gt-1" }, false); err != nil || !slices.Equal(got, []string{"gt-2", "gt-3"}) {
		t.Fatalf("MarkMissing without mark = %v, %v; want [gt-2 gt-3]", got, err)
	}
	if d, _ := db.Dirty(ctx); len(d) != 2 {
		t.Fatalf("MarkMissing without mark marked something: %d dirty", len(d))
	}
	got, err := db.MarkMissing(ctx, func(id string) bool { return id == "gt-1" }, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"gt-2"}, got); d != "" {
		t.Fatalf("marked (-want +got):\n%s", d)
	}
	dirty, err := db.Dirty(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range dirty {
		ids = append(ids, r.ID)
	}
	if d := cmp.Diff([]string{"gt-2", "gt-3", "gt-5"}, ids); d != "" {
		t.Fatalf("dirty after MarkMissing (-want +got):\n%s", d)
	}
	// marked once: the next call finds it dirty
	if got, _ := db.MarkMissing(ctx, func(id string) bool { return id == "gt-1" }, true); len(got) != 0 {
		t.Fatalf("marked again: %v", got)
	}
}

// TestListIssuesOrdersCreatedAtAsInstants: created_at keeps the offset it was written with, so its text
// does not sort in time order; issue list orders by the instant (as gtc ready does), then by id.
func TestListIssuesOrdersCreatedAtAsInstants(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	at := func(id, ts string) coord.Change {
		is := sampleIssue(id)
		c, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatal(err)
		}
		is.Dependencies, is.CreatedAt = nil, c
		return coord.IssuePut{Issue: is}
	}
	commit(t, db,
		at("gt-tz-west", "2026-01-12T05:00:00-08:00"),    // 13:00Z
		at("gt-utc", "2026-01-12T12:00:00Z"),             // 12:00Z
		at("gt-tz-east", "2026-01-12T20:00:00+09:00"),    // 11:00Z
		at("gt-ms", "2026-01-12T11:00:00.002+00:00"),     // 2 ms after gt-tz-east
		at("gt-a-same", "2026-01-12T03:00:00.002-08:00"), // the same instant as gt-ms: by id
	)
	got, err := db.ListIssues(ctx, IssueFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, is := range got {
		ids = append(ids, is.ID)
	}
	if d := cmp.Diff([]string{"gt-tz-east", "gt-a-same", "gt-ms", "gt-utc", "gt-tz-west"}, ids); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
}
