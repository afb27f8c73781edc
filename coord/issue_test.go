package coord

import (
	"fmt"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/gastown/gtc/beads"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

var (
	zoneEast = time.FixedZone("UTC+5:30", 5*3600+1800)
	zoneWest = time.FixedZone("EST", -5*3600)
)

// genTime draws a time.Time of any shape the core may be given: zero, any instant from year 1 to 9999
// in UTC, a fixed zone or Local, or a time.Now() with its monotonic reading.
func genTime(t *rapid.T, label string) time.Time {
	switch rapid.IntRange(0, 5).Draw(t, label+"Kind") {
	case 0:
		return time.Time{}
	case 1:
		return time.Now().Add(time.Duration(rapid.Int64Range(-1e15, 1e15).Draw(t, label+"Mono")))
	}
	sec := rapid.Int64Range(-62135596800, 253402300799).Draw(t, label+"Sec")
	nsec := rapid.Int64Range(0, 999_999_999).Draw(t, label+"Nsec")
	loc := rapid.SampledFrom([]*time.Location{time.UTC, zoneEast, zoneWest, time.Local}).Draw(t, label+"Loc")
	return time.Unix(sec, nsec).In(loc)
}

func genTimePtr(t *rapid.T, label string) *time.Time {
	if rapid.Bool().Draw(t, label+"Nil") {
		return nil
	}
	tm := genTime(t, label)
	return &tm
}

// genMeta draws an IssueMeta with every field set at random (labels without convoy: labels, so no
// put closes a tracking issue behind the test's back).
func genMeta(t *rapid.T, id string) IssueMeta {
	m := IssueMeta{ID: id,
		Status:      rapid.SampledFrom([]string{"", "open", "closed", "in_progress", "hooked", "blocked", "deferred", "tombstone", "review"}).Draw(t, "status"),
		Priority:    rapid.Int().Draw(t, "prio"),
		IssueType:   rapid.SampledFrom([]string{"", "task", "bug", "gate", "convoy", "epic"}).Draw(t, "type"),
		Assignee:    rapid.SampledFrom([]string{"", "w0", "w1", "alice"}).Draw(t, "assignee"),
		CreatedAt:   genTime(t, "created"),
		UpdatedAt:   genTime(t, "updated"),
		DeferUntil:  genTimePtr(t, "defer"),
		Pinned:      rapid.Bool().Draw(t, "pinned"),
		Ephemeral:   rapid.Bool().Draw(t, "ephemeral"),
		CloseReason: rapid.OneOf(rapid.SampledFrom([]string{"", "completed", "failed: tests"}), rapid.String()).Draw(t, "reason"),
		Attempts:    rapid.Int().Draw(t, "attempts"),
		NotBefore:   genTime(t, "notBefore"),
		StartedAt:   genTimePtr(t, "started"),
	}
	if rapid.Bool().Draw(t, "labelled") {
		m.Labels = rapid.SliceOf(rapid.SampledFrom([]string{"x", "backend", "gtc:failed", "gtc:rework"})).Draw(t, "labels")
	}
	for n := rapid.IntRange(0, 3).Draw(t, "ndeps"); n > 0; n-- {
		m.Deps = append(m.Deps, Dep{
			On:       rapid.SampledFrom([]string{"r-0", "r-1", "r-2", "elsewhere"}).Draw(t, "on"),
			Type:     rapid.SampledFrom([]string{"blocks", "parent-child", "conditional-blocks", "waits-for", "related", ""}).Draw(t, "dtype"),
			Metadata: rapid.SampledFrom([]string{"", "{}", `{"gate":"any-children"}`, `{"spawner_id":"r-1"}`}).Draw(t, "md"),
		})
	}
	return m
}

// issueFromMeta is the beads view of m (what a put carries).
func issueFromMeta(m IssueMeta) beads.Issue {
	is := beads.Issue{ID: m.ID, Title: m.ID, Status: m.Status, Priority: m.Priority, IssueType: m.IssueType,
		Assignee: m.Assignee, Labels: m.Labels, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, DeferUntil: m.DeferUntil,
		Pinned: m.Pinned, Ephemeral: m.Ephemeral, CloseReason: m.CloseReason, StartedAt: m.StartedAt}
	for _, d := range m.Deps {
		is.Dependencies = append(is.Dependencies, beads.Dependency{IssueID: m.ID, DependsOnID: d.On, Type: d.Type, Metadata: d.Metadata})
	}
	return is
}

// exactTimes compares every time.Time exactly (instant, Location and monotonic reading: ==), except
// CreatedAt, which never leaves the core and is compared as an instant, and the times an issue keeps
// packed (stamp.go: updated_at, started_at and the closed_at taken from updated_at), compared as the
// same instant in the same zone (name and offset) without the monotonic reading.
var exactTimes = cmp.Options{
	cmp.FilterPath(func(p cmp.Path) bool { f := lastField(p); return f != "CreatedAt" && !packedTime[f] },
		cmp.Comparer(func(a, b time.Time) bool { return a == b })),
	cmp.FilterPath(func(p cmp.Path) bool { return lastField(p) == "CreatedAt" },
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })),
	cmp.FilterPath(func(p cmp.Path) bool { return packedTime[lastField(p)] },
		cmp.Comparer(sameWallTime)),
	cmpopts.EquateEmpty(),
}

