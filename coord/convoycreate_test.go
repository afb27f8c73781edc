package coord

import (
	"slices"
	"testing"
	"time"

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

// TestGasTownConvoyFilters: --convoy takes a Gas Town convoy (named by its tracking bead's id) as it
// takes a gtc convoy: its tracked ready issues first, then other work, or only them with ConvoyOnly.
// The filters knew gtc's convoy:NAME labels only, so a worker given a convoy that convoy list shows
// took other work first (convoy-first) or nothing at all (convoy-only).
func TestGasTownConvoyFilters(t *testing.T) {
	tracks := func(ids ...string) func(*beads.Issue) {
		return func(i *beads.Issue) {
			for _, id := range ids {
				i.Dependencies = append(i.Dependencies, beads.Dependency{IssueID: i.ID, DependsOnID: id, Type: "tracks"})
			}
		}
	}
	for _, tc := range []struct {
		name string
		f    Filters
		want []string // pushed to a worker of capacity 4, in order
	}{
		{"convoy-first", Filters{Convoy: "hq-cv-1"}, []string{"gt-b", "gt-a", "gt-x", "gt-y"}},
		{"convoy-only", Filters{Convoy: "hq-cv-1", ConvoyOnly: true}, []string{"gt-b", "gt-a"}},
		{"no such convoy", Filters{Convoy: "hq-cv-2", ConvoyOnly: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCore(t, testCfg(),
				iss("gt-x", 0),
				iss("gt-y", 1),
				iss("gt-a", 3),
				iss("gt-b", 2),
				iss("gt-done", 0, withStatus("closed")),
				iss("hq-cv-1", 2, withType("convoy"), tracks("gt-a", "gt-b", "gt-done")),
			)
			s := &sim{t: t, c: c, now: t0}
			s.connect("w", 4, tc.f)
			var got []string
			for _, p := range s.pushes() {
				got = append(got, p.A.Lease.IssueID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("pushed %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGasTownConvoyGrows: an issue a Gas Town convoy starts tracking while it is ready already reaches
// a worker waiting on that convoy alone (its push search remembers it found nothing, and only issues
// that entered the ready queue since are looked at again).
func TestGasTownConvoyGrows(t *testing.T) {
	convoy := func(ids ...string) beads.Issue {
		return iss("hq-cv-1", 2, withType("convoy"), func(i *beads.Issue) {
			for _, id := range ids {
				i.Dependencies = append(i.Dependencies, beads.Dependency{IssueID: i.ID, DependsOnID: id, Type: "tracks"})
			}
			i.UpdatedAt = i.UpdatedAt.Add(time.Duration(len(ids)) * time.Minute)
		})
	}
	c := newTestCore(t, testCfg(), iss("gt-x", 1), iss("gt-done", 0, withStatus("closed")), convoy("gt-done"))
	s := &sim{t: t, c: c, now: t0}
	s.connect("w", 1, Filters{Convoy: "hq-cv-1", ConvoyOnly: true})
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed %+v before the convoy tracked any open issue", p)
	}
	if err := c.putIssues(s.now, puts(convoy("gt-done", "gt-x"))); err != nil {
		t.Fatal(err)
	}
	s.step()
	if l := s.one().A.Lease; l.IssueID != "gt-x" {
		t.Fatalf("pushed %s, want gt-x", l.IssueID)
	}
}
