package coord

import (
	"testing"
	"time"
)

// TestRejectHoldSurvivesIssueUpdate: an update of the issue (issue.update, an import) keeps the time of
// its last rejection with the rejecting session: the hold's end stays, and an earlier rejection's timer
// (an older session's) does not end it early. Without the update (control) the same holds.
func TestRejectHoldSurvivesIssueUpdate(t *testing.T) {
	for _, update := range []bool{true, false} {
		cfg := testCfg()
		cfg.RejectHold = 30 * time.Second
		s := newSim(t, cfg, 1, nil)
		s.connect("a", 1, Filters{}) // session 1
		l := s.one().A.Lease
		if err := s.c.reject(s.now, "a", 1, l.ID, l.Epoch, "at capacity"); err != nil { // t=0: timer at 30
			t.Fatal(err)
		}
		s.advance(5 * time.Second)
		s.c.disconnect(s.now, "a", 1)
		if _, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2); err != nil {
			t.Fatal(err)
		}
		s.step()
		l2 := s.one().A.Lease // the reconnected session may take it at once
		s.advance(5 * time.Second)
		if err := s.c.reject(s.now, "a", 2, l2.ID, l2.Epoch, "at capacity"); err != nil { // t=10: held until 40
			t.Fatal(err)
		}
		s.advance(5 * time.Second) // t=15
		if update {
			if err := s.c.putIssues(s.now, []IssuePut{{Issue: iss(idn(0), 1)}}); err != nil {
				t.Fatal(err)
			}
			s.step()
		}
		s.advance(16 * time.Second) // t=31: session 1's timer has fired
		if p := s.pushes(); len(p) != 0 {
			t.Fatalf("update %v: pushed at t=31, within session 2's hold (until t=40): %+v", update, p[0].A.Lease)
		}
		s.advance(10 * time.Second) // t=41
		if p := s.pushes(); len(p) != 1 {
			t.Fatalf("update %v: %d pushes after the hold, want 1", update, len(p))
		}
	}
}