// packedTime lists the fields whose times come from an issue's packed updated_at or started_at.
var packedTime = map[string]bool{"UpdatedAt": true, "StartedAt": true, "ClosedAt": true}

// lastField is the name of the last struct field on the path ("" if none).
func lastField(p cmp.Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if sf, ok := p[i].(cmp.StructField); ok {
			return sf.Name()
		}
	}
	return ""
}

// sameWallTime says a and b are the same instant in the same zone (name and offset), so they format
// alike, ignoring monotonic readings; Local stays Local.
func sameWallTime(a, b time.Time) bool {
	an, ao := a.Zone()
	bn, bo := b.Zone()
	return a.Equal(b) && an == bn && ao == bo && (a.Location() == time.Local) == (b.Location() == time.Local) &&
		a.Format(time.RFC3339Nano) == b.Format(time.RFC3339Nano)
}

// TestIssueRoundTripSnapshot: a meta restored from a snapshot comes back whole from metaOf, and the
// scheduler-owned fields it emits (IssueState) are the exact values it was given.
func TestIssueRoundTripSnapshot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testCfg()
		snap := &Snapshot{}
		for i, n := 0, rapid.IntRange(1, 6).Draw(t, "n"); i < n; i++ {
			snap.Issues = append(snap.Issues, genMeta(t, fmt.Sprintf("r-%d", i)))
		}
		c := newCore(cfg, snap, t0)
		for _, m := range snap.Issues {
			want := normalize(m, c.cfg)
			it := c.issues[m.ID]
			if d := cmp.Diff(want, c.metaOf(it), exactTimes); d != "" {
				t.Fatalf("restored %s differs (-given +held):\n%s", m.ID, d)
			}
			if !c.metaOf(it).CreatedAt.Equal(m.CreatedAt) {
				t.Fatalf("created_at %v came back as %v", m.CreatedAt, c.metaOf(it).CreatedAt)
			}
			c.emitState(it, nil)
			ch, _ := c.take()
			st := IssueState{ID: m.ID, Status: want.Status, Assignee: m.Assignee, UpdatedAt: m.UpdatedAt,
				StartedAt: m.StartedAt, CloseReason: m.CloseReason, Attempts: m.Attempts, NotBefore: m.NotBefore}
			if want.Status == c.cfg.StatusClosed {
				st.ClosedAt = &m.UpdatedAt
			}
			if len(ch) == 0 {
				t.Fatalf("emitState of %s recorded nothing", m.ID)
			}
			if d := cmp.Diff(&st, ch[0], exactTimes); d != "" {
				t.Fatalf("IssueState of %s differs (-given +emitted):\n%s", m.ID, d)
			}
		}
	})
}

