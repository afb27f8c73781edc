package coord

import (
	"testing"

	"github.com/gastown/gtc/beads"
)

// TestConvoyCreateCompletion: convoy.create decides completion once every issue carries the label —
// over a closed and an open issue the tracking issue stays open (it was closed as soon as the closed
// one was labelled), and over issues all closed already it is closed at once (it stayed open for good).
func TestConvoyCreateCompletion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		issues    []IssuePut
		complete  bool
		trackWant string
	}{
		{"closed and open", puts(iss("a", 1, withStatus("closed")), iss("b", 1)), false, "open"},
		{"all closed, labelled before", puts(iss("a", 1, withStatus("closed"), withLabels("convoy:x"))), true, "closed"},
		{"all closed", puts(iss("a", 1, withStatus("closed")), iss("b", 1, withStatus("closed"))), true, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startEngine(t, testCfg(), newMemPersister(nil), NewFakeClock(t0))
			if err := h.e.PutIssues(h.ctx, tc.issues); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range tc.issues {
				ids = append(ids, p.Issue.ID)
			}
			p, err := h.e.ConvoyCreate(h.ctx, ConvoyCreate{Name: "x", IssueIDs: ids})
			if err != nil {
				t.Fatal(err)
			}
			if p.Complete != tc.complete || p.Tracking != tc.trackWant {
				t.Fatalf("progress %+v: want complete %v, tracking %s", p, tc.complete, tc.trackWant)
			}
		})
	}
}

// TestGasTownConvoysAreListed: a Gas Town convoy — a tracking bead of type convoy with tracks edges to
// its work beads — is listed and shown by its id with the tracked issues' progress (Gas Town user
// trial: convoy list did not see them and convoy show answered not found).
func TestGasTownConvoysAreListed(t *testing.T) {
	c := newTestCore(t, testCfg(),
		iss("gt-a", 1, withStatus("closed")),
		iss("gt-b", 1, withStatus("in_progress")),
		iss("gt-c", 2),
		iss("hq-cv-abcde", 2, withType("convoy"), withDep("gt-a", "tracks"), func(i *beads.Issue) {
			i.Dependencies = append(i.Dependencies, beads.Dependency{IssueID: "hq-cv-abcde", DependsOnID: "gt-b", Type: "tracks"})
		}),
		iss("hq-other", 2, withType("convoy")), // no tracks edge: not a convoy to show
	)
	list := c.convoyList()
	if len(list) != 1 {
		t.Fatalf("convoys %+v, want hq-cv-abcde alone", list)
	}
	p := list[0]
	if p.Name != "hq-cv-abcde" || p.TrackingID != "hq-cv-abcde" || p.Total != 2 || p.Closed != 1 || p.InProgress != 1 ||
		p.Percent != 50 || p.Complete || len(p.IssueIDs) != 2 {
		t.Errorf("progress %+v", p)
	}
	if _, ok := c.trackedConvoy("hq-other"); ok {
		t.Error("a convoy bead without tracks edges was taken for a convoy")
	}
}
