package coord

import "testing"

// TestDrainTellsTheWorker: an operator's drain and its undo are told to the worker's session (before, a
// drained worker heard nothing and idled on, its process kept for nothing: TypeScript trial), and so is
// a drain in force when the worker connects again; the worker's own drain of its session is not echoed
// back, nor is anything sent to a worker that is gone or to a CLI session.
func TestDrainTellsTheWorker(t *testing.T) {
	s := newSim(t, testCfg(), 0, nil)
	notes := func() []drainNote {
		s.step()
		var out []drainNote
		keep := s.ef[:0]
		for _, e := range s.ef {
			if n, ok := e.(drainNote); ok {
				out = append(out, n)
			} else {
				keep = append(keep, e)
			}
		}
		s.ef = keep
		return out
	}
	s.connect("w", 1, Filters{})
	if err := s.c.drain(s.now, "w", false, 0, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 1 || n[0] != (drainNote{Worker: "w", Session: 1, Draining: true, By: "alice"}) {
		t.Fatalf("after the operator's drain: %+v", n)
	}
	if err := s.c.drain(s.now, "w", false, 0, "alice"); err != nil { // already drained: nothing new
		t.Fatal(err)
	}
	if n := notes(); len(n) != 0 {
		t.Fatalf("a second drain: %+v", n)
	}
	s.c.disconnect(s.now, "w", 1)
	if n := notes(); len(n) != 0 {
		t.Fatalf("at the disconnect: %+v", n)
	}
	if _, err := s.c.connect(s.now, Hello{Name: "w", Capacity: 1}, 2); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 1 || n[0] != (drainNote{Worker: "w", Session: 2, Draining: true}) {
		t.Fatalf("connecting while drained: %+v", n)
	}
	if err := s.c.drain(s.now, "w", true, 0, "bob"); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 1 || n[0] != (drainNote{Worker: "w", Session: 2, Draining: false, By: "bob"}) {
		t.Fatalf("after the undo: %+v", n)
	}
	// the worker's own drain (it shuts down): nothing sent back
	if err := s.c.drain(s.now, "w", false, 2, "w"); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 0 {
		t.Fatalf("the worker's own drain: %+v", n)
	}
	// gone: the drain is recorded and told at the next hello only
	s.c.disconnect(s.now, "w", 2)
	if _, err := s.c.connect(s.now, Hello{Name: "w", Capacity: 1}, 3); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 0 {
		t.Fatalf("reconnecting after its own drain ended with its session: %+v", n)
	}
	s.c.disconnect(s.now, "w", 3)
	if err := s.c.drain(s.now, "w", false, 0, "alice"); err != nil {
		t.Fatal(err)
	}
	if n := notes(); len(n) != 0 {
		t.Fatalf("draining a gone worker: %+v", n)
	}
}

// TestOperatorUndoKeepsTheWorkersOwnDrain: an operator's undo ends the operator's drain only: a worker
// that drains itself (it is shutting down) stays drained, whichever drain came first, and is not told
// "undrained" (review: the undo pushed work to a worker exiting, and the lease waited for its ack
// timeout). Its own drain still ends with its session.
func TestOperatorUndoKeepsTheWorkersOwnDrain(t *testing.T) {
	for _, ownFirst := range []bool{true, false} {
		s := newSim(t, testCfg(), 1, nil)
		s.connect("w", 1, Filters{})
		l := s.one().A.Lease
		if _, err := s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
		steps := []func() error{
			func() error { return s.c.drain(s.now, "w", false, 1, "w") },     // the worker's own
			func() error { return s.c.drain(s.now, "w", false, 0, "alice") }, // the operator's
		}
		if !ownFirst {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, f := range steps {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.c.drain(s.now, "w", true, 0, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.c.putIssues(s.now, puts(iss("t-next", 1))); err != nil {
			t.Fatal(err)
		}
		s.step()
		if p := s.pushes(); len(p) != 0 {
			t.Fatalf("own drain first %v: pushed %+v to a worker draining itself after the operator's undo", ownFirst, p)
		}
		for _, e := range s.ef {
			if n, ok := e.(drainNote); ok && !n.Draining {
				t.Fatalf("own drain first %v: told the worker %+v", ownFirst, n)
			}
		}
		s.c.disconnect(s.now, "w", 1)
		if _, err := s.c.connect(s.now, Hello{Name: "w", Capacity: 1}, 2); err != nil {
			t.Fatal(err)
		}
		s.step()
		if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "t-next" {
			t.Fatalf("own drain first %v: after the reconnect pushes %+v, want t-next", ownFirst, p)
		}
	}
}

// TestOperatorDrainOverOwnDrainIsRecorded: an operator's drain of a worker that drains itself already is
// an operator's drain like any other: in the audit log, told to the worker (its operatorDrained, its
// --exit-when-drained), and its undo follows a recorded drain. It made the own drain durable and said
// nothing: the event log showed alice's undo of a drain nobody had recorded.
func TestOperatorDrainOverOwnDrainIsRecorded(t *testing.T) {
	s := newSim(t, testCfg(), 0, nil)
	s.connect("w", 1, Filters{})
	if err := s.c.drain(s.now, "w", false, 1, "w"); err != nil {
		t.Fatal(err)
	}
	s.step()
	s.ch, s.ef = nil, nil
	if err := s.c.drain(s.now, "w", false, 0, "alice"); err != nil {
		t.Fatal(err)
	}
	s.step()
	if got := s.said("draining"); len(got) != 1 || got[0] != "alice: " {
		t.Errorf("draining events %q, want alice's", got)
	}
	var notes []drainNote
	for _, e := range s.ef {
		if n, ok := e.(drainNote); ok {
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 || notes[0] != (drainNote{Worker: "w", Session: 1, Draining: true, By: "alice"}) {
		t.Errorf("told the worker %+v, want alice's drain", notes)
	}
}
