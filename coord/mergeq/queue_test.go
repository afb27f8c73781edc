package mergeq

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

var t0 = time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)

// store applies changes like the persister would, so tests can check the durable view.
type store struct {
	reqs   map[string]coord.MergeRequest
	events []coord.Event
}

func newStore() *store { return &store{reqs: map[string]coord.MergeRequest{}} }

func (s *store) apply(t *testing.T, ch []coord.Change) {
	t.Helper()
	for _, c := range ch {
		switch c := c.(type) {
		case coord.MergePut:
			s.reqs[c.Request.ID] = c.Request
		case coord.EventAppend:
			s.events = append(s.events, c.Event)
		default:
			t.Fatalf("unexpected change %T", c)
		}
	}
}

func (s *store) live() []coord.MergeRequest {
	var out []coord.MergeRequest
	for _, r := range s.reqs {
		if r.State == StatePending || r.State == StateMerging {
			out = append(out, r)
		}
	}
	return out
}

func submit(t *testing.T, q *Queue, s *store, now time.Time, sub Submission) SubmitResult {
	t.Helper()
	if sub.Worker == "" {
		sub.Worker = "w-" + sub.IssueID
	}
	if sub.Branch == "" {
		sub.Branch = "b/" + sub.IssueID
	}
	res, ch, err := q.Submit(now, sub)
	if err != nil {
		t.Fatalf("submit %s: %v", sub.IssueID, err)
	}
	s.apply(t, ch)
	return res
}

func acquire(t *testing.T, q *Queue, s *store, now time.Time, ref string) (coord.MergeRequest, bool) {
	t.Helper()
	r, ch, ok := q.Acquire(now, ref, "")
	s.apply(t, ch)
	return r, ok
}

func TestRefineryDiesSlotExpiresNextProceeds(t *testing.T) {
	q, s := New(Config{}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a", Files: []string{"x.go"}}).Request
	b := submit(t, q, s, t0.Add(time.Second), Submission{IssueID: "bd-b", Files: []string{"y.go"}}).Request

	got, ok := acquire(t, q, s, t0.Add(2*time.Second), "ref-1")
	if !ok || got.ID != a.ID || got.State != StateMerging || got.Refinery != "ref-1" {
		t.Fatalf("first acquire = %+v, %v; want %s merging by ref-1", got, ok, a.ID)
	}
	if want := t0.Add(2*time.Second + 10*time.Minute); !got.Deadline.Equal(want) {
		t.Fatalf("deadline = %v, want %v", got.Deadline, want)
	}
	oldEpoch := got.Epoch
	if _, ok := acquire(t, q, s, t0.Add(time.Minute), "ref-2"); ok {
		t.Fatal("second slot granted on the same target while one is merging")
	}
	// ref-1 dies silently; one nanosecond before the deadline nothing expires.
	if ds, _ := q.Expire(got.Deadline.Add(-time.Nanosecond)); len(ds) != 0 {
		t.Fatalf("expired early: %+v", ds)
	}
	ds, ch := q.Expire(*got.Deadline)
	s.apply(t, ch)
	if len(ds) != 1 || !ds[0].Requeued || ds[0].Request.State != StatePending || ds[0].Request.Attempts != 1 {
		t.Fatalf("expire decisions = %+v", ds)
	}
	if s.reqs[a.ID].State != StatePending || s.reqs[a.ID].Refinery != "" || s.reqs[a.ID].Deadline != nil {
		t.Fatalf("durable view after expiry = %+v", s.reqs[a.ID])
	}
	if s.events[len(s.events)-1].Kind != EventExpired {
		t.Fatalf("last event = %+v, want %s", s.events[len(s.events)-1], EventExpired)
	}
	now := got.Deadline.Add(time.Second)
	next, ok := acquire(t, q, s, now, "ref-2")
	if !ok || next.ID != b.ID {
		t.Fatalf("after expiry acquire = %+v, %v; want %s (a carries a retry penalty)", next, ok, b.ID)
	}
	if next.Epoch <= oldEpoch {
		t.Fatalf("epoch %d not above %d", next.Epoch, oldEpoch)
	}
	// The dead refinery comes back and reports: refused.
	if _, _, err := q.Merged(now, a.ID, oldEpoch, "abc"); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("late report from expired holder: %v, want stale_epoch", err)
	}
	_, ch, err := q.Merged(now, b.ID, next.Epoch, "def")
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	if _, ok := acquire(t, q, s, now, "ref-2"); ok {
		t.Fatal("a retried at once: a retry waits for RetryDelay")
	}
	again, ok := acquire(t, q, s, now.Add(10*time.Second), "ref-2")
	if !ok || again.ID != a.ID || again.Attempts != 1 || again.Epoch <= next.Epoch {
		t.Fatalf("retry of a = %+v, %v", again, ok)
	}
}

