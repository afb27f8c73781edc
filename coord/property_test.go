package coord

import (
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// model drives a core through random operations, committing every step to a fold like the engine.
type model struct {
	t          *rapid.T
	cfg        Config
	c          *core
	f          *fold
	now        time.Time
	session    uint64
	addLog     int // the core's addLog bound
	revIndexAt int // and the length of a reverse-edge list with an index
}

var (
	propIDs     = []string{"p-0", "p-1", "p-2", "p-3", "p-4", "p-5", "p-6", "p-7"}
	propWorkers = []string{"w0", "w1", "w2"}
)

func (m *model) commit() {
	m.c.tick(m.now)
	m.c.dispatch(m.now)
	ch, ef := m.c.take()
	for _, e := range ef { // a drained worker (an operator's drain or its own) is pushed nothing
		var to string
		switch p := e.(type) {
		case pushEffect:
			to = p.Worker
		case *pushEffect:
			to = p.Worker
		}
		if w := m.c.workers[to]; w != nil && w.draining {
			m.t.Fatalf("pushed to %s while it drains (session drain %d, own %d)", to, w.drainSession, w.selfDrain)
		}
	}
	m.c.reuseEnded() // as the engine does between batches
	m.f.apply(ch)
}

// anyLease picks a live lease (nil if none).
func (m *model) anyLease(t *rapid.T) *Lease {
	ls := sortedLeases(m.c.leases)
	if len(ls) == 0 {
		return nil
	}
	return ls[rapid.IntRange(0, len(ls)-1).Draw(t, "lease")]
}

func genIssue(t *rapid.T, id string, now time.Time) beads.Issue {
	is := beads.Issue{ID: id, Title: id, IssueType: "task",
		Status:    rapid.SampledFrom([]string{"open", "open", "open", "closed", "in_progress", "blocked", "deferred", "tombstone", "hooked"}).Draw(t, "status"),
		Priority:  rapid.IntRange(0, 4).Draw(t, "prio"),
		CreatedAt: t0.Add(-time.Duration(rapid.IntRange(0, 100).Draw(t, "age")) * time.Minute),
		UpdatedAt: now}
	if is.Status == "closed" {
		is.CloseReason = rapid.SampledFrom([]string{"done", "failed: tests", ""}).Draw(t, "reason")
	}
	if rapid.Bool().Draw(t, "labelled") {
		is.Labels = rapid.SampledFrom([][]string{{"x"}, {"x"}, {"convoy:k"}, {"convoy:k", "x"}}).Draw(t, "labels")
	}
	if rapid.IntRange(0, 9).Draw(t, "gate") == 0 {
		is.IssueType = "gate"
	}
	if rapid.IntRange(0, 9).Draw(t, "defer") == 0 {
		d := now.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "deferS")) * time.Second)
		is.DeferUntil = &d
	}
	for n := rapid.IntRange(0, 2).Draw(t, "ndeps"); n > 0; n-- {
		on := rapid.SampledFrom(append(propIDs, "nowhere")).Draw(t, "on")
		typ := rapid.SampledFrom([]string{"blocks", "parent-child", "conditional-blocks", "waits-for", "related"}).Draw(t, "dtype")
		md := ""
		if typ == "waits-for" && rapid.Bool().Draw(t, "any") {
			md = `{"gate":"any-children"}`
		}
		is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: id, DependsOnID: on, Type: typ, Metadata: md})
	}
	return is
}

// genFilters draws worker or claim filters.
func genFilters(t *rapid.T) Filters {
	var f Filters
	switch rapid.IntRange(0, 5).Draw(t, "filters") {
	case 1:
		f.Labels = []string{"x"}
	case 2:
		f.Prefixes = []string{rapid.SampledFrom(propIDs).Draw(t, "prefix"), "p-7"}
	case 3:
		f.Types = []string{"task"}
	case 4:
		f.Convoy, f.ConvoyOnly = "k", rapid.Bool().Draw(t, "convoyOnly")
	}
	return f
}

