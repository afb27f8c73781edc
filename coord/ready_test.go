package coord

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

func TestReadyRules(t *testing.T) {
	later := t0.Add(time.Hour)
	past := t0.Add(-time.Hour)
	tests := []struct {
		name  string
		is    []beads.Issue
		ready []string
	}{
		{"open is ready", []beads.Issue{iss("a", 2)}, []string{"a"}},
		{"statuses", []beads.Issue{iss("a", 2, withStatus("in_progress")), iss("b", 2, withStatus("closed")),
			iss("c", 2, withStatus("tombstone")), iss("d", 2, withStatus("hooked")), iss("e", 2, withStatus("deferred")),
			iss("f", 2, withStatus(""))}, []string{"f"}},
		{"pinned ephemeral", []beads.Issue{iss("a", 2, func(i *beads.Issue) { i.Pinned = true }),
			iss("b", 2, func(i *beads.Issue) { i.Ephemeral = true })}, nil},
		{"workflow types and ids", []beads.Issue{iss("a", 2, withType("gate")), iss("b", 2, withType("molecule")),
			iss("c", 2, withType("merge-request")), iss("x-mol-1", 2), iss("x-wisp-2", 2), iss("e", 2, withType("epic")),
			iss("f", 2, withType(""))}, []string{"e", "f"}},
		{"defer_until", []beads.Issue{iss("a", 2, func(i *beads.Issue) { i.DeferUntil = &later }),
			iss("b", 2, func(i *beads.Issue) { i.DeferUntil = &past })}, []string{"b"}},
		{"blocks by status", []beads.Issue{
			iss("a1", 2, withDep("b-open", "blocks")), iss("b-open", 2),
			iss("a2", 2, withDep("b-closed", "blocks")), iss("b-closed", 2, withStatus("closed")),
			iss("a3", 2, withDep("b-hooked", "blocks")), iss("b-hooked", 2, withStatus("hooked")),
			iss("a4", 2, withDep("b-pinned", "blocks")), iss("b-pinned", 2, withStatus("pinned")),
			iss("a5", 2, withDep("b-custom", "blocks")), iss("b-custom", 2, withStatus("in_review")),
			iss("a6", 2, withDep("b-tomb", "blocks")), iss("b-tomb", 2, withStatus("tombstone")),
			iss("a7", 2, withDep("nowhere", "blocks")),
			iss("a8", 2, withDep("b-deferred", "blocks")), iss("b-deferred", 2, withStatus("deferred")),
			iss("a9", 2, withDep("b-open", "related"), withDep("b-open", "blocked-by")),
		}, []string{"a2", "a4", "a5", "a6", "a7", "a9", "b-open"}},
		{"conditional-blocks", []beads.Issue{
			iss("a1", 2, withDep("b1", "conditional-blocks")), iss("b1", 2, withStatus("closed"), withReason("done")),
			iss("a2", 2, withDep("b2", "conditional-blocks")), iss("b2", 2, withStatus("closed"), withReason("Build FAILED")),
			iss("a3", 2, withDep("b3", "conditional-blocks")), iss("b3", 2, withStatus("in_progress")),
			iss("a4", 2, withDep("b4", "conditional-blocks")), iss("b4", 2, withStatus("hooked")),
			iss("a5", 2, withDep("b5", "conditional-blocks")), iss("b5", 2, withStatus("closed"), withReason("won't fix")),
		}, []string{"a2", "a4", "a5"}},
		{"parent-child propagation", []beads.Issue{
			iss("p", 2, withDep("blk", "blocks")), iss("blk", 2, withStatus("in_progress")),
			iss("c", 2, withDep("p", "parent-child")), iss("g", 2, withDep("c", "parent-child")),
			iss("q", 2), iss("qc", 2, withDep("q", "parent-child")),
		}, []string{"q", "qc"}},
		{"waits-for all-children", []beads.Issue{
			iss("s", 2, withStatus("closed")), iss("k1", 2, withDep("s", "parent-child"), withStatus("closed")),
			iss("k2", 2, withDep("s", "parent-child"), withStatus("in_progress")),
			iss("gate", 2, withDep("s", "waits-for", `{"gate":"all-children"}`)),
			iss("gate2", 2, withDep("zz", "waits-for", `{"gate":"all-children","spawner_id":"s2"}`)),
			iss("s2", 2, withStatus("closed")), iss("m1", 2, withDep("s2", "parent-child"), withStatus("closed")),
		}, []string{"gate2"}},
		{"waits-for any-children", []beads.Issue{
			iss("s", 2, withStatus("closed")), iss("k1", 2, withDep("s", "parent-child"), withStatus("closed")),
			iss("k2", 2, withDep("s", "parent-child"), withStatus("in_progress")),
			iss("gate", 2, withDep("s", "waits-for", `{"gate":"any-children"}`)),
			iss("gate0", 2, withDep("lonely", "waits-for", `{"gate":"any-children"}`)), iss("lonely", 2, withStatus("closed")),
		}, []string{"gate"}},
		{"priority then created then id", []beads.Issue{
			iss("z", 0, withCreated(t0.Add(-time.Minute))), iss("b", 4), iss("a", 2), iss("c", 2),
			iss("d", 2, withCreated(t0.Add(-2*time.Hour))), iss("e", 1),
		}, []string{"z", "e", "d", "a", "c", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCore(t, testCfg(), tt.is...)
			got := c.readyIDs(0)
			if tt.name != "priority then created then id" {
				sort.Strings(got)
			}
			if !slices.Equal(got, tt.ready) {
				t.Fatalf("ready = %v, want %v", got, tt.ready)
			}
			if want := refReady(tt.is, t0, DefaultWorkflowTypes); len(tt.ready) != len(want) {
				t.Fatalf("reference disagrees: %v vs %v", want, tt.ready)
			}
		})
	}
}

