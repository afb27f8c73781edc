package coord

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestFilteredSearchMatchesAScan: a search filtered on id prefixes or types whose matches rank below
// hundreds of other ready issues (so it walks the heaps of its alternatives instead of the global
// heap) returns what a scan of every ready issue returns, while issues are added, closed and changed
// type, and after an idle heap was dropped.
func TestFilteredSearchMatchesAScan(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	var is []beads.Issue
	for i := range 1500 {
		is = append(is, iss(fmt.Sprintf("a-%04d", i), 1))
	}
	for i := range 30 {
		is = append(is, iss(fmt.Sprintf("b-%02d", i), 3), iss(fmt.Sprintf("c-%02d", i), 2, withType("bug")))
	}
	c := newTestCore(t, testCfg(), is...)
	filters := []Filters{{Prefixes: []string{"b-"}}, {Prefixes: []string{"b-", "c-"}}, {Types: []string{"bug"}},
		{Prefixes: []string{"c-"}, Types: []string{"bug"}}, {Prefixes: []string{"zz-"}}}
	scan := func(f *Filters) *issue {
		ok := func(it *issue) bool { return c.mayTake(it, "w") && c.matches(it, f) }
		return c.bestAmong(c.heap.items, ok)
	}
	check := func(step int) {
		t.Helper()
		for i := range filters {
			f := &filters[i]
			got, want := c.best("w", f, false), scan(f)
			if got != want {
				t.Fatalf("step %d, filter %+v: best %v, a scan %v", step, *f, idOf(got), idOf(want))
			}
		}
	}
	check(0)
	if len(c.altHeaps) == 0 {
		t.Fatal("no prefix or type heap was built for searches past hundreds of other issues")
	}
	now := t0
	for step := 1; step <= 300; step++ {
		now = now.Add(time.Second)
		var put beads.Issue
		switch op := rnd.IntN(4); op {
		case 0: // a new issue, sometimes ranked first
			put = iss(fmt.Sprintf("%c-n%03d", "abc"[rnd.IntN(3)], step), rnd.IntN(4))
		case 1: // close a ready one
			it := c.heap.items[rnd.IntN(c.heap.Len())]
			put = iss(it.id, 1, withStatus("closed"))
		case 2: // a ready one changes type
			it := c.heap.items[rnd.IntN(c.heap.Len())]
			put = iss(it.id, 2, withType([]string{"bug", "task"}[rnd.IntN(2)]))
		case 3: // priority change
			it := c.heap.items[rnd.IntN(c.heap.Len())]
			put = iss(it.id, rnd.IntN(4), withType(c.str(it.itype)))
		}
		put.UpdatedAt = now
		if err := c.putIssues(now, puts(put)); err != nil {
			t.Fatal(err)
		}
		c.take()
		check(step)
	}
	// an hour without a search: the next add drops every such heap and the positions it kept
	now = now.Add(time.Hour)
	if err := c.putIssues(now, puts(iss("a-late", 1, func(i *beads.Issue) { i.UpdatedAt = now }))); err != nil {
		t.Fatal(err)
	}
	c.take()
	if len(c.altHeaps) != 0 {
		t.Fatalf("%d idle prefix/type heaps kept", len(c.altHeaps))
	}
	for _, it := range c.heap.items {
		if it.x != nil && len(it.x.lheaps) != 0 {
			t.Fatalf("issue %s still holds a position in a dropped heap", it.id)
		}
	}
	check(301)
}

func idOf(it *issue) string {
	if it == nil {
		return "<nil>"
	}
	return it.id
}
