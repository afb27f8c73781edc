package coord

import "testing"

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