func TestReadyDepthLimit(t *testing.T) {
	// blocked root, then a chain of 52 children: depth 0..51; depth 51 is beyond bd's limit.
	is := []beads.Issue{iss("blk", 2, withStatus("blocked")), iss("n00", 2, withDep("blk", "blocks"))}
	for i := 1; i <= 52; i++ {
		is = append(is, iss(name(i), 2, withDep(name(i-1), "parent-child")))
	}
	c := newTestCore(t, testCfg(), is...)
	got := c.readyIDs(0)
	want := []string{name(51), name(52)}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ready = %v, want %v", got, want)
	}
}

func name(i int) string { return "n" + string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestReadyIncremental(t *testing.T) {
	c := newTestCore(t, testCfg(),
		iss("blk", 1), iss("a", 2, withDep("blk", "blocks")), iss("ac", 2, withDep("a", "parent-child")),
		iss("s", 2), iss("k", 2, withDep("s", "parent-child")), iss("gate", 3, withDep("s", "waits-for")))
	assertReady := func(want ...string) {
		t.Helper()
		got := c.readyIDs(0)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("ready = %v, want %v", got, want)
		}
	}
	assertReady("blk", "k", "s")
	// closing the blocker frees a and its child
	_ = c.putIssues(t0, puts(iss("blk", 1, withStatus("closed"))))
	assertReady("a", "ac", "k", "s")
	// closing the only child of s opens the gate
	_ = c.putIssues(t0, puts(iss("k", 2, withDep("s", "parent-child"), withStatus("closed"))))
	assertReady("a", "ac", "gate", "s")
	// a new dependency edge blocks a again, and its child
	_ = c.putIssues(t0, puts(iss("a", 2, withDep("s", "blocks"))))
	assertReady("gate", "s")
	// a blocker that appears later (dangling edge resolved) blocks
	_ = c.putIssues(t0, puts(iss("gate", 3, withDep("s", "waits-for"), withDep("late", "blocks")), iss("late", 0)))
	assertReady("late", "s")
	st := c.status()
	if st.Issues.Ready != 2 || st.Issues.Closed != 2 || st.Issues.Blocked != 3 || st.Issues.Total != 7 {
		t.Fatalf("status = %+v", st.Issues)
	}
}

