package coord

import (
	"testing"
	"time"
)

// TestGoneWorkersAreForgotten: a worker that went away holding nothing is forgotten after
// Config.ForgetGone — its row dropped (a WorkerDelete change), out of the worker list — so a fleet whose
// agents take a new name each run (the harness's agent-<pid>-<ms>) does not grow the list, the store
// and gtc_workers{state="gone"} for good. A worker that comes back in time, still holds a lease, or
// is drained by an operator is kept; a restart counts from the row's last sign of life.
func TestGoneWorkersAreForgotten(t *testing.T) {
	cfg := testCfg()
	cfg.ForgetGone = time.Hour
	cfg.Grace = 2 * time.Hour // the holder's lease outlives its first forget time
	c := newTestCore(t, cfg, iss("t-1", 1))
	s := &sim{t: t, c: c, now: t0}
	s.connect("holder", 1, Filters{})
	if l := s.one().A.Lease; l.IssueID != "t-1" {
		t.Fatalf("holder got %+v", l)
	}
	for i, name := range []string{"agent-1", "agent-2", "drained", "back"} {
		if _, err := s.c.connect(s.now, Hello{Name: name, Capacity: 1}, uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.c.drain(s.now, "drained", false, 0); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"agent-1", "agent-2", "drained", "back"} {
		s.c.disconnect(s.now, name, uint64(10+i))
	}
	s.c.disconnect(s.now, "holder", 1)
	s.advance(30 * time.Minute)
	if _, err := s.c.connect(s.now, Hello{Name: "back", Capacity: 1}, 20); err != nil { // back before its time
		t.Fatal(err)
	}
	s.ch = nil
	s.advance(31 * time.Minute)
	deleted := map[string]bool{}
	for _, ch := range s.ch {
		if d, ok := ch.(WorkerDelete); ok {
			deleted[d.Name] = true
		}
	}
	if !deleted["agent-1"] || !deleted["agent-2"] || len(deleted) != 2 {
		t.Errorf("deleted %v, want agent-1 and agent-2 alone", deleted)
	}
	names := map[string]bool{}
	for _, w := range s.c.workerStatuses() {
		names[w.Name] = true
	}
	for name, want := range map[string]bool{"agent-1": false, "agent-2": false, "drained": true, "back": true, "holder": true} {
		if names[name] != want {
			t.Errorf("%s listed %v, want %v", name, names[name], want)
		}
	}
	// the holder's lease expires with its grace; an hour after that nothing holds it
	s.advance(3 * time.Hour)
	if s.c.workers["holder"] != nil {
		t.Error("holder kept after its lease ended and an hour passed")
	}
	// a restart: a row last seen long ago goes at once, a recent one keeps its hour
	snap := &Snapshot{Workers: []WorkerRow{
		{Name: "old", Role: "worker", Capacity: 1, State: WorkerGone, LastSeen: s.now.Add(-2 * time.Hour)},
		{Name: "recent", Role: "worker", Capacity: 1, State: WorkerGone, LastSeen: s.now.Add(-10 * time.Minute)},
	}}
	c2 := newCore(cfg, snap, s.now)
	c2.tick(s.now)
	if c2.workers["old"] != nil || c2.workers["recent"] == nil {
		t.Errorf("after a restart: old kept %v, recent kept %v", c2.workers["old"] != nil, c2.workers["recent"] != nil)
	}
	c2.tick(s.now.Add(51 * time.Minute))
	if c2.workers["recent"] != nil {
		t.Error("recent kept an hour after it was last seen")
	}
}