func (m *model) step(t *rapid.T) {
	c, now := m.c, m.now
	w := rapid.SampledFrom(propWorkers).Draw(t, "worker")
	switch op := rapid.IntRange(0, 14).Draw(t, "op"); op {
	case 0:
		m.session++
		role := rapid.SampledFrom([]string{"", "", "", "client", RoleRefinery}).Draw(t, "role")
		_, _ = c.connect(now, Hello{Name: w, Role: role, Capacity: rapid.IntRange(1, 2).Draw(t, "cap"), Filters: genFilters(t)}, m.session)
	case 1:
		if x := c.workers[w]; x != nil {
			c.disconnect(now, w, x.session)
		}
	case 2, 3:
		if l := m.anyLease(t); l != nil {
			_ = c.ack(now, l.Worker, l.ID, l.Epoch)
		}
	case 4:
		if l := m.anyLease(t); l != nil {
			_, _ = c.heartbeat(now, l.Worker, l.ID, l.Epoch, "p")
		}
	case 5:
		if l := m.anyLease(t); l != nil {
			out := rapid.SampledFrom([]string{OutcomeSuccess, OutcomeCodeComplete, OutcomeFailure, OutcomePartial}).Draw(t, "outcome")
			if _, err := c.complete(now, l.Worker, l.ID, l.Epoch, SessionResult{Outcome: out}); err != nil {
				t.Fatalf("complete: %v", err)
			}
		}
	case 6:
		if l := m.anyLease(t); l != nil {
			if rapid.Bool().Draw(t, "rel") {
				_, _ = c.release(now, l.Worker, l.ID, l.Epoch, "r")
			} else {
				_ = c.reject(now, l.Worker, 0, l.ID, l.Epoch, "r")
			}
		}
	case 7:
		if l := m.anyLease(t); l != nil {
			if _, err := c.fail(now, l.Worker, l.ID, l.Epoch, "boom"); err != nil {
				t.Fatalf("fail: %v", err)
			}
			// the same lease again: stale
			if _, err := c.complete(now, l.Worker, l.ID, l.Epoch, SessionResult{}); ErrorCode(err) != EStaleEpoch {
				t.Fatalf("ended lease answered %v", err)
			}
		}
	case 8:
		if l := m.anyLease(t); l != nil {
			other := "w9"
			if err := c.ack(now, other, l.ID, l.Epoch); ErrorCode(err) != ENotHolder {
				t.Fatalf("foreign ack answered %v", err)
			}
			if err := c.ack(now, l.Worker, l.ID, l.Epoch+1); ErrorCode(err) != EStaleEpoch {
				t.Fatalf("wrong epoch answered %v", err)
			}
		}
	case 9, 10:
		m.now = now.Add(time.Duration(rapid.IntRange(1, 90).Draw(t, "sec")) * time.Second)
	case 11:
		id := rapid.SampledFrom(propIDs).Draw(t, "id")
		is := genIssue(t, id, now)
		if it := c.issues[id]; it != nil && it.lease != nil && rapid.Bool().Draw(t, "echo") {
			is.Status, is.Assignee = c.metaOf(it).Status, c.metaOf(it).Assignee // our own export coming back
		}
		_ = c.putIssues(now, puts(is))
	case 12:
		if x := c.workers[w]; x != nil && x.connected {
			f := &x.row.Filters
			if rapid.Bool().Draw(t, "claimFiltered") {
				ff := genFilters(t)
				f = &ff
			}
			wait := time.Duration(rapid.IntRange(0, 1).Draw(t, "wait")) * time.Minute
			want := "" // what a full search finds
			if it := c.best(w, f, true); it != nil && !c.paused {
				want = it.id
			}
			a, _, _ := c.claim(now, w, f, wait)
			if got := ""; a != nil && a.Lease.IssueID != want || a == nil && want != "" {
				if a != nil {
					got = a.Lease.IssueID
				}
				t.Fatalf("claim (filters %+v) got %q, a full search %q", *f, got, want)
			}
		}
	case 13:
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			c.pause(now, !c.paused, "")
		default: // restart from the durable state
			m.commit()
			operator := map[string]bool{} // the drains that outlive a restart: the operators', not a worker's own
			for name, x := range m.c.workers {
				operator[name] = x.draining && x.drainSession == 0
			}
			m.c = newCore(m.cfg, m.f.snapshot(), m.now)
			m.c.added.max, m.c.revIndexAt = m.addLog, m.revIndexAt
			for name, x := range m.c.workers {
				if x.draining != operator[name] {
					t.Fatalf("%s after a restart: draining %v, want %v (only an operator's drain is durable)", name, x.draining, operator[name])
				}
			}
		}
	case 14: // drains: an operator's (or its undo), or the worker's own for its session
		if x := c.workers[w]; x != nil {
			switch rapid.IntRange(0, 2).Draw(t, "drain") {
			case 0:
				_ = c.drain(now, w, false, 0, "op")
			case 1:
				_ = c.drain(now, w, true, 0, "op")
			default:
				_ = c.drain(now, w, false, x.session, w)
			}
		}
	}
	m.checkMarks(t)
	m.commit()
	m.check(t)
}

