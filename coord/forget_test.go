package coord

import (
	"testing"
	"time"
)

// TestGoneWorkersAreForgotten: a worker that went away holding nothing is forgotten after
// Config.ForgetGone — its row dropped (a WorkerDelete change), out of the worker list — so a fleet whose
// agents take a new name each run (the harness's agent-<pid>-<ms>) does not grow the list, the store
// and gtc_workers{state="gone"} for good. A worker that comes back in time or is drained by an
// operator is kept, one that went holding a lease until that lease expired; a restart counts from the
// row's last sign of life, giving each worker at least the grace to come back.
func TestGoneWorkersAreForgotten(t *testing.T) {
	cfg := testCfg()
	cfg.ForgetGone = time.Hour
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
	if err := s.c.drain(s.now, "drained", false, 0, ""); err != nil {
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
	if !deleted["agent-1"] || !deleted["agent-2"] || !deleted["holder"] || len(deleted) != 3 {
		t.Errorf("deleted %v, want agent-1, agent-2 and holder (its lease expired with the grace)", deleted)
	}
	names := map[string]bool{}
	for _, w := range s.c.workerStatuses() {
		names[w.Name] = true
	}
	for name, want := range map[string]bool{"agent-1": false, "agent-2": false, "drained": true, "back": true, "holder": false} {
		if names[name] != want {
			t.Errorf("%s listed %v, want %v", name, names[name], want)
		}
	}
	// a restart: a row last seen long ago goes once the grace to come back has passed (it may have been
	// connected when the server stopped: last_seen is written with state changes only), a recent one
	// keeps its hour
	snap := &Snapshot{Workers: []WorkerRow{
		{Name: "old", Role: "worker", Capacity: 1, State: WorkerGone, LastSeen: s.now.Add(-2 * time.Hour)},
		{Name: "recent", Role: "worker", Capacity: 1, State: WorkerGone, LastSeen: s.now.Add(-10 * time.Minute)},
	}}
	c2 := newCore(cfg, snap, s.now)
	c2.tick(s.now)
	if c2.workers["old"] == nil {
		t.Error("old forgotten at the restart, before the grace to come back")
	}
	c2.tick(s.now.Add(31 * time.Second))
	if c2.workers["old"] != nil || c2.workers["recent"] == nil {
		t.Errorf("after the grace: old kept %v, recent kept %v", c2.workers["old"] != nil, c2.workers["recent"] != nil)
	}
	c2.tick(s.now.Add(51 * time.Minute))
	if c2.workers["recent"] != nil {
		t.Error("recent kept an hour after it was last seen")
	}
}

// TestForgetTimersDoNotPileUp: a name that connects and disconnects again and again (a script running a
// gtc command every second) holds one forget timer, not one per disconnect for ForgetGone (a day's worth
// of entries, 86,400 at one command a second); it is still forgotten a ForgetGone after its last visit.
func TestForgetTimersDoNotPileUp(t *testing.T) {
	cfg := testCfg()
	cfg.ForgetGone = time.Hour
	c := newTestCore(t, cfg)
	s := &sim{t: t, c: c, now: t0}
	for i := range 500 {
		if _, err := s.c.connect(s.now, Hello{Name: "cli-op", Role: "client"}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		s.c.disconnect(s.now, "cli-op", uint64(i+1))
		s.advance(time.Second)
	}
	n := 0
	for _, tm := range s.c.timers.items {
		if tm.kind == timerForget {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d forget timers for one name, want 1", n)
	}
	last := s.now.Add(-time.Second)
	s.advance(last.Add(cfg.ForgetGone).Sub(s.now) - time.Second)
	if s.c.workers["cli-op"] == nil {
		t.Fatal("forgotten before ForgetGone had passed since its last visit")
	}
	s.advance(2 * time.Second)
	if s.c.workers["cli-op"] != nil {
		t.Error("kept past ForgetGone after its last visit")
	}
}

// TestRestartTakesLastSeenFromLiveLeases: a worker's row is written with state changes only, so after a
// restart its live leases say better when it was last seen: an acked lease's deadline (set by its ack or
// last heartbeat, both written), or a push's time (fleet trial: gtc workers said 2m2s ago, the hello, of
// a worker that had acked 20 s before the coordinator was killed).
func TestRestartTakesLastSeenFromLiveLeases(t *testing.T) {
	cfg := testCfg()
	now := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	hb := cfg.withDefaults(now).HeartbeatTimeout
	hello, acked, pushed := now.Add(-2*time.Minute), now.Add(-20*time.Second), now.Add(-5*time.Second)
	open := func(id string) IssueMeta {
		return IssueMeta{ID: id, Status: "in_progress", IssueType: "task", Priority: 2, CreatedAt: hello, UpdatedAt: hello}
	}
	snap := &Snapshot{
		Issues: []IssueMeta{open("a"), open("b"), open("c")},
		Workers: []WorkerRow{
			{Name: "w-acked", Role: "worker", Capacity: 1, State: WorkerBusy, LastSeen: hello},
			{Name: "w-pushed", Role: "worker", Capacity: 1, State: WorkerBusy, LastSeen: hello},
			{Name: "w-future", Role: "worker", Capacity: 1, State: WorkerBusy, LastSeen: hello},
		},
		Leases: []Lease{
			{ID: "L-1", IssueID: "a", Worker: "w-acked", Epoch: 1, State: LeaseAcked, Attempt: 1, CreatedAt: hello.Add(time.Second),
				AckDeadline: hello.Add(11 * time.Second), Deadline: acked.Add(hb)},
			{ID: "L-2", IssueID: "b", Worker: "w-pushed", Epoch: 2, State: LeasePushed, Attempt: 1, CreatedAt: pushed,
				AckDeadline: pushed.Add(10 * time.Second), Deadline: pushed.Add(10 * time.Second)},
			// a clock set back since: never a last_seen after now
			{ID: "L-3", IssueID: "c", Worker: "w-future", Epoch: 3, State: LeaseAcked, Attempt: 1, CreatedAt: now.Add(time.Hour),
				AckDeadline: now.Add(time.Hour), Deadline: now.Add(time.Hour + hb)},
		},
		MaxEpoch: 3,
	}
	c := newCore(cfg, snap, now)
	for name, want := range map[string]time.Time{"w-acked": acked, "w-pushed": pushed, "w-future": hello} {
		if got := c.workers[name].row.LastSeen; !got.Equal(want) {
			t.Errorf("%s last seen %v, want %v", name, got, want)
		}
	}
}
