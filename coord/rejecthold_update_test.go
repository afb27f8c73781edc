package coord

import (
	"testing"
	"time"
)

// TestRejectHoldSurvivesIssueUpdate: an update of the issue (issue.update, an import) keeps the time of
// its last rejection with the rejecting session: the hold's end stays, and an earlier rejection's timer
// (an older session's) does not end it early.
func TestRejectHoldSurvivesIssueUpdate(t *testing.T) {
	cfg := testCfg()
	cfg.RejectHold = 30 * time.Second
	s := newSim(t, cfg, 1, nil)
	s.connect("a", 1, Filters{}) // session 1
	l := s.one().A.Lease
	if err := s.c.reject(s.now, "a", 1, l.ID, l.Epoch, "at capacity"); err != nil { // t=0: timer @30
		t.Fatal(err)
	}
	s.advance(5 * time.Second)
	// the worker restarts: session 2 may take the issue at once
	s.c.disconnect(s.now, "a", 1)
	if _, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2); err != nil {
		t.Fatal(err)
	}
	s.step()
	l2 := s.one().A.Lease
	s.advance(5 * time.Second)                                                        // t=10
	if err := s.c.reject(s.now, "a", 2, l2.ID, l2.Epoch, "at capacity"); err != nil { // hold until t=40
		t.Fatal(err)
	}
	s.advance(5 * time.Second) // t=15: someone edits the issue (issue.update, an import)
	up := iss(idn(0), 1)
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: up}}); err != nil {
		t.Fatal(err)
	}
	s.step()
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed right after the update: %+v", p)
	}
	s.advance(16 * time.Second) // t=31: session 1's timer fired; session 2's hold runs until t=40
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed to session 2 at t=31, within its hold (until t=40): %+v", p[0].A.Lease)
	}
}

// TestRejectHoldWithoutUpdate: the same sequence without the update holds until t=40 (control).
func TestRejectHoldWithoutUpdate(t *testing.T) {
	cfg := testCfg()
	cfg.RejectHold = 30 * time.Second
	s := newSim(t, cfg, 1, nil)
	s.connect("a", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.reject(s.now, "a", 1, l.ID, l.Epoch, "at capacity"); err != nil {
		t.Fatal(err)
	}
	s.advance(5 * time.Second)
	s.c.disconnect(s.now, "a", 1)
	if _, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2); err != nil {
		t.Fatal(err)
	}
	s.step()
	l2 := s.one().A.Lease
	s.advance(5 * time.Second)
	if err := s.c.reject(s.now, "a", 2, l2.ID, l2.Epoch, "at capacity"); err != nil {
		t.Fatal(err)
	}
	s.advance(21 * time.Second) // t=31
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed within the hold: %+v", p)
	}
	s.advance(10 * time.Second) // t=41
	if p := s.pushes(); len(p) != 1 {
		t.Fatalf("after the hold: %d pushes, want 1", len(p))
	}
}