// check asserts the invariants.
func (m *model) check(t *rapid.T) {
	c := m.c
	for name, w := range c.workers { // a worker's own drain belongs to its live session
		if w.drainSession != 0 && (!w.draining || !w.connected || w.drainSession != w.session) {
			t.Fatalf("%s: own drain of session %d, draining %v, connected %v on session %d", name, w.drainSession, w.draining, w.connected, w.session)
		}
		if w.selfDrain != 0 && (!w.draining || !w.connected || w.selfDrain != w.session) {
			t.Fatalf("%s: drains itself on session %d, draining %v, connected %v on session %d", name, w.selfDrain, w.draining, w.connected, w.session)
		}
	}
	byIssue := map[string]string{}
	for id, l := range c.leases {
		if !l.Live() {
			t.Fatalf("ended lease %s in the live table", id)
		}
		if l.ID != id {
			t.Fatalf("live lease %s reads %+v (reused while live?)", id, *l)
		}
		if prev, dup := byIssue[l.IssueID]; dup {
			t.Fatalf("issue %s has two live leases %s and %s", l.IssueID, prev, id)
		}
		byIssue[l.IssueID] = id
		it := c.issues[l.IssueID]
		if it == nil || it.lease != l {
			t.Fatalf("lease %s not attached to its issue", id)
		}
		if c.metaOf(it).Status != c.cfg.StatusHooked && c.metaOf(it).Status != c.cfg.StatusInProgress || c.metaOf(it).Assignee != l.Worker {
			t.Fatalf("leased issue %s shows %s/%s", c.metaOf(it).ID, c.metaOf(it).Status, c.metaOf(it).Assignee)
		}
		if c.workers[l.Worker] == nil || c.workers[l.Worker].leases[id] != l {
			t.Fatalf("lease %s not attached to worker %s", id, l.Worker)
		}
	}
	// Never lose an issue: every open, unblocked, unleased issue past its backoff is ready.
	var is []beads.Issue
	for _, it := range c.issues {
		if it.lease == nil && !c.metaOf(it).NotBefore.After(c.now) {
			is = append(is, issueOf(c.metaOf(it)))
		}
	}
	all := make([]beads.Issue, 0, len(c.issues))
	for _, it := range c.issues {
		all = append(all, issueOf(c.metaOf(it)))
	}
	want := refReady(all, c.now, DefaultWorkflowTypes)
	eligible := map[string]bool{}
	for _, x := range is {
		eligible[x.ID] = true
	}
	want = slices.DeleteFunc(want, func(id string) bool { return !eligible[id] })
	got := c.readyIDs(0)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ready %v, reference %v", got, want)
	}
	for l, h := range c.labelHeaps {
		var in, want []string
		for _, it := range h.items {
			in = append(in, c.metaOf(it).ID)
		}
		for _, id := range got {
			if hasLabel(c.metaOf(c.issues[id]).Labels, l) {
				want = append(want, id)
			}
		}
		sort.Strings(in)
		if !slices.Equal(in, want) {
			t.Fatalf("label heap %s holds %v, want %v", l, in, want)
		}
	}
	counted := 0
	for _, n := range c.counts {
		counted += n
	}
	if counted != len(c.issues) || c.counts[clsReady] != c.heap.Len() {
		t.Fatalf("counters %v for %d issues, heap %d", c.counts, len(c.issues), c.heap.Len())
	}
	if err := heapsOrdered(c); err != "" {
		t.Fatalf("%s", err)
	}
	checkRev(t, c)
	checkWaiters(t, c)
	for name, w := range c.workers {
		if (w.row.Role == RoleRefinery) != (c.refineries[name] == w) {
			t.Fatalf("worker %s of role %s: listed as a refinery %v", name, w.row.Role, c.refineries[name] != nil)
		}
	}
	if len(c.refineries) > len(c.workers) {
		t.Fatalf("%d refineries among %d workers", len(c.refineries), len(c.workers))
	}
	// Restart here gives the same state.
	r := newCore(m.cfg, m.f.snapshot(), c.now)
	if d := cmp.Diff(stateOf(c), stateOf(r), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("restart differs (-live +restarted):\n%s", d)
	}
}

