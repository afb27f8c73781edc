package loadtest

import (
	"sync"
	"sync/atomic"
	"time"
)

// trackedIssue is the load generator's view of one issue.
type trackedIssue struct {
	deps       int       // dependencies not yet completed
	dependents []int     // issues waiting on this one
	depIdx     []int     // issues this one waits on
	readyAt    time.Time // when it became assignable (zero: not yet, or unknown after a failed attempt)
	createdAt  time.Time // when issue.create was sent (rate mode)
	successAt  time.Time // when a success complete of it was sent (its dependents may be ready from then)
	holder     string    // lease id currently held by an agent ("" none)
	holderAg   int
	completed  bool // a success complete was acknowledged by the server
	dead       bool // a fail reply said dead-lettered
	unreach    bool // a dependency was dead-lettered: it can never become ready
	notCreated bool // its issue.create failed: the server may not hold it, it is not counted lost
	pushes     int
	// overlapped are leases an agent still held when the issue was pushed again: a double assignment
	// only if the server later accepts one of their outcomes (or never says it ended them). A cancel
	// and the re-push travel on different connections, so the re-push may be read first.
	overlapped []string
}

// resolved reports whether the issue no longer holds the run up (each issue counts in tracker.resolved once).
func (is *trackedIssue) resolved() bool {
	return is.completed || is.dead || is.unreach || is.notCreated
}

// tracker follows every issue of a run: readiness, holders (for double assignments) and resolution.
type tracker struct {
	mu       sync.Mutex
	byID     map[string]int
	issues   []trackedIssue
	ids      []string
	resolved atomic.Int64 // completed, dead-lettered or unreachable
	done     chan struct{}
	doneOnce sync.Once

	dispatch, createToPush, queueWait, rpc *Recorder
	doubles                                atomic.Int64
	completions                            atomic.Int64
	fails                                  atomic.Int64 // fail calls the server accepted
	running, peak                          atomic.Int64 // sessions running now; the most at once
	errors                                 atomic.Int64
}

func newTracker() *tracker {
	return &tracker{byID: map[string]int{}, done: make(chan struct{}),
		dispatch: NewRecorder(), createToPush: NewRecorder(), queueWait: NewRecorder(), rpc: NewRecorder()}
}

// add registers issues; readyAt is when those without dependencies became ready (zero: set later by created).
func (t *tracker) add(specs []IssueSpec, readyAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range specs {
		t.byID[s.ID] = len(t.issues)
		t.ids = append(t.ids, s.ID)
		t.issues = append(t.issues, trackedIssue{})
	}
	for _, s := range specs {
		i := t.byID[s.ID]
		for _, d := range s.Deps {
			if j, ok := t.byID[d]; ok {
				t.issues[i].deps++
				t.issues[i].depIdx = append(t.issues[i].depIdx, j)
				t.issues[j].dependents = append(t.issues[j].dependents, i)
			}
		}
		if t.issues[i].deps == 0 && !readyAt.IsZero() {
			t.issues[i].readyAt = readyAt
		}
	}
}

// created records that issue.create for id is about to be sent.
func (t *tracker) created(id string, at time.Time) {
	t.mu.Lock()
	if i, ok := t.byID[id]; ok {
		t.issues[i].createdAt = at
		if t.issues[i].deps == 0 {
			t.issues[i].readyAt = at
		}
	}
	t.mu.Unlock()
}

// markReady sets the ready time of issues without dependencies that have none yet.
func (t *tracker) markReady(at time.Time) {
	t.mu.Lock()
	for i := range t.issues {
		if t.issues[i].deps == 0 && t.issues[i].readyAt.IsZero() {
			t.issues[i].readyAt = at
		}
	}
	t.mu.Unlock()
}

// sessionStarted counts a session beginning; the returned func ends it (once, however often called).
func (t *tracker) sessionStarted() func() {
	n := t.running.Add(1)
	for p := t.peak.Load(); n > p && !t.peak.CompareAndSwap(p, n); p = t.peak.Load() {
	}
	var once sync.Once
	return func() { once.Do(func() { t.running.Add(-1) }) }
}

func (t *tracker) total() int { t.mu.Lock(); defer t.mu.Unlock(); return len(t.issues) }

