package coord

import (
	"testing"
	"time"
)

// TestOutsideDeleteOfClosedIssueIsNoReopen: a classic bd deletes an issue by writing a tombstone
// line; an import that tombstones a closed issue is a deletion, not a reopen, and must not leave a
// "reopened" event in the audit log (gtc events --issue shows the issue's history).
func TestOutsideDeleteOfClosedIssueIsNoReopen(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("a", 1, Filters{})
	l := s.one().A.Lease
	if _, err := s.c.complete(s.now, "a", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	s.advance(time.Second)
	is := iss(l.IssueID, 2)
	is.Status, is.UpdatedAt = "tombstone", s.now
	if err := s.c.putIssues(s.now, []IssuePut{{Issue: is, FromImport: true}}); err != nil {
		t.Fatal(err)
	}
	s.step()
	if n := s.events("reopened"); n != 0 {
		t.Fatalf("%d reopened events after a closed issue was deleted (tombstone) outside gtc, want 0", n)
	}
}
