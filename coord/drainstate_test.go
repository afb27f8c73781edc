package coord

import (
	"strings"
	"testing"
	"time"
)

// drainRun drives one worker "w" through a script of drain steps on a sim whose every change is kept
// (s.ch), so that the durable state can be folded and a core rebuilt from it (a restart, a rollback).
type drainRun struct {
	t      *testing.T
	s      *sim
	sess   uint64 // the worker's current session (0: none yet)
	up     bool
	client bool      // the open session is a CLI's
	mark   *Snapshot // the durable state a "rollback" returns to
	base   *Snapshot // the durable state s.ch applies to
	n      int       // issues put so far
}

func newDrainRun(t *testing.T, cfg Config) *drainRun {
	c := newCore(cfg, nil, t0)
	return &drainRun{t: t, s: &sim{t: t, c: c, now: t0}}
}

// durable folds every change so far into a snapshot (what the store holds).
func (r *drainRun) durable() *Snapshot {
	r.s.step()
	f := newFold(r.base)
	f.apply(r.s.ch)
	return f.snapshot()
}

// row is the durable row of w.
func (r *drainRun) row() WorkerRow {
	for _, w := range r.durable().Workers {
		if w.Name == "w" {
			return w
		}
	}
	r.t.Fatal("no durable row for w")
	return WorkerRow{}
}

func (r *drainRun) do(step string) {
	r.t.Helper()
	s := r.s
	var err error
	switch step {
	case "conn":
		r.sess++
		_, err = s.c.connect(s.now, Hello{Name: "w", Capacity: 1}, r.sess)
		r.up, r.client = true, false
	case "cli": // a CLI session named like the worker (it is gone: a client never takes a connected worker's name)
		r.sess++
		_, err = s.c.connect(s.now, Hello{Name: "w", Role: "client"}, r.sess)
		r.up, r.client = true, true
	case "disc":
		s.c.disconnect(s.now, "w", r.sess)
		r.up = false
	case "own":
		err = s.c.drain(s.now, "w", false, r.sess, "w")
	case "op":
		err = s.c.drain(s.now, "w", false, 0, "alice")
	case "undo":
		err = s.c.drain(s.now, "w", true, 0, "alice")
	case "mark":
		r.mark = r.durable()
	case "rollback": // Engine.rebuild: the core from the durable state at mark, the open session re-attached
		old := s.c
		s.c = newCore(old.cfg, r.mark, s.now)
		if r.up {
			s.c.reattach("w", r.sess, old.workers["w"])
		}
		s.c.needDispatch = true
		r.base, s.ch, s.ef = r.mark, nil, nil
	case "crash": // a restart from the store: every session gone with the old process
		snap := r.durable()
		s.c = newCore(s.c.cfg, snap, s.now)
		r.base, s.ch, s.ef = snap, nil, nil
		r.up = false
	default:
		r.t.Fatalf("unknown step %q", step)
	}
	if err != nil {
		r.t.Fatalf("%s: %v", step, err)
	}
	s.step()
	// a drain notification goes to the worker's open session only (never to a CLI session of the name)
	keep := s.ef[:0]
	for _, e := range s.ef {
		if n, ok := e.(drainNote); ok {
			if !r.up || r.client || n.Session != r.sess {
				r.t.Errorf("%s: told %+v; the open session is %d (up %v, client %v)", step, n, r.sess, r.up, r.client)
			}
			continue
		}
		keep = append(keep, e)
	}
	s.ef = keep
}

// pushed puts a new issue and reports whether it was pushed to w.
func (r *drainRun) pushed() bool {
	r.t.Helper()
	r.n++
	id := idn(r.n)
	if err := r.s.c.putIssues(r.s.now, puts(iss(id, 1))); err != nil {
		r.t.Fatal(err)
	}
	r.s.step()
	for _, p := range r.s.pushes() {
		if p.A.Lease.IssueID == id {
			return true
		}
	}
	return false
}

// TestDrainStates walks w through orders of the operator's drain, its undo, the worker's own drain of
// its session, disconnects, reconnects, rollbacks and restarts: w is pushed work exactly when neither an
// operator's drain nor its current session's own drain is in force, and only an operator's drain is
// durable.
func TestDrainStates(t *testing.T) {
	for _, tc := range []struct {
		steps   string
		pushed  bool // a new issue is pushed to w at the end (it is connected then)
		durable bool // the row's Draining
	}{
		{"conn own", false, false},
		{"conn op", false, true},
		{"conn own op", false, true},
		{"conn op own", false, true},
		{"conn own op undo", false, false},
		{"conn op own undo", false, false},
		{"conn own op undo disc conn", true, false},
		{"conn op own disc conn", false, true},
		{"conn own op disc conn", false, true},
		{"conn own disc op conn", false, true},
		{"conn own disc undo conn", true, false},
		{"conn own disc conn", true, false},
		{"conn op undo own", false, false},
		{"conn op own undo op", false, true},
		{"conn op own undo op undo", false, false},
		{"conn own crash conn", true, false},
		{"conn own op crash conn", false, true},
		{"conn own op undo crash conn", true, false},
		// rollbacks: what the durable state lacks comes from the session still open
		{"conn own mark rollback", false, false},
		{"conn mark own rollback", false, false},
		{"conn own mark op rollback", false, false}, // the operator's drain was lost, the worker's own goes on
		{"conn op own mark undo rollback", false, true},
		{"conn own mark op undo rollback", false, false},
		{"conn op mark own undo rollback", false, true},
		{"conn own mark op rollback disc conn", true, false},
		{"conn own mark rollback disc conn", true, false},
		// a CLI session holding the name of a gone worker
		{"conn op disc cli disc conn", false, true},
		{"conn own disc cli disc conn", true, false},
		{"conn own disc cli own disc conn", true, false},
		{"conn op disc cli undo disc conn", true, false},
		{"conn op disc cli own undo disc conn", true, false},
		{"conn op disc undo conn", true, false},
		{"conn op mark own rollback", false, true},
		{"conn op own mark undo op rollback", false, true},
		{"conn own op mark undo rollback disc conn", false, true},
	} {
		t.Run(strings.ReplaceAll(tc.steps, " ", "_"), func(t *testing.T) {
			r := newDrainRun(t, testCfg())
			for _, st := range strings.Fields(tc.steps) {
				r.do(st)
			}
			if got := r.pushed(); got != tc.pushed {
				t.Errorf("pushed %v, want %v (w %+v)", got, tc.pushed, r.s.c.workers["w"])
			}
			if got := r.row().Draining; got != tc.durable {
				t.Errorf("durable Draining %v, want %v", got, tc.durable)
			}
		})
	}
}

// TestOwnDrainEndsAtDisconnect: a worker's own drain ends with its session: the gone worker is not listed
// as draining, and it is forgotten after ForgetGone like any worker gone (a `gtc worker` stopped by
// Ctrl-C drains itself first: kept for good, its name was never forgotten).
func TestOwnDrainEndsAtDisconnect(t *testing.T) {
	cfg := testCfg()
	cfg.ForgetGone = time.Hour
	r := newDrainRun(t, cfg)
	for _, st := range []string{"conn", "own", "disc"} {
		r.do(st)
	}
	for _, ws := range r.s.c.workerStatuses() {
		if ws.Name == "w" && ws.Draining {
			t.Errorf("a gone worker listed draining after its own drain of its session: %+v", ws)
		}
	}
	r.s.advance(2 * time.Hour)
	r.s.advance(2 * time.Hour)
	if r.s.c.workers["w"] != nil {
		t.Fatalf("a worker gone after its own drain is never forgotten: %+v", r.s.c.workers["w"])
	}
}
