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