// pushed records an assignment received by agent ag at now; freeAt is when the agent's slot became free.
func (t *tracker) pushed(ag int, issueID, leaseID string, attempt int, now, freeAt time.Time) {
	t.mu.Lock()
	i, ok := t.byID[issueID]
	if !ok {
		t.mu.Unlock()
		return // not ours (another workload on a shared server)
	}
	is := &t.issues[i]
	is.pushes++
	// any push of an issue whose success the server acknowledged is a double; a push while another
	// agent still holds the issue is one unless the server ended that lease (revoked decides)
	switch {
	case is.completed:
		t.doubles.Add(1)
	case is.holder != "" && is.holder != leaseID:
		is.overlapped = append(is.overlapped, is.holder)
	}
	is.holder, is.holderAg = leaseID, ag
	if is.readyAt.IsZero() && attempt == 1 {
		// pushed before this side read the reply of the complete that made it ready (the push and the
		// reply travel on different connections): ready from when its last blocker's complete was sent
		is.readyAt = t.blockersSentLocked(is)
	}
	readyAt, createdAt := is.readyAt, is.createdAt
	t.mu.Unlock()
	if !createdAt.IsZero() && attempt == 1 {
		t.createToPush.Record(now.Sub(createdAt))
	}
	if readyAt.IsZero() || attempt != 1 {
		return // readiness after a failed attempt (backoff) is not observable from here
	}
	t.queueWait.Record(now.Sub(readyAt))
	possible := readyAt
	if freeAt.After(possible) {
		possible = freeAt
	}
	t.dispatch.Record(now.Sub(possible))
}

// blockersSentLocked returns when the last of is's blockers had its success complete sent, or zero if
// one has none.
func (t *tracker) blockersSentLocked(is *trackedIssue) time.Time {
	var at time.Time
	for _, j := range is.depIdx {
		b := &t.issues[j]
		if b.successAt.IsZero() {
			return time.Time{}
		}
		if b.successAt.After(at) {
			at = b.successAt
		}
	}
	return at
}

// completing records that a success complete of issueID is about to be sent at at.
func (t *tracker) completing(issueID string, at time.Time) {
	t.mu.Lock()
	if i, ok := t.byID[issueID]; ok {
		t.issues[i].successAt = at
	}
	t.mu.Unlock()
}

// releasing clears the holder before a complete, fail or after a cancel (the lease is over for the agent).
func (t *tracker) releasing(issueID, leaseID string) {
	t.mu.Lock()
	if i, ok := t.byID[issueID]; ok && t.issues[i].holder == leaseID {
		t.issues[i].holder = ""
	}
	t.mu.Unlock()
}

// revoked records that the server ended leaseID without taking its outcome: a cancel notification,
// or a complete or fail it refused (stale epoch, lease gone). A later push was then no double.
func (t *tracker) revoked(issueID, leaseID string) {
	t.mu.Lock()
	if i, ok := t.byID[issueID]; ok {
		t.issues[i].dropOverlap(leaseID)
	}
	t.mu.Unlock()
}

// accepted records that the server accepted a complete or fail of leaseID: if the issue had been
// pushed again while that lease was held, two leases of it were live at once.
func (t *tracker) accepted(issueID, leaseID string) {
	t.mu.Lock()
	if i, ok := t.byID[issueID]; ok && t.issues[i].dropOverlap(leaseID) {
		t.doubles.Add(1)
	}
	t.mu.Unlock()
}

// dropOverlap forgets leaseID among the overlapped leases; true if it was one.
func (is *trackedIssue) dropOverlap(leaseID string) bool {
	for k, l := range is.overlapped {
		if l == leaseID {
			is.overlapped = append(is.overlapped[:k], is.overlapped[k+1:]...)
			return true
		}
	}
	return false
}

// doubleAssignments is the run's count of double assignments: those proven, plus overlapped leases the
// server neither ended nor took an outcome from by the end of the run (counted, not excused).
func (t *tracker) doubleAssignments() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.doubles.Load()
	for i := range t.issues {
		n += int64(len(t.issues[i].overlapped))
	}
	return n
}