// refReady is a plain, non-incremental reference of classic `bd ready` (beads-jsonl.md §18), with the
// issues gtc hands out besides: hooked to a named worker (Gas Town's sling).
func refReady(is []beads.Issue, now time.Time, workflow []string) []string {
	byID := map[string]*beads.Issue{}
	for i := range is {
		byID[is[i].ID] = &is[i]
	}
	status := func(x *beads.Issue) string {
		if x.Status == "" {
			return "open"
		}
		return x.Status
	}
	children := func(p string) []*beads.Issue {
		var out []*beads.Issue
		for i := range is {
			for _, d := range is[i].Dependencies {
				if d.Type == "parent-child" && d.DependsOnID == p {
					out = append(out, &is[i])
				}
			}
		}
		return out
	}
	direct := map[string]bool{}
	for i := range is {
		x := &is[i]
		for _, d := range x.Dependencies {
			b := byID[d.DependsOnID]
			switch d.Type {
			case "blocks":
				if b != nil && slices.Contains([]string{"open", "in_progress", "blocked", "deferred", "hooked"}, status(b)) {
					direct[x.ID] = true
				}
			case "conditional-blocks":
				if b != nil && (slices.Contains([]string{"open", "in_progress", "blocked", "deferred"}, status(b)) ||
					status(b) == "closed" && !isFailureReason(b.CloseReason)) {
					direct[x.ID] = true
				}
			case "waits-for":
				sp := d.DependsOnID
				if v := jsonField(d.Metadata, "spawner_id"); v != "" {
					sp = v
				}
				gate := jsonField(d.Metadata, "gate")
				open, closed := false, false
				for _, ch := range children(sp) {
					if s := status(ch); s == "closed" || s == "tombstone" {
						closed = true
					} else {
						open = true
					}
				}
				if gate == "any-children" && !closed || gate != "any-children" && open {
					direct[x.ID] = true
				}
			}
		}
	}
	blocked := map[string]bool{}
	type qe struct {
		id string
		d  int
	}
	var q []qe
	for id := range direct {
		q = append(q, qe{id, 0})
	}
	best := map[string]int{}
	for len(q) > 0 {
		e := q[0]
		q = q[1:]
		if d, ok := best[e.id]; ok && d <= e.d {
			continue
		}
		best[e.id] = e.d
		blocked[e.id] = true
		if e.d < 50 {
			for _, ch := range children(e.id) {
				q = append(q, qe{ch.ID, e.d + 1})
			}
		}
	}
	var out []string
	for i := range is {
		x := &is[i]
		// gtc hands out bd's ready issues and the slung ones: hooked to a named worker by Gas Town's
		// sling, with no lease of gtc's (bd ready leaves those out; gtc pushes them to that worker)
		slung := status(x) == "hooked" && x.Assignee != ""
		if status(x) != "open" && !slung || x.Pinned || x.Ephemeral || slices.Contains(workflow, x.IssueType) ||
			strings.Contains(x.ID, "-mol-") || strings.Contains(x.ID, "-wisp-") || !SafeID(x.ID) ||
			x.DeferUntil != nil && x.DeferUntil.After(now) || blocked[x.ID] {
			continue
		}
		out = append(out, x.ID)
	}
	sort.Strings(out)
	return out
}

func jsonField(s, k string) string {
	var m map[string]any
	if json.Unmarshal([]byte(s), &m) != nil {
		return ""
	}
	v, _ := m[k].(string)
	return v
}

func TestReadyCorpora(t *testing.T) {
	dir := testdataDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Skip("no corpora")
	}
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			is := loadCorpus(t, f)
			c := newCore(testCfg(), nil, now)
			if err := c.putIssues(now, puts(is...)); err != nil {
				t.Fatal(err)
			}
			got := c.readyIDs(0)
			sort.Strings(got)
			want := refReady(is, now, DefaultWorkflowTypes)
			if !slices.Equal(got, want) {
				t.Fatalf("ready: %d ids, reference %d; first diff %v", len(got), len(want), firstDiff(got, want))
			}
			// The same corpus loaded from a snapshot (restart path) gives the same ready order.
			snap := &Snapshot{}
			for _, x := range is {
				snap.Issues = append(snap.Issues, MetaOf(x))
			}
			c2 := newCore(testCfg(), snap, now)
			if a, b := c.readyIDs(0), c2.readyIDs(0); !slices.Equal(a, b) {
				t.Fatalf("restart changed ready order")
			}
			t.Logf("%d issues, %d ready", len(is), len(got))
		})
	}
}