// TestIssueRoundTripPut: issues put through putIssues come back whole; a KeepState put carries the
// exact scheduler-owned fields back out; and a core restored from the fold of the recorded Changes
// holds the same metas as the live one.
func TestIssueRoundTripPut(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testCfg()
		c := newCore(cfg, nil, t0)
		f := newFold(nil)
		var metas []IssueMeta
		for i, n := 0, rapid.IntRange(1, 6).Draw(t, "n"); i < n; i++ {
			m := genMeta(t, fmt.Sprintf("r-%d", i))
			m.Attempts, m.NotBefore = 0, time.Time{} // not carried by beads.Issue
			metas = append(metas, m)
			if err := c.putIssues(t0, []IssuePut{{Issue: issueFromMeta(m), FromImport: true}}); err != nil {
				t.Fatal(err)
			}
		}
		ch, _ := c.take()
		f.apply(ch)
		for _, m := range metas {
			it := c.issues[m.ID]
			if d := cmp.Diff(normalize(m, c.cfg), c.metaOf(it), exactTimes); d != "" {
				t.Fatalf("put %s differs (-given +held):\n%s", m.ID, d)
			}
			// An edit from an earlier read (KeepState) gets the held scheduler-owned fields back.
			edit := issueFromMeta(m)
			edit.Status, edit.Assignee, edit.CloseReason, edit.StartedAt = "open", "someone-else", "edited", nil
			edit.UpdatedAt = m.UpdatedAt
			if err := c.putIssues(t0, []IssuePut{{Issue: edit, KeepState: true}}); err != nil {
				t.Fatal(err)
			}
			ch, _ := c.take()
			f.apply(ch)
			got := ch[0].(IssuePut).Issue
			want := normalize(m, c.cfg)
			if got.Status != want.Status || got.Assignee != m.Assignee || got.CloseReason != m.CloseReason {
				t.Fatalf("KeepState put of %s carries %q/%q/%q, want %q/%q/%q", m.ID, got.Status, got.Assignee,
					got.CloseReason, want.Status, m.Assignee, m.CloseReason)
			}
			if d := cmp.Diff(m.StartedAt, got.StartedAt, cmp.Comparer(sameWallTime)); d != "" {
				t.Fatalf("KeepState put of %s: started_at differs (-held +put):\n%s", m.ID, d)
			}
			var wantClosed *time.Time
			if want.Status == c.cfg.StatusClosed {
				wantClosed = &m.UpdatedAt
			}
			if d := cmp.Diff(wantClosed, got.ClosedAt, cmp.Comparer(sameWallTime)); d != "" {
				t.Fatalf("KeepState put of %s: closed_at differs (-held +put):\n%s", m.ID, d)
			}
		}
		r := newCore(cfg, f.snapshot(), t0)
		for _, m := range metas {
			if d := cmp.Diff(c.metaOf(c.issues[m.ID]), r.metaOf(r.issues[m.ID]), exactTimes); d != "" {
				t.Fatalf("restart from the recorded changes differs for %s (-live +restarted):\n%s", m.ID, d)
			}
		}
	})
}

// TestIssueCompact pins the layout the memory budget counts on: a plain issue is one 112-byte
// allocation with no side struct, and one dependency with metadata "" or "{}" stays inline.
func TestIssueCompact(t *testing.T) {
	if n := unsafe.Sizeof(issue{}); n > 112 {
		t.Fatalf("issue is %d bytes, want at most 112 (one size class)", n)
	}
	c := newTestCore(t, testCfg(), iss("a", 1), iss("b", 2, withDep("a", "blocks", "{}")), iss("c", 2, withDep("a", "parent-child")),
		iss("d", 2, withDep("a", "waits-for", `{"gate":"any-children"}`)), iss("e", 2, withLabels("x")))
	for id, wantX := range map[string]bool{"a": false, "b": false, "c": false, "d": true, "e": true} {
		if got := c.issues[id].x != nil; got != wantX {
			t.Errorf("issue %s has a side struct: %v, want %v", id, got, wantX)
		}
	}
	if got := c.readyIDs(0); !cmp.Equal(got, []string{"a", "c", "e"}) { // b waits for a; d for a child of a
		t.Fatalf("ready %v, want [a c e]", got)
	}
}

