package coord

import (
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// TestLoadEndsLeasesTheStoreNoLongerBacks: a live lease whose issue was changed where no engine saw it
// (`gtc import` with no server running wrote a close or a reopen from the file) is ended at the start,
// as the running server ends one when an import changes its issue: cancelled, the issue left as the
// file says. Before, the lease stayed live on a closed issue and its grace then reopened the issue.
func TestLoadEndsLeasesTheStoreNoLongerBacks(t *testing.T) {
	for _, tc := range []struct {
		name, status, assignee string
		wantPush               bool // the issue is ready again and pushed to the idle worker
	}{
		{name: "closed by hand", status: "closed"},
		{name: "reopened for anyone", status: "open", wantPush: true},
		{name: "given to another worker", status: "in_progress", assignee: "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := newMemPersister(nil)
			clk := NewFakeClock(t0)
			h := startEngine(t, testCfg(), mp, clk)
			l := h.ackedLease()
			h.stop()

			// what an import with no engine writes: the file's version of the issue, newer
			clk.Advance(time.Minute)
			is := iss("a", 1, withStatus(tc.status), func(i *beads.Issue) {
				i.Assignee, i.UpdatedAt = tc.assignee, clk.Now()
				if tc.status == "closed" {
					at := clk.Now()
					i.ClosedAt = &at
				}
			})
			if err := mp.Commit(h.ctx, []Change{IssuePut{Issue: is, FromImport: true}}); err != nil {
				t.Fatal(err)
			}

			h2 := startEngine(t, testCfg(), mp, clk)
			if _, err := h2.e.Connect(h2.ctx, Hello{Name: "w2"}, 2); err != nil {
				t.Fatal(err)
			}
			if liveLeaseIn(t, mp, l.ID) {
				t.Fatalf("lease %s still live on an issue the store says is %s (assignee %q)", l.ID, tc.status, tc.assignee)
			}
			if tc.wantPush {
				if p := h2.nextPush(); p.A.Lease.IssueID != "a" || p.Worker != "w2" {
					t.Fatalf("pushed %+v, want a to w2", p)
				}
			} else {
				h2.noPush()
			}
			clk.Advance(2 * time.Minute) // past every grace and deadline of the old lease
			_ = h2.e.PutIssues(h2.ctx, puts(iss("z", 3)))
			snap, _ := mp.Load(h2.ctx)
			for _, m := range snap.Issues {
				if m.ID == "a" && !tc.wantPush && (m.Status != tc.status || m.Assignee != tc.assignee) {
					t.Fatalf("issue a became %s (assignee %q), the file said %s (%q)", m.Status, m.Assignee, tc.status, tc.assignee)
				}
			}
		})
	}
}
