package loadtest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

func TestTrackerCountsDoublesAndLosses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	specs := []IssueSpec{{ID: "a"}, {ID: "b", Deps: []string{"a"}}, {ID: "c"}, {ID: "d", Deps: []string{"c"}}}
	tr := newTracker()
	tr.add(specs, t0)

	// a: pushed to agent 0, then to agent 1 while agent 0 still holds it, and the server then takes
	// agent 0's outcome → a double assignment.
	tr.pushed(0, "a", "L1", 1, t0.Add(time.Millisecond), t0)
	tr.pushed(1, "a", "L2", 1, t0.Add(2*time.Millisecond), t0)
	tr.releasing("a", "L1")
	tr.accepted("a", "L1")
	if got := tr.doubleAssignments(); got != 1 {
		t.Fatalf("doubles = %d, want 1", got)
	}
	// After a release (complete sent), a new push of the same issue is not a double.
	tr.releasing("a", "L2")
	tr.pushed(1, "a", "L3", 2, t0.Add(3*time.Millisecond), t0)
	if got := tr.doubles.Load(); got != 1 {
		t.Fatalf("doubles = %d after release, want still 1", got)
	}
	tr.releasing("a", "L3")
	tr.completedOK("a", t0.Add(4*time.Millisecond))
	// b became ready when a's complete was sent: its dispatch is measured from then.
	tr.pushed(0, "b", "L4", 1, t0.Add(6*time.Millisecond), t0)
	if s := tr.dispatch.Summary(); s.Max != 2*time.Millisecond {
		t.Fatalf("dispatch max = %v, want 2ms (ready at a's complete, pushed 2ms later)", s.Max)
	}
	tr.releasing("b", "L4")
	tr.completedOK("b", t0.Add(7*time.Millisecond))
	// c dead-lettered: d can never run and counts as resolved.
	tr.deadLettered("c")
	select {
	case <-tr.done:
	default:
		t.Fatalf("not done with %d of 4 resolved", tr.resolved.Load())
	}

	tests := []struct {
		name    string
		final   map[string]FinalState
		drained bool
		want    outcome
	}{
		{"consistent", map[string]FinalState{"a": {Status: "closed"}, "b": {Status: "closed"}, "c": {Status: "blocked", Failed: true}, "d": {Status: "open"}}, true,
			outcome{deadLettered: 1, unreachable: 1}},
		{"completion not closed", map[string]FinalState{"a": {Status: "closed"}, "b": {Status: "open"}, "c": {Status: "blocked", Failed: true}, "d": {Status: "open"}}, true,
			outcome{lostIssues: 1, lostCompletions: 1, deadLettered: 1, unreachable: 1}},
		{"issue missing", map[string]FinalState{"b": {Status: "closed"}, "c": {Status: "blocked", Failed: true}, "d": {Status: "open"}}, true,
			outcome{lostIssues: 1, lostCompletions: 1, deadLettered: 1, unreachable: 1}},
		// stopped at its cap: an issue the server still holds open is unfinished, not lost; one it does
		// not hold at all is lost, and a completion it does not show closed is lost either way
		{"capped, open", map[string]FinalState{"a": {Status: "closed"}, "b": {Status: "in_progress"}, "c": {Status: "blocked", Failed: true}, "d": {Status: "open"}}, false,
			outcome{lostCompletions: 1, deadLettered: 1, unreachable: 1, unfinished: 1}},
		{"capped, missing", map[string]FinalState{"b": {Status: "closed"}, "c": {Status: "blocked", Failed: true}, "d": {Status: "open"}}, false,
			outcome{lostIssues: 1, lostCompletions: 1, deadLettered: 1, unreachable: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tr.verify(tc.final, tc.drained); got != tc.want {
				t.Fatalf("verify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGenerateIssuesIsAcyclicAndSeeded(t *testing.T) {
	a, b := GenerateIssues(500, "x", 3), GenerateIssues(500, "x", 3)
	pos := map[string]int{}
	for i, s := range a {
		pos[s.ID] = i
		if s.Priority < 0 || s.Priority > 4 {
			t.Fatalf("%s priority %d", s.ID, s.Priority)
		}
		for _, d := range s.Deps {
			if j, ok := pos[d]; !ok || j >= i {
				t.Fatalf("%s depends on %s, not an earlier issue", s.ID, d)
			}
		}
		if len(b[i].Deps) != len(s.Deps) || b[i].Priority != s.Priority {
			t.Fatalf("same seed, different issue %d", i)
		}
	}
}

func TestProcessCPUOfSelf(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU
	}
	c, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c <= 0 || c > selfCPU()+time.Second {
		t.Fatalf("cpu %v, rusage %v", c, selfCPU())
	}
}

// TestTrackerResolvesOnce: an issue whose create failed is resolved (the run does not wait for it) but
// not counted lost, and an issue resolved twice over (its create failed but the server created it and
// it was completed; or failed and completed) counts once, so the run does not end with others
// unfinished.
func TestTrackerResolvesOnce(t *testing.T) {
	tr := newTracker()
	tr.add([]IssueSpec{{ID: "a"}, {ID: "b"}, {ID: "c"}}, time.Time{})
	tr.createFailed("a")
	if o := tr.verify(map[string]FinalState{}, true); o.lostIssues != 2 { // b and c are not closed; a is not lost
		t.Errorf("lost %d, want 2 (b and c; a's create failed)", o.lostIssues)
	}
	tr.completedOK("a", time.Now()) // the server had created it after all
	tr.deadLettered("b")
	tr.completedOK("b", time.Now())
	select {
	case <-tr.done:
		t.Fatalf("done with c unresolved (resolved %d of 3)", tr.resolved.Load())
	default:
	}
	tr.completedOK("c", time.Now())
	select {
	case <-tr.done:
	default:
		t.Fatalf("not done with every issue resolved (resolved %d of 3)", tr.resolved.Load())
	}
}

// TestTrackerPushAfterComplete: a push of an issue whose success was acknowledged is a double
// assignment, and its second success is not another completion.
func TestTrackerPushAfterComplete(t *testing.T) {
	tr := newTracker()
	tr.add([]IssueSpec{{ID: "a"}}, time.Now())
	now := time.Now()
	tr.pushed(0, "a", "L-1", 1, now, now)
	tr.releasing("a", "L-1")
	tr.completedOK("a", now)
	tr.pushed(1, "a", "L-2", 2, now, now)
	tr.releasing("a", "L-2")
	tr.completedOK("a", now)
	if d, c := tr.doubles.Load(), tr.completions.Load(); d != 1 || c != 1 {
		t.Fatalf("doubles %d, completions %d; want 1 and 1", d, c)
	}
}

// TestTrackerOverlappingPush: a push of an issue another agent still holds is a double assignment
// unless the server ended the older lease (a cancel, or a refusal of its complete or fail); the cancel
// travels on the old holder's connection, so it may be read after the re-push.
func TestTrackerOverlappingPush(t *testing.T) {
	l1 := coord.Lease{ID: "L1", IssueID: "a"}
	l2 := coord.Lease{ID: "L2", IssueID: "a"}
	refused := func(c coord.Code) error { return fmt.Errorf("complete: %w", &coord.Error{Code: c, Message: "refused"}) }
	tests := []struct {
		name    string
		resolve func(a *agent)
		want    int64
	}{
		{"cancel read after the re-push", func(a *agent) { a.onCancel(rpc.CancelParams{IssueID: "a", LeaseID: "L1"}) }, 0},
		{"old complete refused: stale epoch", func(a *agent) { a.outcome(l1, refused(coord.EStaleEpoch)) }, 0},
		{"old complete refused: lease gone", func(a *agent) { a.outcome(l1, refused(coord.ENotFound)) }, 0},
		{"old complete failed: unavailable", func(a *agent) { a.outcome(l1, refused(coord.EUnavailable)) }, 1},
		{"old complete accepted", func(a *agent) { a.outcome(l1, nil) }, 1},
		{"old lease never ended", func(a *agent) {}, 1},
		{"new holder's outcome only", func(a *agent) { a.outcome(l2, nil) }, 1},
		{"cancel, then the new holder completes", func(a *agent) {
			a.onCancel(rpc.CancelParams{IssueID: "a", LeaseID: "L1"})
			a.outcome(l2, nil)
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			tr := newTracker()
			a := &agent{d: &driver{tr: tr}, cancels: map[string]chan struct{}{}}
			tr.add([]IssueSpec{{ID: "a"}}, now)
			tr.pushed(0, "a", "L1", 1, now, now)
			tr.pushed(1, "a", "L2", 2, now, now)
			tc.resolve(a)
			if got := tr.doubleAssignments(); got != tc.want {
				t.Fatalf("double assignments = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestTrackerPushBeforeCompleteReply: a dependent pushed before the agent read the reply of its
// blocker's complete (different connections) still gives a dispatch sample, measured from when that
// complete was sent; one whose blocker has no complete sent gives none. The sample was dropped, and
// those are the fastest pushes.
func TestTrackerPushBeforeCompleteReply(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker()
	tr.add([]IssueSpec{{ID: "a"}, {ID: "b"}, {ID: "c", Deps: []string{"a", "b"}}, {ID: "d", Deps: []string{"a"}}}, t0)
	tr.pushed(0, "a", "L1", 1, t0.Add(time.Millisecond), t0)
	tr.pushed(1, "b", "L2", 1, t0.Add(time.Millisecond), t0)
	tr.releasing("a", "L1")
	tr.completing("a", t0.Add(2*time.Millisecond))
	tr.releasing("b", "L2")
	tr.completing("b", t0.Add(3*time.Millisecond))
	tr.pushed(0, "c", "L3", 1, t0.Add(5*time.Millisecond), t0.Add(2*time.Millisecond)) // before either reply
	if s := tr.dispatch.Summary(); s.Count != 3 || s.Max != 2*time.Millisecond {
		t.Fatalf("dispatch %+v: want c's sample, 2ms from b's complete (the later blocker)", s)
	}
	tr.completedOK("a", t0.Add(2*time.Millisecond))
	tr2 := newTracker()
	tr2.add([]IssueSpec{{ID: "a"}, {ID: "d", Deps: []string{"a"}}}, t0)
	tr2.pushed(0, "d", "L9", 1, t0.Add(time.Millisecond), t0) // a never completed: not ready, no sample
	if s := tr2.dispatch.Summary(); s.Count != 0 {
		t.Fatalf("dispatch %+v for an issue whose blocker was never completed", s)
	}
}

func TestRateIssuesRounds(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		d    time.Duration
		want int
	}{
		{7, 10 * time.Second / 7, 10}, // gtc profile --agents 7 --issues 10: 9 before
		{100, 10 * time.Second, 1000},
		{0.1, time.Second, 1},
		{2.5, time.Second, 3},
	} {
		if got := RateIssues(tc.rate, tc.d); got != tc.want {
			t.Errorf("RateIssues(%g, %v) = %d, want %d", tc.rate, tc.d, got, tc.want)
		}
	}
}