// completedOK records a success complete acknowledged by the server; sentAt is when it was sent
// (the moment dependents may have become ready, as seen from here).
func (t *tracker) completedOK(issueID string, sentAt time.Time) {
	t.mu.Lock()
	i, ok := t.byID[issueID]
	if !ok || t.issues[i].completed {
		t.mu.Unlock()
		return // a second success of one issue is not another completion (its push counted as a double)
	}
	t.completions.Add(1)
	n := int64(1)
	if t.issues[i].resolved() {
		n = 0 // resolved already: counting it again would end the run with issues unfinished
	}
	t.issues[i].completed = true
	for _, d := range t.issues[i].dependents {
		dep := &t.issues[d]
		dep.deps--
		if dep.deps == 0 && dep.readyAt.IsZero() && !dep.unreach {
			dep.readyAt = sentAt
		}
	}
	t.mu.Unlock()
	t.resolve(n)
}

// deadLettered records a fail reply that dead-lettered the issue: it and its transitive dependents are resolved.
func (t *tracker) deadLettered(issueID string) {
	t.mu.Lock()
	i, ok := t.byID[issueID]
	if !ok || t.issues[i].dead {
		t.mu.Unlock()
		return
	}
	n := int64(1)
	if t.issues[i].resolved() {
		n = 0 // resolved already
	}
	t.issues[i].dead = true
	stack := append([]int(nil), t.issues[i].dependents...)
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if is := &t.issues[d]; !is.resolved() {
			is.unreach = true
			n++
			stack = append(stack, is.dependents...)
		}
	}
	t.mu.Unlock()
	t.resolve(n)
}

// createFailed records an issue whose issue.create was answered with an error: it is resolved (the
// run does not wait for it) and not counted lost (the error is counted already).
func (t *tracker) createFailed(issueID string) {
	t.mu.Lock()
	i, ok := t.byID[issueID]
	if !ok || t.issues[i].notCreated {
		t.mu.Unlock()
		return
	}
	is := &t.issues[i]
	n := int64(1)
	if is.resolved() {
		n = 0
	}
	is.notCreated = true
	t.mu.Unlock()
	t.resolve(n)
}

// unheld returns up to n ids of unresolved issues no agent holds.
func (t *tracker) unheld(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for i := range t.issues {
		if is := &t.issues[i]; !is.resolved() && is.holder == "" {
			out = append(out, t.ids[i])
			if len(out) == n {
				break
			}
		}
	}
	return out
}

func (t *tracker) resolve(n int64) {
	if t.resolved.Add(n) >= int64(t.total()) {
		t.doneOnce.Do(func() { close(t.done) })
	}
}

// verify compares the server's final state with what the agents saw: issues neither closed nor
// dead-lettered (nor blocked by a dead-lettered dependency) are lost; success completes the server
// acknowledged on issues that are not closed are lost completions.
// outcome is how a run's issues ended, from the server's final state.
type outcome struct {
	lostIssues, lostCompletions int64
	deadLettered, unreachable   int64 // dead-lettered; blocked for good by a dead-lettered dependency
	unfinished                  int64 // still open or held when a run stopped before it drained
}

// verify compares the server's final state with what the agents saw. After a run that drained (every
// issue resolved on this side), an issue neither closed nor dead-lettered (nor blocked by a
// dead-lettered dependency) is lost; after a run stopped at its cap, such an issue is unfinished, and
// only one the server no longer holds is lost. A success complete the server does not show closed is
// a lost completion either way.
func (t *tracker) verify(final map[string]FinalState, drained bool) outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	var o outcome
	for i, id := range t.ids {
		is := &t.issues[i]
		st, ok := final[id]
		closed := ok && st.Status == "closed"
		dead := ok && st.Failed
		if is.completed && !closed {
			o.lostCompletions++
		}
		switch {
		case closed || is.notCreated:
		case dead:
			o.deadLettered++
		case is.unreach || t.blockedByDead(i, final):
			o.unreachable++
		case ok && !drained:
			o.unfinished++
		default:
			o.lostIssues++
		}
	}
	return o
}

// blockedByDead reports whether a dependency of issue i is (transitively) dead-lettered in the final
// state, also when the dead-lettering came from an expiry the agents never saw.
func (t *tracker) blockedByDead(i int, final map[string]FinalState) bool {
	for _, j := range t.issues[i].depIdx {
		if final[t.ids[j]].Failed || t.blockedByDead(j, final) {
			return true
		}
	}
	return false
}
