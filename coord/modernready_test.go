package coord

import (
	"slices"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestModernReadyRules: with bd v1's rules (Config.ModernReady) a blocker in a custom status holds its
// dependents, any close ends a conditional-blocks edge, and the children of a parent deferred to later
// wait for it; classic rules say the opposite in each case. Switching at run time re-evaluates
// everything (a workspace whose file turned out to be bd v1's).
func TestModernReadyRules(t *testing.T) {
	later := t0.Add(time.Hour)
	withDefer := func(i *beads.Issue) { i.DeferUntil = &later }
	c := newTestCore(t, testCfg(),
		iss("t-review", 1, withStatus("in_review")),
		iss("t-after-review", 2, withDep("t-review", "blocks")),
		iss("t-merged", 1, withStatus("closed"), withReason("Done, merged")),
		iss("t-cond", 2, withDep("t-merged", "conditional-blocks")),
		iss("t-epic", 1, withDefer),
		iss("t-child", 2, withDep("t-epic", "parent-child")),
	)
	ready := func() []string { r := c.readyIDs(0); slices.Sort(r); return r }
	if got, want := ready(), []string{"t-after-review", "t-child"}; !slices.Equal(got, want) {
		t.Fatalf("classic rules: ready %v, want %v", got, want)
	}
	c.setModernReady(t0, true)
	if got, want := ready(), []string{"t-cond"}; !slices.Equal(got, want) {
		t.Fatalf("bd v1 rules: ready %v, want %v", got, want)
	}
	if got := c.readiness(c.issues["t-child"]); got != "not ready: its parent t-epic is deferred until "+later.UTC().Format(time.RFC3339)+" (bd v1 hides the children of a deferred parent)" {
		t.Errorf("t-child: %q", got)
	}
	// the parent's deferral ends: its child becomes ready at that time, by itself
	c.tick(later.Add(time.Second))
	if got, want := ready(), []string{"t-child", "t-cond", "t-epic"}; !slices.Equal(got, want) {
		t.Fatalf("after the epic's deferral: ready %v, want %v", got, want)
	}
	c.setModernReady(later.Add(time.Second), false)
	if got, want := ready(), []string{"t-after-review", "t-child", "t-epic"}; !slices.Equal(got, want) {
		t.Fatalf("back to classic rules: ready %v, want %v", got, want)
	}
}