func TestExpiryExhaustsAttempts(t *testing.T) {
	q, s := New(Config{MaxAttempts: 2, LeaseTimeout: time.Minute}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a"}).Request
	now := t0
	for i := 1; i <= 2; i++ {
		r, ok := acquire(t, q, s, now, "ref")
		if !ok || r.ID != a.ID {
			t.Fatalf("attempt %d: acquire = %+v %v", i, r, ok)
		}
		now = now.Add(time.Minute)
		ds, ch := q.Expire(now)
		s.apply(t, ch)
		if len(ds) != 1 {
			t.Fatalf("attempt %d: %d decisions", i, len(ds))
		}
		now = now.Add(10 * time.Second) // the retry delay
		if i == 1 && (!ds[0].Requeued || ds[0].Request.State != StatePending) {
			t.Fatalf("first expiry = %+v", ds[0])
		}
		if i == 2 && (ds[0].Requeued || ds[0].Request.State != StateFailed || ds[0].Request.Attempts != 2) {
			t.Fatalf("second expiry = %+v", ds[0])
		}
	}
	if _, ok := acquire(t, q, s, now, "ref"); ok {
		t.Fatal("failed request was handed out again")
	}
	if st := q.Stats(); st != (Stats{}) {
		t.Fatalf("stats = %+v", st)
	}
}

func TestAbandonReturnsSlotsOfRefinery(t *testing.T) {
	q, s := New(Config{}), newStore()
	submit(t, q, s, t0, Submission{IssueID: "bd-a", Target: "main"})
	submit(t, q, s, t0, Submission{IssueID: "bd-b", Target: "dev"})
	r1, _ := acquire(t, q, s, t0, "ref-1")
	r2, _ := acquire(t, q, s, t0, "ref-2")
	if r1.Target == r2.Target {
		t.Fatalf("both slots on %s", r1.Target)
	}
	ds, ch := q.Abandon(t0.Add(time.Second), "ref-1", "")
	s.apply(t, ch)
	if len(ds) != 1 || ds[0].Request.ID != r1.ID || ds[0].Request.State != StatePending {
		t.Fatalf("abandon = %+v", ds)
	}
	if got, _ := q.Get(r2.ID); got.State != StateMerging {
		t.Fatalf("other refinery's slot touched: %+v", got)
	}
}

// A P4 request under a steady flood of P0 requests (one per merge) still gets merged: strict
// priority would starve it forever.
func TestLowPriorityNotStarvedByFlood(t *testing.T) {
	q, s := New(Config{}), newStore()
	low := submit(t, q, s, t0, Submission{IssueID: "bd-low", Priority: 4}).Request
	now := t0
	for i := 0; i < 200; i++ {
		now = now.Add(time.Minute)
		submit(t, q, s, now, Submission{IssueID: "bd-p0-" + itoa(i), Priority: 0})
		r, ok := acquire(t, q, s, now, "ref")
		if !ok {
			t.Fatalf("step %d: nothing to merge", i)
		}
		_, ch, err := q.Merged(now, r.ID, r.Epoch, "")
		if err != nil {
			t.Fatal(err)
		}
		s.apply(t, ch)
		if r.ID == low.ID {
			// rank time of the P4 request = t0 + 4*15m: it must win by then.
			if wait := now.Sub(t0); wait > 4*15*time.Minute+time.Minute {
				t.Fatalf("P4 waited %v", wait)
			}
			return
		}
	}
	t.Fatal("P4 request never merged under a P0 flood")
}

// 1,000 requests of mixed priority arriving over time, with random retryable failures, expiries and
// conflicts: every request finishes, none waits longer than the bound.
func TestThousandRequestsBoundedWait(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	cfg := Config{MaxAttempts: 3, LeaseTimeout: 5 * time.Minute}
	q, s := New(cfg), newStore()
	submitted := map[string]time.Time{}
	finished := map[string]time.Time{}
	now := t0
	n := 0
	var maxWait time.Duration
	for step := 0; step < 20000 && (n < 1000 || q.Stats() != (Stats{})); step++ {
		now = now.Add(time.Minute)
		// about 0.5 arrivals per minute until 1,000 (a refinery serves about 0.7 per minute here)
		for k := 0; k < 2 && n < 1000; k++ {
			if rng.Float64() < 0.25 {
				id := "bd-" + itoa(n)
				files := []string{"f" + itoa(rng.Intn(50)) + ".go"}
				r := submit(t, q, s, now, Submission{IssueID: id, Priority: rng.Intn(5), Files: files}).Request
				submitted[r.ID] = now
				n++
			}
		}
		_, ch := q.Expire(now)
		s.apply(t, ch)
		for _, fin := range s.reqs {
			if (fin.State == StateMerged || fin.State == StateFailed) && finished[fin.ID].IsZero() {
				finished[fin.ID] = now
			}
		}
		r, ok := acquire(t, q, s, now, "ref")
		if !ok {
			continue
		}
		var err error
		switch x := rng.Float64(); {
		case x < 0.10: // refinery dies: lease expires later
			continue
		case x < 0.25:
			_, ch, err = q.Failed(now, r.ID, r.Epoch, Failure{Reason: "push rejected"})
		case x < 0.27:
			_, ch, err = q.Failed(now, r.ID, r.Epoch, Failure{Conflicts: []string{"f.go"}})
		default:
			_, ch, err = q.Merged(now, r.ID, r.Epoch, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		s.apply(t, ch)
		if got := s.reqs[r.ID]; got.State == StateMerged || got.State == StateFailed {
			finished[r.ID] = now
		}
	}
	if n != 1000 || len(finished) != 1000 {
		t.Fatalf("submitted %d, finished %d of 1000; stats %+v", n, len(finished), q.Stats())
	}
	for id, at := range submitted {
		if w := finished[id].Sub(at); w > maxWait {
			maxWait = w
		}
		if r := s.reqs[id]; r.Attempts > cfg.MaxAttempts {
			t.Fatalf("%s made %d attempts", id, r.Attempts)
		}
	}
	// Rank shift ≤ 60m (priority) + 5m (retry penalty), three lease expiries of 5m, plus the backlog
	// ahead of it; with the queue stable that stays well under 3h.
	if maxWait > 3*time.Hour {
		t.Fatalf("max wait %v exceeds the bound", maxWait)
	}
	t.Logf("max wait %v over 1000 requests", maxWait)
}

func TestOverlapDetection(t *testing.T) {
	q, s := New(Config{}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a", Files: []string{"a.go", "b.go"}})
	b := submit(t, q, s, t0, Submission{IssueID: "bd-b", Files: []string{"b.go", "c.go", "b.go"}})
	c := submit(t, q, s, t0, Submission{IssueID: "bd-c"})
	d := submit(t, q, s, t0, Submission{IssueID: "bd-d", Files: []string{"dir/b.go", "B.go"}})
	e := submit(t, q, s, t0, Submission{IssueID: "bd-e", Files: []string{"c.go", "a.go"}})
	f := submit(t, q, s, t0, Submission{IssueID: "bd-f", Target: "release", Files: []string{"a.go"}})
	cases := []struct {
		name  string
		res   SubmitResult
		ids   []string
		files []string
	}{
		{"first", a, nil, nil},
		{"shares b.go", b, []string{a.Request.ID}, []string{"b.go"}},
		{"empty list", c, nil, nil},
		{"exact equality only", d, nil, nil},
		{"two requests", e, []string{a.Request.ID, b.Request.ID}, []string{"a.go", "c.go"}},
		{"other target", f, nil, nil},
	}
	for _, tc := range cases {
		if !reflect.DeepEqual(tc.res.ConflictsWith, tc.ids) || !reflect.DeepEqual(tc.res.ConflictingFiles, tc.files) {
			t.Errorf("%s: conflicts %v files %v, want %v %v", tc.name, tc.res.ConflictsWith, tc.res.ConflictingFiles, tc.ids, tc.files)
		}
	}
	if !reflect.DeepEqual(b.Request.Files, []string{"b.go", "c.go"}) {
		t.Errorf("files not deduplicated: %v", b.Request.Files)
	}
	// A finished request no longer conflicts.
	r, _ := acquire(t, q, s, t0, "ref")
	_, ch, err := q.Merged(t0, r.ID, r.Epoch, "")
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	g := submit(t, q, s, t0, Submission{IssueID: "bd-g", Files: []string{"a.go"}})
	if !reflect.DeepEqual(g.ConflictsWith, []string{e.Request.ID}) {
		t.Errorf("after %s merged: conflicts %v, want only %s", r.ID, g.ConflictsWith, e.Request.ID)
	}
}

func TestStaleEpochRefused(t *testing.T) {
	q, s := New(Config{}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a"}).Request
	r, _ := acquire(t, q, s, t0, "ref")
	cases := []struct {
		name string
		call func() error
		want coord.Code
	}{
		{"merged wrong epoch", func() error { _, _, err := q.Merged(t0, a.ID, r.Epoch+1, ""); return err }, coord.EStaleEpoch},
		{"failed wrong epoch", func() error { _, _, err := q.Failed(t0, a.ID, r.Epoch-1, Failure{}); return err }, coord.EStaleEpoch},
		{"extend wrong epoch", func() error { _, _, err := q.Extend(t0, a.ID, 0, ""); return err }, coord.EStaleEpoch},
		{"unknown id", func() error { _, _, err := q.Merged(t0, "MR-99", r.Epoch, ""); return err }, coord.ENotFound},
	}
	for _, tc := range cases {
		if got := coord.ErrorCode(tc.call()); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
	}
	if got, _ := q.Get(a.ID); got.State != StateMerging {
		t.Fatalf("refused reports changed the request: %+v", got)
	}
	// Extend at the right epoch pushes the deadline; the old deadline no longer expires it.
	ext, ch, err := q.Extend(t0.Add(9*time.Minute), a.ID, r.Epoch, "")
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	if !ext.Deadline.Equal(t0.Add(19 * time.Minute)) {
		t.Fatalf("extended deadline %v", ext.Deadline)
	}
	if ds, _ := q.Expire(t0.Add(10 * time.Minute)); len(ds) != 0 {
		t.Fatal("expired at the old deadline after extend")
	}
	if _, _, err := q.Merged(t0, a.ID, r.Epoch, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Merged(t0, a.ID, r.Epoch, "c1"); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("second report: %v, want conflict", err)
	}
	// Cancelled while merging: the refinery's report is stale.
	b := submit(t, q, s, t0, Submission{IssueID: "bd-b"}).Request
	rb, _ := acquire(t, q, s, t0, "ref")
	if _, _, err := q.Cancel(t0, b.ID, "issue closed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Failed(t0, b.ID, rb.Epoch, Failure{}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("report after cancel: %v, want conflict", err)
	}
}

func TestFailureDecisions(t *testing.T) {
	cases := []struct {
		name       string
		cfg        Config
		fails      []Failure
		wantState  string
		wantReopen bool
		wantTries  int
		wantError  string
	}{
		{"conflict reopens", Config{}, []Failure{{Conflicts: []string{"x.go", "x.go"}}}, StateFailed, true, 1, "conflicts in x.go"},
		// the paths are kept beside the refinery's own words (a trial: they were lost when it gave a reason)
		{"conflict with a reason", Config{}, []Failure{{Reason: "git merge conflict", Conflicts: []string{"x.go"}}}, StateFailed, true, 1,
			"git merge conflict (conflicts in x.go)"},
		{"gate failure reopens", Config{}, []Failure{{Reason: "tests failed", Rework: true}}, StateFailed, true, 1, "tests failed"},
		{"conflict kept", Config{KeepIssueOnConflict: true}, []Failure{{Conflicts: []string{"x.go"}}}, StateFailed, false, 1, "conflicts in x.go"},
		{"transient retries", Config{}, []Failure{{Reason: "push rejected"}}, StatePending, false, 1, "push rejected"},
		{"transient exhausts, reopens", Config{}, []Failure{{Reason: "e1"}, {Reason: "e2"}, {Reason: "e3"}}, StateFailed, true, 3, "e3"},
		{"transient exhausts, kept", Config{KeepIssueOnConflict: true}, []Failure{{Reason: "e1"}, {Reason: "e2"}, {Reason: "e3"}}, StateFailed, false, 3, "e3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, s := New(tc.cfg), newStore()
			submit(t, q, s, t0, Submission{IssueID: "bd-a"})
			var d Decision
			for i, f := range tc.fails {
				at := t0.Add(time.Duration(i) * time.Hour) // past each retry delay
				r, ok := acquire(t, q, s, at, "ref")
				if !ok {
					t.Fatalf("failure %d: nothing acquired", i)
				}
				var ch []coord.Change
				var err error
				d, ch, err = q.Failed(at, r.ID, r.Epoch, f)
				if err != nil {
					t.Fatal(err)
				}
				s.apply(t, ch)
			}
			if d.Request.State != tc.wantState || d.ReopenIssue != tc.wantReopen || d.Request.Attempts != tc.wantTries {
				t.Fatalf("decision %+v", d)
			}
			if d.Requeued != (tc.wantState == StatePending) {
				t.Fatalf("requeued = %v", d.Requeued)
			}
			if !reflect.DeepEqual(s.reqs[d.Request.ID], d.Request) {
				t.Fatalf("durable %+v != decision %+v", s.reqs[d.Request.ID], d.Request)
			}
			if len(tc.fails[0].Conflicts) > 0 && !reflect.DeepEqual(d.Request.Conflicts, []string{"x.go"}) {
				t.Fatalf("conflicts %v", d.Request.Conflicts)
			}
			if !strings.HasPrefix(d.Request.Error, tc.wantError) {
				t.Fatalf("error %q, want it to start with %q", d.Request.Error, tc.wantError)
			}
		})
	}
}

func TestParallelDisjointOnly(t *testing.T) {
	q, s := New(Config{MaxParallel: 2}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a", Files: []string{"x.go"}}).Request
	b := submit(t, q, s, t0.Add(1*time.Second), Submission{IssueID: "bd-b", Files: []string{"x.go", "y.go"}}).Request
	c := submit(t, q, s, t0.Add(2*time.Second), Submission{IssueID: "bd-c", Files: []string{"y.go"}}).Request
	d := submit(t, q, s, t0.Add(3*time.Second), Submission{IssueID: "bd-d", Files: []string{"z.go"}}).Request
	r1, _ := acquire(t, q, s, t0, "r1")
	r2, ok := acquire(t, q, s, t0, "r2")
	// b overlaps a (merging); c overlaps b which ranks higher and waits: c may not overtake; d is free.
	if r1.ID != a.ID || !ok || r2.ID != d.ID {
		t.Fatalf("parallel picks %s, %s; want %s, %s", r1.ID, r2.ID, a.ID, d.ID)
	}
	if _, ok := acquire(t, q, s, t0, "r3"); ok {
		t.Fatal("third slot granted with MaxParallel 2")
	}
	if _, ch, err := q.Merged(t0, a.ID, r1.Epoch, ""); err != nil {
		t.Fatal(err)
	} else {
		s.apply(t, ch)
	}
	if r, _ := acquire(t, q, s, t0, "r1"); r.ID != b.ID {
		t.Fatalf("after a merged got %s, want %s", r.ID, b.ID)
	}
	_ = c
}

func TestSubmitValidation(t *testing.T) {
	q, s := New(Config{}), newStore()
	first := submit(t, q, s, t0, Submission{IssueID: "bd-a"})
	if first.Request.Target != "main" || first.Request.State != StatePending || first.Request.ID != "MR-1" {
		t.Fatalf("request %+v", first.Request)
	}
	cases := []struct {
		sub  Submission
		want coord.Code
	}{
		{Submission{Worker: "w", Branch: "b"}, coord.EInvalid},
		{Submission{IssueID: "x", Branch: "b"}, coord.EInvalid},
		{Submission{IssueID: "x", Worker: "w"}, coord.EInvalid},
		{Submission{IssueID: "bd-a", Worker: "w", Branch: "b2"}, coord.EConflict},
	}
	for _, tc := range cases {
		if _, ch, err := q.Submit(t0, tc.sub); coord.ErrorCode(err) != tc.want || ch != nil {
			t.Errorf("submit %+v: %v (%d changes), want %s", tc.sub, err, len(ch), tc.want)
		}
	}
	// After cancelling, the issue may submit again.
	if _, ch, ok := q.CancelIssue(t0, "bd-a", "superseded"); !ok {
		t.Fatal("cancel issue failed")
	} else {
		s.apply(t, ch)
	}
	if _, _, err := q.Submit(t0, Submission{IssueID: "bd-a", Worker: "w", Branch: "b2"}); err != nil {
		t.Fatalf("resubmit after cancel: %v", err)
	}
}

func TestRestoreContinues(t *testing.T) {
	q, s := New(Config{}), newStore()
	submit(t, q, s, t0, Submission{IssueID: "bd-a", Priority: 1, Files: []string{"a.go"}})
	submit(t, q, s, t0, Submission{IssueID: "bd-b", Priority: 0})
	submit(t, q, s, t0, Submission{IssueID: "bd-c", Priority: 3})
	m, _ := acquire(t, q, s, t0, "ref") // bd-b (P0)
	x, _ := acquire(t, q, s, t0, "ref")
	if x.ID != "" {
		t.Fatal("second slot")
	}
	prio := map[string]int{"bd-a": 1, "bd-b": 0, "bd-c": 3}
	q2 := New(Config{})
	if err := q2.Restore(s.live(), func(id string) int { return prio[id] }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q2.List(""), q.List("")) {
		t.Fatalf("restored list\n%+v\nwant\n%+v", q2.List(""), q.List(""))
	}
	// The restored lease is still held: the refinery can report at its epoch.
	if _, ch, err := q2.Merged(t0.Add(time.Minute), m.ID, m.Epoch, ""); err != nil {
		t.Fatal(err)
	} else {
		s.apply(t, ch)
	}
	n, _ := acquire(t, q2, s, t0.Add(time.Minute), "ref")
	if n.IssueID != "bd-a" || n.Epoch <= m.Epoch {
		t.Fatalf("after restore acquired %+v", n)
	}
	res, _, err := q2.Submit(t0, Submission{IssueID: "bd-d", Worker: "w", Branch: "b", Files: []string{"a.go"}})
	if err != nil || res.Request.ID != "MR-4" || !reflect.DeepEqual(res.ConflictsWith, []string{n.ID}) {
		t.Fatalf("submit after restore: %+v %v", res, err)
	}
	bad := []coord.MergeRequest{{ID: "MR-1", State: "weird"}}
	if err := New(Config{}).Restore(bad, nil); coord.ErrorCode(err) != coord.EInvalid {
		t.Fatalf("bad restore: %v", err)
	}
	if d, ok := q2.NextDeadline(); !ok || !d.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("next deadline %v %v", d, ok)
	}
}

func itoa(i int) string { return formatID(int64(i))[len(idPrefix):] }

// checkInvariants verifies the queue's indexes agree with its requests.
func checkInvariants(t *testing.T, q *Queue) {
	t.Helper()
	inPending := map[*entry]int{}
	for target, s := range q.pending {
		for i, e := range s {
			inPending[e]++
			if e.req.Target != target || e.req.State != StatePending || q.live[e.req.ID] != e {
				t.Fatalf("pending[%s] holds %+v", target, e.req)
			}
			if i > 0 && !q.less(s[i-1], e) {
				t.Fatalf("pending[%s] out of order at %d", target, i)
			}
		}
	}
	perTarget := map[string]int{}
	files := map[fileKey]bool{}
	for id, e := range q.live {
		switch e.req.State {
		case StateMerging:
			if q.merging[id] != e || inPending[e] != 0 {
				t.Fatalf("merging %s not indexed as merging only", id)
			}
			perTarget[e.req.Target]++
			for _, f := range e.req.Files {
				k := fileKey{e.req.Target, f}
				if files[k] {
					t.Fatalf("two merging requests share %v", k)
				}
				files[k] = true
			}
		case StatePending:
			if inPending[e] != 1 || q.merging[id] != nil {
				t.Fatalf("pending %s indexed %d times", id, inPending[e])
			}
		default:
			t.Fatalf("live request %s is %s", id, e.req.State)
		}
		if q.byIssue[e.req.IssueID] != id {
			t.Fatalf("byIssue misses %s", id)
		}
		for _, f := range e.req.Files {
			n := 0
			for _, o := range q.byFile[fileKey{e.req.Target, f}] {
				if o == e {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%s indexed %d times under %s", id, n, f)
			}
		}
	}
	for target, n := range perTarget {
		if n > q.cfg.MaxParallel {
			t.Fatalf("%d merging on %s", n, target)
		}
	}
	if len(q.merging)+len(inPending) != len(q.live) || len(q.byIssue) != len(q.live) {
		t.Fatalf("index sizes: merging %d pending %d live %d issues %d", len(q.merging), len(inPending), len(q.live), len(q.byIssue))
	}
	for k, s := range q.byFile {
		for _, e := range s {
			if q.live[e.req.ID] != e {
				t.Fatalf("byFile %v holds finished %s", k, e.req.ID)
			}
		}
	}
}

// Random operations on several targets with parallel slots keep every index consistent.
func TestRandomOperationsKeepInvariants(t *testing.T) {
	for _, par := range []int{1, 3} {
		rng := rand.New(rand.NewSource(int64(par)))
		q, s := New(Config{MaxParallel: par, LeaseTimeout: 3 * time.Minute}), newStore()
		now := t0
		targets := []string{"main", "dev"}
		for step := 0; step < 3000; step++ {
			now = now.Add(30 * time.Second)
			switch op := rng.Intn(10); {
			case op < 4:
				var files []string
				for k := rng.Intn(3); k > 0; k-- {
					files = append(files, "f"+itoa(rng.Intn(8)))
				}
				sub := Submission{IssueID: "bd-" + itoa(rng.Intn(300)), Worker: "w", Branch: "b",
					Target: targets[rng.Intn(2)], Priority: rng.Intn(5), Files: files}
				if _, ch, err := q.Submit(now, sub); err == nil {
					s.apply(t, ch)
				} else if coord.ErrorCode(err) != coord.EConflict {
					t.Fatal(err)
				}
			case op < 7:
				if r, ch, ok := q.Acquire(now, "ref"+itoa(rng.Intn(3)), ""); ok {
					s.apply(t, ch)
					var err error
					switch rng.Intn(4) {
					case 0:
						_, ch, err = q.Merged(now, r.ID, r.Epoch, "")
					case 1:
						_, ch, err = q.Failed(now, r.ID, r.Epoch, Failure{Reason: "flaky"})
					case 2:
						_, ch, err = q.Failed(now, r.ID, r.Epoch, Failure{Conflicts: r.Files, Rework: true})
					default:
						ch = nil // keeps the slot until expiry
					}
					if err != nil {
						t.Fatal(err)
					}
					s.apply(t, ch)
				}
			case op < 8:
				_, ch := q.Expire(now)
				s.apply(t, ch)
			case op < 9:
				_, ch := q.Abandon(now, "ref"+itoa(rng.Intn(3)), "")
				s.apply(t, ch)
			default:
				if _, ch, ok := q.CancelIssue(now, "bd-"+itoa(rng.Intn(300)), "closed"); ok {
					s.apply(t, ch)
				}
			}
			checkInvariants(t, q)
		}
		// The durable view (changes applied in order) matches the queue.
		for id, r := range s.reqs {
			if got, ok := q.Get(id); ok && !reflect.DeepEqual(got, r) {
				t.Fatalf("parallel %d: durable %+v, queue %+v", par, r, got)
			}
		}
		if len(s.live()) != len(q.live) {
			t.Fatalf("parallel %d: durable live %d, queue live %d", par, len(s.live()), len(q.live))
		}
	}
}

// TestValidateRefusesParallelSlots: more than one merge per target is refused at configuration time
// (Validate, and Plug.Restore, which the engine calls as it starts), with the reason; 0 and 1 pass.
func TestValidateRefusesParallelSlots(t *testing.T) {
	for _, tc := range []struct {
		par     int
		refused bool
	}{{0, false}, {1, false}, {2, true}, {8, true}} {
		err := Config{MaxParallel: tc.par}.Validate()
		rerr := Factory(Config{MaxParallel: tc.par})().Restore(nil, nil, 0, 0)
		if !tc.refused {
			if err != nil || rerr != nil {
				t.Errorf("MaxParallel %d refused: %v / %v", tc.par, err, rerr)
			}
			continue
		}
		for _, e := range []error{err, rerr} {
			if coord.ErrorCode(e) != coord.EInvalid || !strings.Contains(e.Error(), "MaxParallel "+itoa(tc.par)) ||
				!strings.Contains(e.Error(), "one merge per target") {
				t.Errorf("MaxParallel %d: %v, want an invalid-config error naming it", tc.par, e)
			}
		}
	}
}

// TestRetryWaitsItsDelay: a request retried after an error waits RetryDelay (doubling per attempt)
// before it may start again — the user trial saw three attempts for a branch not pushed yet within
// ~100 ms — and keeps its files from lower-ranked requests meanwhile, while one on other files goes
// ahead; NextDeadline reports the delay's end, and Expire at that time lets it start.
func TestRetryWaitsItsDelay(t *testing.T) {
	q, s := New(Config{}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a", Files: []string{"x.go"}}).Request
	c := submit(t, q, s, t0.Add(time.Second), Submission{IssueID: "bd-c", Files: []string{"y.go"}}).Request
	r, _ := acquire(t, q, s, t0, "ref")
	if r.ID != a.ID {
		t.Fatalf("first %s, want %s", r.ID, a.ID)
	}
	_, ch, err := q.Failed(t0, r.ID, r.Epoch, Failure{Reason: "branch not found"})
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	// ranked after a (whose retry penalty moved it a minute later), on a's file
	d := submit(t, q, s, t0.Add(2*time.Minute), Submission{IssueID: "bd-d", Files: []string{"x.go"}}).Request
	if dl, ok := q.NextDeadline(); !ok || !dl.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("next deadline %v %v, want the retry delay's end", dl, ok)
	}
	r, ok := acquire(t, q, s, t0.Add(2*time.Second), "ref")
	if !ok || r.ID != c.ID {
		t.Fatalf("during a's delay: %+v %v, want %s (on another file)", r, ok, c.ID)
	}
	_, ch, err = q.Merged(t0.Add(2*time.Second), c.ID, r.Epoch, "c1")
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	if r, ok := acquire(t, q, s, t0.Add(9*time.Second), "ref"); ok {
		t.Fatalf("%s started during a's delay (%s overtook a on x.go)", r.ID, d.ID)
	}
	q.Expire(t0.Add(10 * time.Second))
	if _, ok := q.NextDeadline(); ok {
		t.Fatal("the delay's end is still a deadline after Expire passed it")
	}
	r, ok = acquire(t, q, s, t0.Add(10*time.Second), "ref")
	if !ok || r.ID != a.ID || r.Attempts != 1 {
		t.Fatalf("after the delay: %+v %v, want %s again", r, ok, a.ID)
	}
	// the second retry waits twice as long
	_, ch, err = q.Failed(t0.Add(10*time.Second), r.ID, r.Epoch, Failure{Reason: "remote down"})
	if err != nil {
		t.Fatal(err)
	}
	s.apply(t, ch)
	if dl, _ := q.NextDeadline(); !dl.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("second delay ends %v, want +20s", dl)
	}
}

// TestProgressNote: a refinery's heartbeat progress becomes the note of the attempt running (also when
// the deadline does not move), and a new attempt or the end of the request clears it.
func TestProgressNote(t *testing.T) {
	q, s := New(Config{}), newStore()
	a := submit(t, q, s, t0, Submission{IssueID: "bd-a"}).Request
	r, _ := acquire(t, q, s, t0, "ref")
	for _, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Minute)} { // the second moves no deadline
		got, _, err := q.Extend(at, a.ID, r.Epoch, "waiting for local changes")
		if err != nil || got.Progress != "waiting for local changes" {
			t.Fatalf("after a heartbeat with progress: %+v %v", got, err)
		}
	}
	if got, _, _ := q.Extend(t0.Add(2*time.Minute), a.ID, r.Epoch, ""); got.Progress != "waiting for local changes" {
		t.Errorf("a heartbeat without progress dropped the note: %q", got.Progress)
	}
	if _, ch := q.Abandon(t0.Add(3*time.Minute), "ref", ""); len(ch) == 0 {
		t.Fatal("abandon changed nothing")
	}
	if got, _ := q.Get(a.ID); got.Progress != "" || got.State != StatePending {
		t.Errorf("retried request kept the note: %+v", got)
	}
	r2, _ := acquire(t, q, s, t0.Add(10*time.Minute), "ref")
	if _, _, err := q.Extend(t0.Add(10*time.Minute), a.ID, r2.Epoch, "gating"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.Merged(t0.Add(11*time.Minute), a.ID, r2.Epoch, "c1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Get(a.ID); got.Progress != "" {
		t.Errorf("merged request kept the note %q", got.Progress)
	}
}

// TestLastExpiryIsCountedAsAnExpiry: the slot taken back on a request's last attempt says merge_expired
// before merge_failed, as the earlier attempts' expiries do (gtc_merge_slots_expired_total counts it).
func TestLastExpiryIsCountedAsAnExpiry(t *testing.T) {
	q, s := New(Config{MaxAttempts: 1, LeaseTimeout: time.Minute}), newStore()
	submit(t, q, s, t0, Submission{IssueID: "bd-a"})
	if _, ok := acquire(t, q, s, t0, "ref"); !ok {
		t.Fatal("no slot")
	}
	_, ch := q.Expire(t0.Add(time.Minute))
	var kinds []string
	for _, c := range ch {
		if ev, ok := c.(coord.EventAppend); ok {
			kinds = append(kinds, ev.Event.Kind)
		}
	}
	if fmt.Sprint(kinds) != fmt.Sprint([]string{EventExpired, EventFailed}) {
		t.Fatalf("the last attempt's slot expired with events %v, want %s then %s", kinds, EventExpired, EventFailed)
	}
}