// waitsOf keeps the waits-for entries of a reverse-edge count (nil when none).
func waitsOf(rev map[revEdge]int) map[revEdge]int {
	var out map[revEdge]int
	for r, n := range rev {
		if r.kind == edgeWaitsFor {
			if out == nil {
				out = map[revEdge]int{}
			}
			out[r] = n
		}
	}
	return out
}

// checkRev compares the reverse-edge index, its waits-for counts and position indexes with the
// issues' edges.
func checkRev(t *rapid.T, c *core) {
	want := map[string]map[revEdge]int{}
	var buf [1]edge
	for _, it := range c.issues {
		for _, e := range c.edges(it, &buf) {
			if want[e.target] == nil {
				want[e.target] = map[revEdge]int{}
			}
			want[e.target][revEdge{from: it, kind: e.kind}]++
		}
	}
	if len(c.rev) != len(want) {
		t.Fatalf("reverse index has %d targets, the edges %d", len(c.rev), len(want))
	}
	waits := 0
	kids := map[string]kidCount{}
	for target, list := range c.rev {
		got, n := map[revEdge]int{}, 0
		for _, r := range list {
			got[r]++
			if r.kind == edgeWaitsFor {
				n++
			}
			if r.kind == edgeParentChild {
				k := kids[target]
				k.n++
				if c.info(r.from.status)&symGateClosed != 0 {
					k.closed++
				}
				kids[target] = k
			}
		}
		if !maps.Equal(got, want[target]) {
			t.Fatalf("reverse edges of %s: %v, want %v", target, got, want[target])
		}
		var gated map[revEdge]int
		for _, g := range c.waitRev[target] {
			if gated == nil {
				gated = map[revEdge]int{}
			}
			gated[revEdge{from: g, kind: edgeWaitsFor}]++
		}
		if want := waitsOf(got); !maps.Equal(gated, want) {
			t.Fatalf("%s has waits-for reverse edges %v, listed %v", target, want, gated)
		}
		if n > 0 {
			waits++
		}
		if idx := c.revIdx[target]; idx != nil {
			pos := revIndex{}
			for i, r := range list {
				pos.note(r, i)
			}
			if !maps.Equal(idx, pos) {
				t.Fatalf("position index of %s: %v, want %v", target, idx, pos)
			}
		}
	}
	for target := range c.revIdx {
		if c.rev[target] == nil {
			t.Fatalf("position index for %s, which has no reverse edges", target)
		}
	}
	if len(c.waitRev) != waits {
		t.Fatalf("waits-for counts for %d targets, %d have some", len(c.waitRev), waits)
	}
	if !maps.Equal(c.kids, kids) {
		t.Fatalf("children counts %v, the reverse edges give %v", c.kids, kids)
	}
}

