package coord

import (
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestReadinessSaysWhy: issue show's "ready" row names the rule that holds an issue back (Gas Town user
// trial: a deferred issue or the child of a blocked epic showed no reason).
func TestReadinessSaysWhy(t *testing.T) {
	future := t0.Add(48 * time.Hour)
	withAssignee := func(a string) func(*beads.Issue) { return func(i *beads.Issue) { i.Assignee = a } }
	withDefer := func(i *beads.Issue) { i.DeferUntil = &future }
	c := newTestCore(t, testCfg(),
		iss("t-ready", 1),
		iss("t-mine", 1, withAssignee("alice")),
		iss("t-busy", 1, withStatus("in_progress")),
		iss("t-blocked", 2, withDep("t-busy", "blocks")),
		iss("t-epic", 2, withDep("t-busy", "blocks")),
		iss("t-child", 2, withDep("t-epic", "parent-child")),
		iss("t-later", 2, withDefer),
		iss("t-mol", 2, withType("molecule")),
		iss("t-done", 2, withStatus("closed"), withReason("done")),
		iss("t-cond", 2, withDep("t-done", "conditional-blocks")),
		iss("../../evil", 0), // imported from a hand-written line: never handed out
	)
	for id, want := range map[string]string{
		"t-ready":    "ready",
		"t-mine":     "ready, for alice only",
		"t-busy":     "not ready: status in_progress",
		"t-blocked":  "not ready: blocked by t-busy (in_progress)",
		"t-child":    "not ready: its parent t-epic is held back (blocked by t-busy (in_progress))",
		"t-later":    "not ready: deferred until " + future.UTC().Format(time.RFC3339),
		"t-mol":      "not ready: type molecule is never handed out",
		"t-done":     "not ready: closed",
		"t-cond":     "not ready: conditional on t-done (closed, done)",
		"../../evil": "not ready: its id is not one gtc hands out",
	} {
		if got := c.readiness(c.issues[id]); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want it to start with %q", id, got, want)
		}
	}
	// paused, a ready issue is ready but not handed out, and says so (fleet trial: issue show said ready)
	c.pause(t0, true, "")
	if got, want := c.readiness(c.issues["t-ready"]), "ready, but nothing is handed out while the coordinator is paused (gtc resume)"; got != want {
		t.Errorf("paused: %q, want %q", got, want)
	}
}

// TestReadinessNamesWhyTheAssigneeDoesNotTakeIt: an issue assigned to one worker says why that worker
// does not take it when the scheduler can see why: not connected, a refinery, drained, or its hello's
// filters leaving the issue out. Before, it said "for tsblk only" while tsblk sat idle, connected, its
// label filter excluding the issue (TypeScript fleet trial).
func TestReadinessNamesWhyTheAssigneeDoesNotTakeIt(t *testing.T) {
	withAssignee := func(a string) func(*beads.Issue) { return func(i *beads.Issue) { i.Assignee = a } }
	c := newTestCore(t, testCfg(),
		iss("t-away", 1, withAssignee("away")),
		iss("t-filt", 1, withAssignee("picky"), withType("bug")),
		iss("t-ref", 1, withAssignee("ref")),
		iss("t-drained", 1, withAssignee("tired")),
	)
	for _, h := range []Hello{
		{Name: "picky", Capacity: 1, Filters: Filters{Labels: []string{"blk"}, Types: []string{"task"}}},
		{Name: "ref", Role: RoleRefinery, Capacity: 1},
		{Name: "tired", Capacity: 1},
	} {
		if _, err := c.connect(t0, h, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.drain(t0, "tired", false, 0, ""); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"t-away":    "ready, for away only: it is assigned to that worker, which is not connected",
		"t-filt":    "ready, for picky only: it is assigned to that worker, whose filters leave it out (labels blk; types task)",
		"t-ref":     "ready, for ref only: it is assigned to that worker, which is connected as a refinery (only workers are pushed issues)",
		"t-drained": "ready, for tired only: it is assigned to that worker, which is draining (gtc drain --undo tired)",
	} {
		if got := c.readiness(c.issues[id]); got != want {
			t.Errorf("%s: %q, want %q", id, got, want)
		}
	}
}