// TestIssueTimesPacked: updated_at and started_at set by the scheduler (times from the clock, with a
// monotonic reading, in Local) and by puts (any zone) take no allocation of their own and no side
// struct; values that do not pack (a year outside 1678-2262, a priority beyond int32) go to the side
// struct exactly and leave it again when a later put packs.
func TestIssueTimesPacked(t *testing.T) {
	c := newCore(testCfg(), nil, t0)
	now := time.Now() // monotonic reading, Local
	m := IssueMeta{ID: "a", Status: "open", IssueType: "task", Priority: 2, CreatedAt: t0, UpdatedAt: t0.In(zoneEast)}
	it := c.newIssue(m)
	if it.x != nil {
		t.Fatalf("a plain issue has a side struct: %+v", *it.x)
	}
	c.now = now
	if n := testing.AllocsPerRun(100, func() { c.touch(it); c.markStarted(it, now) }); n != 0 {
		t.Errorf("touch and markStarted allocate %.0f times, want 0", n)
	}
	if it.x != nil || !sameWallTime(c.updatedAt(it), now) || !sameWallTime(*c.startedAt(it), now) {
		t.Fatalf("after touch: x %v, updated %v, started %v; want no side struct and %v", it.x, c.updatedAt(it), c.startedAt(it), now)
	}
	later := now.Add(time.Hour)
	c.markStarted(it, later) // started_at is set once
	if !sameWallTime(*c.startedAt(it), now) {
		t.Fatalf("started_at moved to %v", *c.startedAt(it))
	}
	type spillCase struct {
		name     string
		updated  time.Time
		priority int
	}
	cases := []spillCase{
		{"year 1", time.Date(1, 2, 3, 4, 5, 6, 7, zoneWest), 1},
		{"the zero instant in a zone", time.Time{}.In(zoneWest), 1},
		{"year 9999", time.Date(9999, 2, 3, 4, 5, 6, 7, time.UTC), 1},
	}
	if math.MaxInt > math.MaxInt32 { // a priority beyond int32 exists only where int is 64 bits
		cases = append(cases, spillCase{"priority beyond int32", t0, math.MaxInt}, spillCase{"priority below int32", t0, math.MinInt})
	}
	for _, tc := range cases {
		m := m
		m.UpdatedAt, m.Priority = tc.updated, tc.priority
		c.setMeta(it, m)
		if it.flags&fSpill == 0 || it.x == nil || it.x.sp == nil {
			t.Fatalf("%s: not spilled", tc.name)
		}
		if got := c.updatedAt(it); got != tc.updated || it.prio() != tc.priority {
			t.Fatalf("%s: held %v / %d, want %v / %d", tc.name, got, it.prio(), tc.updated, tc.priority)
		}
		if st := c.startedAt(it); st != nil {
			t.Fatalf("%s: started_at %v after a put without one", tc.name, st)
		}
		c.setMeta(it, IssueMeta{ID: "a", Status: "open", IssueType: "task", Priority: 3, CreatedAt: t0, UpdatedAt: t0})
		if it.flags&fSpill != 0 || it.x != nil || it.prio() != 3 || !c.updatedAt(it).Equal(t0) {
			t.Fatalf("%s: a packable put left flags %b, x %v, priority %d, updated %v", tc.name, it.flags, it.x, it.prio(), c.updatedAt(it))
		}
	}
	// Zones: one table entry per zone name and offset, not per *time.Location.
	for range 300 {
		c.setTimes(it, t0.In(time.FixedZone("", -8*3600)), nil, 0)
	}
	if it.flags&fSpill != 0 || len(c.locs.locs) > 4 {
		t.Fatalf("300 parsed -08:00 times: spilled %v, %d locations", it.flags&fSpill != 0, len(c.locs.locs))
	}
}

// TestHeapOrderMatchesTimes: the ready order on the compact CreatedAt is the order the time.Time
// values give (aged created_at with aging on, priority, created_at, id), for times in any Location
// (monotonic readings stripped: see issue).
func TestHeapOrderMatchesTimes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := testCfg()
		cfg.Aging = time.Duration(rapid.SampledFrom([]int64{0, int64(time.Nanosecond), int64(time.Hour)}).Draw(t, "aging"))
		c := newCore(cfg, nil, t0)
		h := &readyHeap{aging: c.cfg.Aging}
		gen := func(id string) (*issue, IssueMeta) {
			m := IssueMeta{ID: id, Status: "open", IssueType: "task", Priority: rapid.IntRange(-2, 4).Draw(t, "prio"),
				CreatedAt: genTime(t, "created").Round(0)}
			if rapid.Bool().Draw(t, "near") { // equal or nearly equal instants in other zones
				m.CreatedAt = t0.Add(time.Duration(rapid.IntRange(-2, 2).Draw(t, "d"))).In(zoneWest)
			}
			return c.newIssue(m), m
		}
		a, ma := gen(rapid.SampledFrom([]string{"a", "b"}).Draw(t, "ida"))
		b, mb := gen(rapid.SampledFrom([]string{"a", "b"}).Draw(t, "idb"))
		want := func(x, y IssueMeta) bool {
			if aging := c.cfg.Aging; aging > 0 {
				ex := x.CreatedAt.Add(time.Duration(x.Priority) * aging)
				ey := y.CreatedAt.Add(time.Duration(y.Priority) * aging)
				if !ex.Equal(ey) {
					return ex.Before(ey)
				}
			}
			if x.Priority != y.Priority {
				return x.Priority < y.Priority
			}
			if !x.CreatedAt.Equal(y.CreatedAt) {
				return x.CreatedAt.Before(y.CreatedAt)
			}
			return x.ID < y.ID
		}
		if got, w := h.less(a, b), want(ma, mb); got != w {
			t.Fatalf("less(%+v, %+v) = %v, want %v", ma, mb, got, w)
		}
	})
}