// checkWaiters: the queue of parked claims is in id order, linked both ways and counted, and each
// of them is in the index by id and (in the same order) in its worker's list.
func checkWaiters(t *rapid.T, c *core) {
	var ids []uint64
	perWorker := map[string][]uint64{}
	var prev *waiter
	for wt := c.waiters.head; wt != nil; prev, wt = wt, wt.next {
		if wt.prev != prev || wt.done || c.waiterByID[wt.id] != wt {
			t.Fatalf("parked claim %d: prev %p (want %p), done %v, by id %p", wt.id, wt.prev, prev, wt.done, c.waiterByID[wt.id])
		}
		ids = append(ids, wt.id)
		perWorker[wt.worker] = append(perWorker[wt.worker], wt.id)
	}
	if c.waiters.tail != prev || c.waiters.n != len(ids) || len(c.waiterByID) != len(ids) || !slices.IsSorted(ids) {
		t.Fatalf("parked claims %v: tail %p (want %p), counted %d, %d by id", ids, c.waiters.tail, prev, c.waiters.n, len(c.waiterByID))
	}
	for name, w := range c.workers {
		var live []uint64
		for _, wt := range w.waiters {
			if !wt.done {
				live = append(live, wt.id)
			}
		}
		if !slices.Equal(live, perWorker[name]) {
			t.Fatalf("worker %s lists parked claims %v, the queue %v", name, live, perWorker[name])
		}
	}
}

type coreState struct {
	Issues   map[string]IssueMeta
	Leases   map[string]Lease
	Ready    []string
	Paused   bool
	MaxEpoch int64
}

func stateOf(c *core) coreState {
	s := coreState{Issues: map[string]IssueMeta{}, Leases: map[string]Lease{}, Ready: c.readyIDs(0), Paused: c.paused, MaxEpoch: c.maxEpoch}
	for id, it := range c.issues {
		s.Issues[id] = c.metaOf(it)
	}
	for id, l := range c.leases {
		s.Leases[id] = *l
	}
	return s
}

func issueOf(m IssueMeta) beads.Issue {
	is := beads.Issue{ID: m.ID, Status: m.Status, Priority: m.Priority, IssueType: m.IssueType, Pinned: m.Pinned,
		Ephemeral: m.Ephemeral, DeferUntil: m.DeferUntil, CloseReason: m.CloseReason, Labels: m.Labels}
	for _, d := range m.Deps {
		is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: m.ID, DependsOnID: d.On, Type: d.Type, Metadata: d.Metadata})
	}
	return is
}

// newPropModel draws a configuration and a first set of issues, and puts them in a new core.
func newPropModel(t *rapid.T) *model {
	cfg := testCfg()
	cfg.MaxAttempts = rapid.IntRange(1, 3).Draw(t, "maxAttempts")
	m := &model{t: t, cfg: cfg, now: t0, f: newFold(nil), addLog: rapid.IntRange(1, 6).Draw(t, "addLog"),
		revIndexAt: rapid.IntRange(1, 3).Draw(t, "revIndexAt")}
	m.c = newCore(cfg, nil, t0)
	m.c.added.max, m.c.revIndexAt = m.addLog, m.revIndexAt
	var init []IssuePut
	for _, id := range propIDs[:rapid.IntRange(1, len(propIDs)).Draw(t, "n")] {
		init = append(init, IssuePut{Issue: genIssue(t, id, t0)})
	}
	if err := m.c.putIssues(t0, init); err != nil {
		t.Fatal(err)
	}
	m.commit()
	return m
}

func TestPropertyScheduler(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newPropModel(t)
		for i, n := 0, rapid.IntRange(1, 60).Draw(t, "steps"); i < n; i++ {
			m.step(t)
			m.checkLive(t)
		}
	})
}