func firstDiff(a, b []string) string {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return "got " + x + " want " + y
		}
	}
	return ""
}

// An issue whose key changes while ready, with a ready dependent refreshed in the same change, leaves
// every heap in order. The dependent used to be re-sifted past the issue's changed key: with
// [a p0, d p1 waits-for a, e p0, f p3] and a moved to p1, d rose to the top above e.
func TestReadyHeapKeyChange(t *testing.T) {
	for _, status := range []string{"open", "deferred", "closed"} {
		min := func(m int) func(*beads.Issue) { return withCreated(t0.Add(-time.Duration(m) * time.Minute)) }
		c := newTestCore(t, testCfg(), iss("a", 0, min(40), withLabels("x")),
			iss("d", 1, min(60), withLabels("x"), withDep("a", "waits-for")),
			iss("e", 0, min(30), withLabels("x")), iss("f", 3, min(20), withLabels("x")))
		c.labelHeap("x")
		if err := c.putIssues(t0, puts(iss("a", 1, min(40), withLabels("x"), withStatus(status)))); err != nil {
			t.Fatal(err)
		}
		if err := heapsOrdered(c); err != "" {
			t.Fatalf("a to p1 and %s: %s", status, err)
		}
		want := []string{"e", "d", "a", "f"}
		if status != "open" {
			want = []string{"e", "d", "f"}
		}
		if got := c.readyIDs(0); !slices.Equal(got, want) {
			t.Fatalf("a to p1 and %s: ready in order %v, want %v", status, got, want)
		}
	}
}

// TestRevIndexOrder: with position indexes (from a few entries on), the reverse-edge lists keep
// exactly the order of a plain list where a removal takes the first equal entry and moves the last
// one to its place (the order recompute visits issues in); repeated edges of one issue included.
func TestRevIndexOrder(t *testing.T) {
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 3))
		c := newCore(testCfg(), nil, t0)
		c.revIndexAt = 1 + rnd.IntN(6)
		from := make([]*issue, 6)
		for i := range from {
			from[i] = &issue{id: fmt.Sprint("f", i)}
		}
		targets := []string{"a", "b", "c"}
		plain := map[string][]revEdge{}
		for step := range 3000 {
			target := targets[rnd.IntN(len(targets))]
			list := plain[target]
			r := revEdge{from: from[rnd.IntN(len(from))], kind: uint8(edgeBlocks + rnd.IntN(4))}
			if rnd.IntN(5) < 2 || len(list) == 0 {
				c.revAdd(target, r)
				plain[target] = append(list, r)
			} else {
				if rnd.IntN(4) > 0 {
					r = list[rnd.IntN(len(list))]
				}
				c.revDel(target, r)
				if i := slices.Index(list, r); i >= 0 {
					list[i] = list[len(list)-1]
					list = list[:len(list)-1]
				}
				if plain[target] = list; len(list) == 0 {
					delete(plain, target)
				}
			}
			for _, tg := range targets {
				if !slices.Equal(c.rev[tg], plain[tg]) {
					t.Fatalf("seed %d step %d: %s holds %v, want %v", seed, step, tg, c.rev[tg], plain[tg])
				}
				idx, n := c.revIdx[tg], len(plain[tg])
				if idx == nil && n >= c.revIndexAt || idx != nil && n < c.revIndexAt/2 {
					t.Fatalf("seed %d step %d: %s has %d entries, index %v", seed, step, tg, n, idx)
				}
				if idx == nil {
					continue
				}
				want := revIndex{}
				for i, x := range plain[tg] {
					want.note(x, i)
				}
				if !maps.Equal(idx, want) {
					t.Fatalf("seed %d step %d: index of %s %v, want %v", seed, step, tg, idx, want)
				}
			}
		}
	}
}
