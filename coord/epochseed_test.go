package coord

import (
	"testing"

	"github.com/gastown/gtc/beads"
)

// TestRebuiltStoreDoesNotReuseEpochs: a store that has never made a lease but holds issues someone
// claimed (gtc.db lost and rebuilt from issues.jsonl while workers run leases of the lost one) numbers
// its leases from the clock's microseconds, above any epoch the lost store handed out, so no worker is
// handed a new lease under the id of one it still runs; a store with a lease history, or with nothing
// claimed (a new workspace), counts on from where it is. Before, a rebuilt store handed out L-1, L-2, …
// again. A store restored from a backup continues after the floor store.Restore wrote (the epochs of the
// store it replaced), if that is above its own history.
func TestRebuiltStoreDoesNotReuseEpochs(t *testing.T) {
	claimed := func(i *beads.Issue) { i.Status, i.Assignee = "in_progress", "w-old" }
	for _, tc := range []struct {
		name      string
		snap      *Snapshot
		imports   []beads.Issue
		wantAbove int64
		wantBelow int64
	}{
		{name: "rebuilt: a claimed issue imported", imports: []beads.Issue{iss("a", 1), iss("b", 2, claimed)}, wantAbove: t0.UnixMicro() - 1},
		{name: "rebuilt, restarted before any lease", snap: &Snapshot{Issues: []IssueMeta{MetaOf(iss("b", 2, claimed))}},
			imports: []beads.Issue{iss("a", 1)}, wantAbove: t0.UnixMicro() - 1},
		{name: "new workspace", imports: []beads.Issue{iss("a", 1), iss("b", 2)}, wantBelow: 2},
		{name: "store with a lease history", snap: &Snapshot{MaxEpoch: 41, Issues: []IssueMeta{MetaOf(iss("b", 2, claimed))}},
			imports: []beads.Issue{iss("a", 1)}, wantAbove: 41, wantBelow: 43},
		{name: "restored from a backup", snap: &Snapshot{MaxEpoch: 41, Meta: map[string]string{MetaLeaseEpochFloor: "90"}},
			imports: []beads.Issue{iss("a", 1)}, wantAbove: 90, wantBelow: 92},
		{name: "a floor below the history", snap: &Snapshot{MaxEpoch: 41, Meta: map[string]string{MetaLeaseEpochFloor: "7"}},
			imports: []beads.Issue{iss("a", 1)}, wantAbove: 41, wantBelow: 43},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startEngine(t, testCfg(), newMemPersister(tc.snap), NewFakeClock(t0))
			if err := h.e.PutIssues(h.ctx, puts(tc.imports...)); err != nil {
				t.Fatal(err)
			}
			if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
				t.Fatal(err)
			}
			l := h.nextPush().A.Lease
			if l.IssueID != "a" || l.Epoch <= tc.wantAbove || tc.wantBelow != 0 && l.Epoch >= tc.wantBelow {
				t.Fatalf("first lease %s on %s, epoch %d: want above %d and below %d", l.ID, l.IssueID, l.Epoch, tc.wantAbove, tc.wantBelow)
			}
			if l.Epoch >= 1<<53 {
				t.Fatalf("epoch %d is not exact in a JavaScript number", l.Epoch)
			}
		})
	}
}
