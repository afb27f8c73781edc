package coord_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// TestConvoyReopensWhenWorkComesBack: the tracking issue gtc closed as its convoy completed opens again
// when the convoy has an open issue again — one labelled into it afterwards, one reopened by hand, one a
// merge sent back for rework — so an issue depending on the convoy waits for it again; one a person
// closed stays closed. It stayed closed: a user trial's `convoy show` said "80% (4 of 5 closed) …
// tracking issue closed", and an issue blocked by the tracking issue was handed out with the convoy's
// work still open.
func TestConvoyReopensWhenWorkComesBack(t *testing.T) {
	later := mt0.Add(time.Minute)
	for _, tc := range []struct {
		name        string
		closeByHand bool // the tracking issue was closed by a person, not by completion
		back        func(h *mh)
		wantOpen    bool
	}{
		{"an issue joins after completion", false, func(h *mh) { h.put(task("gt-3", 2, "convoy:alpha")) }, true},
		{"a member reopened through gtc", false, func(h *mh) {
			p := task("gt-1", 2, "convoy:alpha")
			p.Issue.UpdatedAt = later
			h.put(p)
		}, true},
		{"a member reopened in the file", false, func(h *mh) {
			p := task("gt-1", 2, "convoy:alpha")
			p.Issue.UpdatedAt, p.FromImport = later, true
			h.put(p)
		}, true},
		{"a merge sends a closed member back", false, func(h *mh) {
			h.hello("c", "client", 1)
			a, err := h.e.Claim(h.ctx, "c", nil, 0)
			if err != nil || a == nil || a.Lease.IssueID != "gt-4" {
				t.Fatalf("claim: %+v %v", a, err)
			}
			if _, err := h.e.MergeSubmit(h.ctx, "c", coord.MergeSubmit{IssueID: "gt-4", Branch: "b/gt-4", LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.e.Complete(h.ctx, "c", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: "code_complete"}); err != nil {
				t.Fatal(err)
			}
			if p, _ := h.e.ConvoyShow("alpha"); !p.Complete || p.Tracking != "closed" {
				t.Fatalf("code complete (closed, no code-complete status) did not complete the convoy: %+v", p)
			}
			h.hello("r", coord.RoleRefinery, 2)
			m := h.nextMerge()
			if _, err := h.e.MergeReport(h.ctx, "r", m.req.ID, m.req.Epoch, coord.MergeResult{Conflicts: []string{"a.go"}}); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"closed by a person stays closed", true, func(h *mh) { h.put(task("gt-3", 2, "convoy:alpha")) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
			h := runMerge(t, mergeCfg(), db, nil, mt0)
			closed := func(id string) coord.IssuePut {
				p := task(id, 2)
				p.Issue.Status, p.Issue.ClosedAt = "closed", &mt0
				return p
			}
			h.put(closed("gt-1"), closed("gt-2"), task("gt-4", 2))
			if _, err := h.e.ConvoyCreate(h.ctx, coord.ConvoyCreate{Name: "alpha", TrackingID: "gt-cv", IssueIDs: []string{"gt-1", "gt-2", "gt-4"}}); err != nil {
				t.Fatal(err)
			}
			ship := task("gt-ship", 0)
			ship.Issue.Dependencies = []beads.Dependency{{IssueID: "gt-ship", DependsOnID: "gt-cv", Type: "blocks"}}
			h.put(ship)
			if tc.closeByHand {
				cv, _, err := db.GetIssue(h.ctx, "gt-cv")
				if err != nil {
					t.Fatal(err)
				}
				cv.Status, cv.CloseReason, cv.ClosedAt, cv.UpdatedAt = "closed", "abandoned", &mt0, mt0
				h.put(coord.IssuePut{Issue: cv})
			} else if tc.name != "a merge sends a closed member back" {
				h.put(func() coord.IssuePut {
					p := closed("gt-4")
					p.Issue.Labels = []string{"convoy:alpha"}
					p.Issue.UpdatedAt = mt0
					return p
				}())
			}
			if tc.name != "a merge sends a closed member back" {
				if p, _ := h.e.ConvoyShow("alpha"); p.Tracking != "closed" {
					t.Fatalf("tracking issue not closed before: %+v", p)
				}
			}
			tc.back(h)
			p, err := h.e.ConvoyShow("alpha")
			if err != nil {
				t.Fatal(err)
			}
			if p.Complete {
				t.Fatalf("convoy complete with work back: %+v", p)
			}
			want := "closed"
			if tc.wantOpen {
				want = "open"
			}
			if p.Tracking != want {
				t.Errorf("tracking issue %s with %d of %d closed, want %s", p.Tracking, p.Closed, p.Total, want)
			}
			if is, _, err := db.GetIssue(h.ctx, "gt-cv"); err != nil || is.Status != want {
				t.Errorf("stored tracking issue %s (%v), want %s", is.Status, err, want)
			}
			if tc.wantOpen && slices.Contains(h.e.Ready(0), "gt-ship") {
				t.Errorf("gt-ship, blocked by the convoy, is ready with the convoy's work open")
			}
		})
	}
}

// TestConvoyDeletedMemberIsNotWork: a work issue deleted (tombstone) after it joined a convoy is not
// counted: the convoy completes once the others are closed, and deleting a member of a completed
// convoy leaves it complete. It was counted as open for good: a user trial's convoy stayed at "50% (1
// of 2 closed, … 1 open)" with its one other issue deleted, its tracking issue never closed — the
// state convoy.create refuses to start in ("a convoy of it would never land").
func TestConvoyDeletedMemberIsNotWork(t *testing.T) {
	for _, tc := range []struct {
		name      string
		before    []string // statuses of gt-1, gt-2 before the delete
		wantTotal int
	}{
		{"the last open member deleted", []string{"closed", "open"}, 1},
		{"a member of a completed convoy deleted", []string{"closed", "closed"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
			h := runMerge(t, mergeCfg(), db, nil, mt0)
			var ps []coord.IssuePut
			for i, st := range tc.before {
				p := task(fmt.Sprintf("gt-%d", i+1), 2)
				p.Issue.Status = st
				if st == "closed" {
					p.Issue.ClosedAt = &mt0
				}
				ps = append(ps, p)
			}
			h.put(ps...)
			if _, err := h.e.ConvoyCreate(h.ctx, coord.ConvoyCreate{Name: "alpha", TrackingID: "gt-cv", IssueIDs: []string{"gt-1", "gt-2"}}); err != nil {
				t.Fatal(err)
			}
			del := task("gt-2", 2, "convoy:alpha")
			del.Issue.Status, del.Issue.UpdatedAt = "tombstone", mt0.Add(time.Minute)
			h.put(del)
			p, err := h.e.ConvoyShow("alpha")
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != tc.wantTotal || !p.Complete || p.Tracking != "closed" || p.Open != 0 {
				t.Errorf("progress %+v: want %d issue(s), complete, tracking closed", p, tc.wantTotal)
			}
			if is, _, err := db.GetIssue(h.ctx, "gt-cv"); err != nil || is.Status != "closed" {
				t.Errorf("stored tracking issue %s (%v), want closed", is.Status, err)
			}
		})
	}
}
