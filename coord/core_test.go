package coord

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// sim drives a core with explicit time.
type sim struct {
	t   *testing.T
	c   *core
	now time.Time
	ch  []Change
	ef  []outEffect
}

func newSim(t *testing.T, cfg Config, n int, prio func(i int) int) *sim {
	var is = make([]IssuePut, 0, n)
	for i := 0; i < n; i++ {
		p := 2
		if prio != nil {
			p = prio(i)
		}
		is = append(is, puts(iss(idn(i), p))...)
	}
	c := newCore(cfg, nil, t0)
	if err := c.putIssues(t0, is); err != nil {
		t.Fatal(err)
	}
	c.take()
	return &sim{t: t, c: c, now: t0}
}

// idn is the id of the i-th test issue: ids sort as their numbers do, and every one is a SafeID.
func idn(i int) string { return fmt.Sprintf("t-%06d", i) }

// step runs the timers and dispatch, collects output.
func (s *sim) step() {
	s.c.tick(s.now)
	s.c.dispatch(s.now)
	ch, ef := s.c.take()
	s.ch = append(s.ch, ch...)
	s.ef = append(s.ef, ef...)
}

func (s *sim) advance(d time.Duration) { s.now = s.now.Add(d); s.step() }

func (s *sim) connect(name string, capacity int, f Filters) []Assignment {
	s.t.Helper()
	a, err := s.c.connect(s.now, Hello{Name: name, Capacity: capacity, Filters: f}, 1)
	if err != nil {
		s.t.Fatal(err)
	}
	s.step()
	return a
}

// pushes returns and forgets the push effects so far.
func (s *sim) pushes() []pushEffect {
	var out []pushEffect
	keep := s.ef[:0]
	for _, e := range s.ef {
		if p, ok := e.(*pushEffect); ok {
			out = append(out, *p)
		} else {
			keep = append(keep, e)
		}
	}
	s.ef = keep
	return out
}

func (s *sim) cancels() []cancelNote {
	var out []cancelNote
	for _, e := range s.ef {
		if p, ok := e.(cancelNote); ok {
			out = append(out, p)
		}
	}
	return out
}

// said lists the events of kind recorded so far as "actor: detail".
func (s *sim) said(kind string) []string {
	var out []string
	for _, ch := range s.ch {
		if e, ok := eventOf(ch); ok && e.Kind == kind {
			out = append(out, e.Actor+": "+e.Detail)
		}
	}
	return out
}

func (s *sim) events(kind string) int {
	n := 0
	for _, ch := range s.ch {
		if e, ok := eventOf(ch); ok && e.Kind == kind {
			n++
		}
	}
	return n
}

func (s *sim) meta(id string) IssueMeta { return s.c.metaOf(s.c.issues[id]) }

func (s *sim) one() pushEffect {
	s.t.Helper()
	p := s.pushes()
	if len(p) != 1 {
		s.t.Fatalf("want 1 push, got %d", len(p))
	}
	return p[0]
}

func TestPriorityZeroFirst(t *testing.T) {
	// defect #1 of the harness: priority 0 must sort first, not like 2.
	s := newSim(t, testCfg(), 4, func(i int) int { return []int{2, 0, 4, 1}[i] })
	s.connect("w", 4, Filters{})
	var got []string
	for _, p := range s.pushes() {
		got = append(got, p.A.Lease.IssueID)
	}
	if want := []string{idn(1), idn(3), idn(0), idn(2)}; !slices.Equal(got, want) {
		t.Fatalf("push order %v, want %v", got, want)
	}
}

func TestLeaseLifecycleStatuses(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("w", 1, Filters{})
	p := s.one()
	l := p.A.Lease
	if m := s.meta(l.IssueID); m.Status != "hooked" || m.Assignee != "w" || l.Attempt != 1 || l.State != LeasePushed {
		t.Fatalf("after push: %+v %+v", m, l)
	}
	if err := s.c.ack(s.now, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	m := s.meta(l.IssueID)
	if m.Status != "in_progress" || m.StartedAt == nil || !m.StartedAt.Equal(s.now) {
		t.Fatalf("after ack: %+v", m)
	}
	s.advance(time.Second)
	res, err := s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess, Summary: "ok"})
	if err != nil || res.Status != "closed" || res.IssueID != l.IssueID {
		t.Fatalf("complete: %+v %v", res, err)
	}
	s.step()
	var closed *IssueState
	for _, ch := range s.ch {
		if st, ok := ch.(*IssueState); ok && st.Status == "closed" {
			closed = st
		}
	}
	if closed == nil || closed.ClosedAt == nil || closed.CloseReason == "" {
		t.Fatalf("no closing IssueState: %+v", closed)
	}
	if st := s.c.status(); st.Issues.Closed != 1 || st.Issues.Leased != 0 || st.Workers.Idle != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestLeaseErrors(t *testing.T) {
	s := newSim(t, testCfg(), 2, nil)
	s.connect("w1", 1, Filters{})
	s.connect("w2", 1, Filters{})
	p := s.pushes()
	l1 := p[0].A.Lease
	tests := []struct {
		name   string
		worker string
		id     string
		epoch  int64
		code   Code
	}{
		{"not holder", "w2", l1.ID, l1.Epoch, ENotHolder},
		{"stale epoch", "w1", l1.ID, l1.Epoch - 1, EStaleEpoch},
		{"unknown", "w1", "L-999", 999, ENotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, f := range map[string]func() error{
				"ack":       func() error { return s.c.ack(s.now, tt.worker, tt.id, tt.epoch) },
				"heartbeat": func() error { _, err := s.c.heartbeat(s.now, tt.worker, tt.id, tt.epoch, ""); return err },
				"complete":  func() error { _, err := s.c.complete(s.now, tt.worker, tt.id, tt.epoch, SessionResult{}); return err },
				"fail":      func() error { _, err := s.c.fail(s.now, tt.worker, tt.id, tt.epoch, "x"); return err },
				"release":   func() error { _, err := s.c.release(s.now, tt.worker, tt.id, tt.epoch, ""); return err },
			} {
				if got := ErrorCode(f()); got != tt.code {
					t.Errorf("%s: code %q, want %q", name, got, tt.code)
				}
			}
		})
	}
	// an ended lease answers stale_epoch
	if _, err := s.c.complete(s.now, "w1", l1.ID, l1.Epoch, SessionResult{}); err != nil {
		t.Fatal(err)
	}
	if got := ErrorCode(s.c.ack(s.now, "w1", l1.ID, l1.Epoch)); got != EStaleEpoch {
		t.Fatalf("ended lease: %q", got)
	}
	if _, err := s.c.complete(s.now, "w2", p[1].A.Lease.ID, p[1].A.Lease.Epoch, SessionResult{Outcome: "weird"}); ErrorCode(err) != EInvalid {
		t.Fatalf("bad outcome: %v", err)
	}
}

func TestAckTimeoutNoPenaltyAndStall(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	s.advance(10 * time.Second)
	m := s.meta(l.IssueID)
	if m.Status != "open" || m.Attempts != 0 || m.Assignee != "" {
		t.Fatalf("after ack timeout: %+v", m)
	}
	if c := s.cancels(); len(c) != 1 || c[0].LeaseID != l.ID {
		t.Fatalf("cancels %+v", c)
	}
	if st := s.c.workerState(s.c.workers["w"]); st != WorkerStalled {
		t.Fatalf("worker %s, want stalled", st)
	}
	if len(s.pushes()) != 0 {
		t.Fatal("stalled worker was pushed to")
	}
	// a heartbeat shows life: the worker gets work again, same issue, still attempt 1
	if _, err := s.c.heartbeat(s.now, "w", "", 0, ""); err != nil {
		t.Fatal(err)
	}
	s.step()
	if l2 := s.one().A.Lease; l2.IssueID != l.IssueID || l2.Attempt != 1 || l2.Epoch <= l.Epoch {
		t.Fatalf("re-push %+v", l2)
	}
}

func TestHeartbeatExpiryBackoffDeadLetter(t *testing.T) {
	cfg := testCfg()
	s := newSim(t, cfg, 1, nil)
	s.connect("w", 1, Filters{})
	id := idn(0)
	for attempt := 1; attempt <= 3; attempt++ {
		s.step()
		p := s.pushes()
		if len(p) != 1 {
			// waiting on backoff: jump past it
			nb := s.meta(id).NotBefore
			if nb.IsZero() || !nb.After(s.now) {
				t.Fatalf("attempt %d: no push and no backoff (%v)", attempt, nb)
			}
			s.now = nb
			s.step()
			if _, err := s.c.heartbeat(s.now, "w", "", 0, ""); err != nil {
				t.Fatal(err)
			}
			s.step()
			p = s.pushes()
		}
		if len(p) != 1 {
			t.Fatalf("attempt %d: %d pushes", attempt, len(p))
		}
		l := p[0].A.Lease
		if l.Attempt != attempt {
			t.Fatalf("lease attempt %d, want %d", l.Attempt, attempt)
		}
		if err := s.c.ack(s.now, "w", l.ID, l.Epoch); err != nil {
			t.Fatal(err)
		}
		s.advance(30 * time.Second)
		if _, err := s.c.heartbeat(s.now, "w", l.ID, l.Epoch, "half"); err != nil {
			t.Fatal(err)
		}
		s.advance(59 * time.Second) // still alive thanks to the heartbeat
		if _, ok := s.c.lease(l.ID); !ok {
			t.Fatal("lease expired despite heartbeat")
		}
		s.advance(time.Second)
		if _, ok := s.c.lease(l.ID); ok {
			t.Fatal("lease outlived its heartbeat deadline")
		}
		m := s.meta(id)
		if attempt < 3 {
			base := 5 * time.Second << (attempt - 1)
			if m.Status != "open" || m.Attempts != attempt || m.NotBefore.Before(s.now.Add(base/2)) || m.NotBefore.After(s.now.Add(base)) {
				t.Fatalf("after expiry %d: %+v (now %v)", attempt, m, s.now)
			}
			if len(s.c.readyIDs(0)) != 0 {
				t.Fatal("issue ready during backoff")
			}
		} else if m.Status != "blocked" || !hasLabel(m.Labels, "gtc:failed") || s.c.status().Issues.DeadLettered != 1 {
			t.Fatalf("not dead-lettered: %+v", m)
		}
	}
	if s.events("dead_lettered") != 1 || s.events("expired") != 3 {
		t.Fatalf("events: dead %d expired %d", s.events("dead_lettered"), s.events("expired"))
	}
	// a human reopens it (bd stamps updated_at): fresh attempt budget
	is := iss(id, 2, func(i *beads.Issue) { i.UpdatedAt = s.now.Add(time.Second) })
	if err := s.c.putIssues(s.now, puts(is)); err != nil {
		t.Fatal(err)
	}
	if m := s.meta(id); m.Attempts != 0 || s.c.counts[clsDead] != 0 {
		t.Fatalf("revived: %+v", m)
	}
	// the audit log says so, and who did it: the file here (puts are imports)
	s.step()
	said := s.said("status_changed")
	if want := "issues.jsonl: status blocked → open (out of dead letter: a fresh attempt budget) (changed outside gtc)"; len(said) != 1 || said[0] != want {
		t.Errorf("status_changed events %q, want [%q]", said, want)
	}
}

func TestDisconnectGraceReconnect(t *testing.T) {
	s := newSim(t, testCfg(), 2, nil)
	s.connect("w", 2, Filters{})
	p := s.pushes()
	if len(p) != 2 {
		t.Fatalf("%d pushes", len(p))
	}
	_ = s.c.ack(s.now, "w", p[0].A.Lease.ID, p[0].A.Lease.Epoch)
	_ = s.c.ack(s.now, "w", p[1].A.Lease.ID, p[1].A.Lease.Epoch)
	s.c.disconnect(s.now, "w", 7) // stale session: ignored
	if !s.c.workers["w"].connected {
		t.Fatal("stale session disconnected the worker")
	}
	s.c.disconnect(s.now, "w", 1)
	s.advance(29 * time.Second)
	a, err := s.c.connect(s.now, Hello{Name: "w", Capacity: 2}, 2)
	if err != nil || len(a) != 2 || a[0].Lease.ID != p[0].A.Lease.ID || a[1].Lease.ID != p[1].A.Lease.ID {
		t.Fatalf("reconnect leases %+v %v", a, err)
	}
	s.step()
	if len(s.pushes()) != 0 {
		t.Fatal("duplicate work pushed on reconnect")
	}
	// now leave for good
	s.c.disconnect(s.now, "w", 2)
	s.advance(30 * time.Second)
	for _, x := range p {
		if m := s.meta(x.A.Lease.IssueID); m.Status != "open" || m.Attempts != 1 {
			t.Fatalf("after grace: %+v", m)
		}
	}
	if st := s.c.status(); st.Workers.Gone != 1 || st.Issues.Leased != 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestDisconnectBeforeAckNoPenalty: a worker that vanishes between a push and its ack keeps the lease
// for the grace (it may resume it), then the issue goes back with no attempt counted — as an ack
// timeout, which it is — while an acked lease of the same worker counts one.
func TestDisconnectBeforeAckNoPenalty(t *testing.T) {
	s := newSim(t, testCfg(), 2, nil)
	s.connect("w", 2, Filters{})
	p := s.pushes()
	if len(p) != 2 {
		t.Fatalf("%d pushes", len(p))
	}
	if err := s.c.ack(s.now, "w", p[1].A.Lease.ID, p[1].A.Lease.Epoch); err != nil {
		t.Fatal(err)
	}
	s.c.disconnect(s.now, "w", 1)
	s.advance(15 * time.Second) // past the ack timeout (10 s), within the grace (30 s)
	if m := s.meta(p[0].A.Lease.IssueID); m.Status == "open" {
		t.Fatalf("un-acked lease ended within the grace: %+v", m)
	}
	s.advance(16 * time.Second)
	if m := s.meta(p[0].A.Lease.IssueID); m.Status != "open" || m.Attempts != 0 {
		t.Errorf("un-acked lease after the grace: %+v, want open with no attempt counted", m)
	}
	if m := s.meta(p[1].A.Lease.IssueID); m.Status != "open" || m.Attempts != 1 {
		t.Errorf("acked lease after the grace: %+v, want open with one attempt counted", m)
	}
	if s.events("ack_timeout") != 1 || s.events("expired") != 1 {
		t.Errorf("events: ack_timeout %d expired %d, want 1 and 1", s.events("ack_timeout"), s.events("expired"))
	}
}

// TestStatusCountsWorkersOnly: coord.status (and the gtc_workers gauge fed from it) leaves CLI sessions
// (role client) out of the worker counts, connected or gone; a worker past a heartbeat deadline is
// stalled both in the counts and in the health report.
func TestStatusCountsWorkersOnly(t *testing.T) {
	cfg := testCfg()
	cfg.HeartbeatTimeout = time.Minute
	s := newSim(t, cfg, 1, nil)
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.ack(s.now, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"cli-a", "cli-b"} {
		if _, err := s.c.connect(s.now, Hello{Name: name, Role: "client"}, uint64(10+i)); err != nil {
			t.Fatal(err)
		}
	}
	s.c.disconnect(s.now, "cli-b", 11)
	if st := s.c.status(); st.Workers != (WorkerCounts{Busy: 1}) {
		t.Errorf("counts %+v, want one busy worker and no CLI session", st.Workers)
	}
	if r := s.c.healthReport(s.now, false); len(r.Stalled) != 0 {
		t.Errorf("health stalled %v before any deadline", r.Stalled)
	}
	s.advance(2 * time.Minute) // the lease expires: w is stalled until it shows life
	if st := s.c.status(); st.Workers != (WorkerCounts{Stalled: 1}) {
		t.Errorf("counts after the missed heartbeat %+v, want one stalled", st.Workers)
	}
	if r := s.c.healthReport(s.now, false); !slices.Equal(r.Stalled, []string{"w"}) || r.Status != "degraded" {
		t.Errorf("health after the missed heartbeat: %+v, want w stalled, degraded", r)
	}
}

// TestCancelMovesTheWork: an operator's cancel keeps the issue from the worker that held it for
// RejectHold (as a reject does): another worker takes it, or, with none, the same worker once the hold
// has passed — not pushed straight back to the idle worker it was taken from.
func TestCancelMovesTheWork(t *testing.T) {
	for _, other := range []bool{false, true} {
		s := newSim(t, testCfg(), 1, nil)
		s.connect("a", 1, Filters{})
		l := s.one().A.Lease
		if other {
			s.connect("b", 1, Filters{})
		}
		if err := s.c.cancelLease(s.now, l.ID, "stuck", ""); err != nil {
			t.Fatal(err)
		}
		s.step()
		p := s.pushes()
		switch {
		case other && (len(p) != 1 || p[0].Worker != "b"):
			t.Errorf("with another worker: pushes %+v, want the issue pushed to b", p)
		case !other && len(p) != 0:
			t.Errorf("alone: pushes %+v, want none during the hold", p)
		}
		if !other {
			s.advance(s.c.cfg.RejectHold + time.Second)
			if p := s.pushes(); len(p) != 1 || p[0].Worker != "a" {
				t.Errorf("alone after the hold: pushes %+v, want it back to a", p)
			}
		}
	}
}

func TestRejectReleaseCancelNoPenalty(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("a", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.reject(s.now, "a", 0, l.ID, l.Epoch, "not mine"); err != nil {
		t.Fatal(err)
	}
	s.step()
	if len(s.pushes()) != 0 {
		t.Fatal("rejected issue pushed back to the same worker")
	}
	s.connect("b", 1, Filters{})
	l = s.one().A.Lease
	if l.Worker != "b" || l.Attempt != 1 {
		t.Fatalf("after reject: %+v", l)
	}
	if _, err := s.c.release(s.now, "b", l.ID, l.Epoch, "later"); err != nil {
		t.Fatal(err)
	}
	s.step()
	l = s.one().A.Lease
	if err := s.c.cancelLease(s.now, l.ID, "operator", ""); err != nil {
		t.Fatal(err)
	}
	s.step()
	if m := s.meta(l.IssueID); m.Attempts != 0 || m.Status != "open" && m.Status != "hooked" {
		t.Fatalf("penalised: %+v", m)
	}
	if len(s.cancels()) != 1 {
		t.Fatal("cancel not sent to worker")
	}
}

// TestReleaseHoldsFromTheSession: an issue released by the session it was pushed to is not pushed back to
// that session for RejectHold, as after a reject (a TypeScript handler that threw ReleaseLease got the
// same issue back at once: 12,000 leases in 6 s); another worker takes it at once, and the same session
// after the hold. A lease resumed by a restarted worker's hello and released (it no longer runs it) comes
// back to it at once: it takes the work afresh, as the protocol says.
func TestReleaseHoldsFromTheSession(t *testing.T) {
	cfg := testCfg()
	cfg.RejectHold = 30 * time.Second
	t.Run("pushed in this session", func(t *testing.T) {
		s := newSim(t, cfg, 1, nil)
		s.connect("a", 1, Filters{})
		l := s.one().A.Lease
		if _, err := s.c.release(s.now, "a", l.ID, l.Epoch, "not now"); err != nil {
			t.Fatal(err)
		}
		s.advance(10 * time.Second)
		if p := s.pushes(); len(p) != 0 {
			t.Fatalf("released issue pushed back to the session within the hold: %+v", p)
		}
		if r := s.c.readiness(s.c.issues[l.IssueID]); !strings.Contains(r, "rejected or released it") {
			t.Errorf("readiness within the hold: %q", r)
		}
		s.advance(21 * time.Second)
		p := s.pushes()
		if len(p) != 1 || p[0].Worker != "a" || p[0].A.Lease.IssueID != l.IssueID {
			t.Fatalf("after the hold: pushes %+v, want %s to a again", p, l.IssueID)
		}
		l = p[0].A.Lease
		if _, err := s.c.release(s.now, "a", l.ID, l.Epoch, "still not now"); err != nil {
			t.Fatal(err)
		}
		s.connect("b", 1, Filters{})
		if p := s.pushes(); len(p) != 1 || p[0].Worker != "b" || p[0].A.Lease.IssueID != l.IssueID {
			t.Fatalf("another worker: pushes %+v, want %s to b at once", p, l.IssueID)
		}
	})
	t.Run("resumed by a restarted worker", func(t *testing.T) {
		s := newSim(t, cfg, 1, nil)
		s.connect("a", 1, Filters{})
		l := s.one().A.Lease
		s.c.disconnect(s.now, "a", 1)
		s.step()
		resumed, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2)
		if err != nil || len(resumed) != 1 || resumed[0].Lease.ID != l.ID {
			t.Fatalf("hello resumed %+v (%v), want %s", resumed, err, l.ID)
		}
		if _, err := s.c.release(s.now, "a", l.ID, l.Epoch, "restarted: not running it"); err != nil {
			t.Fatal(err)
		}
		s.step()
		if p := s.pushes(); len(p) != 1 || p[0].Worker != "a" || p[0].Session != 2 || p[0].A.Lease.IssueID != l.IssueID {
			t.Fatalf("a resumed lease released: pushes %+v, want %s back to a's session 2 at once", p, l.IssueID)
		}
	})
}

// TestRejectHoldsForTheSession: a rejected issue is not pushed again to the session that refused it,
// but the same worker reconnecting (a restarted process) takes it again. With the name alone, an issue
// only that worker could take sat ready beside it for good.
func TestRejectHoldsForTheSession(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("a", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.reject(s.now, "a", 0, l.ID, l.Epoch, "at capacity"); err != nil {
		t.Fatal(err)
	}
	s.advance(10 * time.Second) // within the hold (RejectHold, 30s)
	if len(s.pushes()) != 0 {
		t.Fatal("rejected issue pushed back to the session that refused it")
	}
	s.c.disconnect(s.now, "a", 1)
	if _, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2); err != nil {
		t.Fatal(err)
	}
	s.step()
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != l.IssueID || p[0].Session != 2 {
		t.Fatalf("after the worker reconnected: pushes %+v, want %s on session 2", p, l.IssueID)
	}
}

// TestRejectHoldEnds: the session that rejected an issue gets it again once RejectHold has passed (a
// worker that rejected while at capacity, or while its cancelled command was still stopping, and is
// the only one that may take the issue: it sat ready beside that idle worker for good). A later
// rejection's hold is not ended by the earlier one's timer.
func TestRejectHoldEnds(t *testing.T) {
	cfg := testCfg()
	cfg.RejectHold = 30 * time.Second
	s := newSim(t, cfg, 1, nil)
	s.connect("a", 1, Filters{})
	l := s.one().A.Lease
	if err := s.c.reject(s.now, "a", 0, l.ID, l.Epoch, "at capacity"); err != nil {
		t.Fatal(err)
	}
	s.advance(29 * time.Second)
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed within the hold: %+v", p)
	}
	s.advance(2 * time.Second)
	p := s.pushes()
	if len(p) != 1 || p[0].A.Lease.IssueID != l.IssueID || p[0].Worker != "a" {
		t.Fatalf("after the hold: pushes %+v, want %s to a again", p, l.IssueID)
	}
	// rejected again 31s after the first: the first hold's timer is long gone; the new one holds 30s
	l2 := p[0].A.Lease
	if err := s.c.reject(s.now, "a", 0, l2.ID, l2.Epoch, "still busy"); err != nil {
		t.Fatal(err)
	}
	s.advance(20 * time.Second)
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("pushed within the second hold: %+v", p)
	}
	s.advance(11 * time.Second)
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != l.IssueID {
		t.Fatalf("after the second hold: pushes %+v", p)
	}
}

// TestRejectFromAnEarlierSessionRefused: a reject read from a worker's old connection after the worker
// reconnected (and its hello resumed the pushed lease) is refused: the new session holds the lease now,
// and the issue is not kept from the new session either.
func TestRejectFromAnEarlierSessionRefused(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("a", 1, Filters{}) // session 1
	l := s.one().A.Lease
	s.c.disconnect(s.now, "a", 1)
	resumed, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2)
	if err != nil || len(resumed) != 1 || resumed[0].Lease.ID != l.ID {
		t.Fatalf("reconnect resumed %+v, %v; want lease %s", resumed, err, l.ID)
	}
	if err := s.c.reject(s.now, "a", 1, l.ID, l.Epoch, "late, from the old connection"); ErrorCode(err) != ENotHolder {
		t.Fatalf("reject from session 1 after session 2 resumed the lease: %v, want %s", err, ENotHolder)
	}
	s.step()
	if got, ok := s.c.leases[l.ID]; !ok || got.State != LeasePushed {
		t.Fatalf("lease after the refused reject: %+v (present %v), want it still pushed", got, ok)
	}
	// the new session's own reject ends it and keeps the issue from that session only
	if err := s.c.reject(s.now, "a", 2, l.ID, l.Epoch, "at capacity"); err != nil {
		t.Fatal(err)
	}
	s.advance(10 * time.Second)
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("rejected issue pushed back to the session that refused it: %+v", p)
	}
	// session 0 (an in-process caller that names no connection) acts for the current session
	s.connect("b", 1, Filters{})
	lb := s.one().A.Lease
	if err := s.c.reject(s.now, "b", 0, lb.ID, lb.Epoch, "no"); err != nil {
		t.Fatal(err)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		outcome, ccStatus string
		status            string
		attempts          int
	}{
		{OutcomeSuccess, "", "closed", 0},
		{OutcomeCodeComplete, "", "closed", 0},
		{OutcomeCodeComplete, "in_review", "in_review", 0},
		{OutcomeFailure, "", "open", 1},
		{OutcomePartial, "", "open", 1},
		{OutcomeContextOverflow, "", "open", 1},
	}
	for _, tt := range tests {
		t.Run(tt.outcome+"/"+tt.ccStatus, func(t *testing.T) {
			cfg := testCfg()
			cfg.CodeCompleteStatus = tt.ccStatus
			s := newSim(t, cfg, 1, nil)
			s.connect("w", 1, Filters{})
			l := s.one().A.Lease
			res, err := s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{Outcome: tt.outcome, Error: "boom"})
			if err != nil {
				t.Fatal(err)
			}
			m := s.meta(l.IssueID)
			if res.Status != tt.status || m.Status != tt.status || m.Attempts != tt.attempts {
				t.Fatalf("res %+v meta %+v", res, m)
			}
		})
	}
}

// TestCodeCompleteBlocksDependents: an issue left in Config.CodeCompleteStatus still blocks its
// dependents (its work is not on the target until it merges): the dependent is pushed only once the
// blocker closes, not when its agent reports code complete.
func TestCodeCompleteBlocksDependents(t *testing.T) {
	cfg := testCfg()
	cfg.CodeCompleteStatus = "code_complete"
	c := newTestCore(t, cfg, iss("t-1", 1), iss("t-2", 2, withDep("t-1", "blocks")))
	s := &sim{t: t, c: c, now: t0}
	s.connect("w", 2, Filters{})
	p := s.pushes()
	if len(p) != 1 || p[0].A.Lease.IssueID != "t-1" {
		t.Fatalf("pushes %+v, want t-1 only", p)
	}
	l := p[0].A.Lease
	if _, err := s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeCodeComplete}); err != nil {
		t.Fatal(err)
	}
	s.step()
	if p := s.pushes(); len(p) != 0 {
		t.Fatalf("dependent pushed while its blocker waits in code_complete: %+v", p)
	}
	closed := iss("t-1", 1, withStatus("closed"), func(i *beads.Issue) { i.UpdatedAt = s.now.Add(time.Second) })
	if err := s.c.putIssues(s.now, puts(closed)); err != nil {
		t.Fatal(err)
	}
	s.step()
	if p := s.pushes(); len(p) != 1 || p[0].A.Lease.IssueID != "t-2" {
		t.Fatalf("pushes after the blocker closed: %+v, want t-2", p)
	}
}

func TestFiltersAndFairness(t *testing.T) {
	c := newTestCore(t, testCfg(),
		iss("gt-1", 2, withLabels("go", "backend")), iss("gt-2", 1, withLabels("go")),
		iss("bd-3", 0, withType("bug")), iss("bd-4", 3, withLabels("convoy:alpha")), iss("bd-5", 4))
	s := &sim{t: t, c: c, now: t0}
	s.connect("conv", 1, Filters{Convoy: "alpha"})
	s.connect("gob", 1, Filters{Labels: []string{"go", "backend"}})
	s.connect("rig", 2, Filters{Prefixes: []string{"gt-"}})
	s.connect("bugs", 1, Filters{Types: []string{"bug", "chore"}})
	got := map[string][]string{}
	for _, p := range s.pushes() {
		got[p.Worker] = append(got[p.Worker], p.A.Lease.IssueID)
	}
	want := map[string][]string{"conv": {"bd-4"}, "gob": {"gt-1"}, "rig": {"gt-2"}, "bugs": {"bd-3"}}
	for w, ids := range want {
		if !slices.Equal(got[w], ids) {
			t.Fatalf("%s got %v want %v (all %v)", w, got[w], ids, got)
		}
	}
	if r := c.readyIDs(0); !slices.Equal(r, []string{"bd-5"}) {
		t.Fatalf("left %v", r)
	}
	// Fairness: with 3 idle workers and issues arriving one at a time, each goes to the longest idle.
	s2 := newSim(t, testCfg(), 0, nil)
	for _, w := range []string{"x", "y", "z"} {
		s2.connect(w, 1, Filters{})
		s2.advance(time.Second)
	}
	var order []string
	for i := 0; i < 3; i++ {
		_ = s2.c.putIssues(s2.now, puts(iss(idn(i), 2)))
		s2.step()
		order = append(order, s2.one().Worker)
	}
	if !slices.Equal(order, []string{"x", "y", "z"}) {
		t.Fatalf("fair order %v", order)
	}
	// Round robin across capacity: two workers of capacity 2 share 4 issues 2/2, alternating.
	s3 := newSim(t, testCfg(), 4, nil)
	s3.c.paused = true
	s3.connect("p", 2, Filters{})
	s3.connect("q", 2, Filters{})
	s3.c.pause(s3.now, false, "")
	s3.step()
	var rr []string
	for _, p := range s3.pushes() {
		rr = append(rr, p.Worker)
	}
	if !slices.Equal(rr, []string{"p", "q", "p", "q"}) {
		t.Fatalf("round robin %v", rr)
	}
}

func TestPauseDrainClaim(t *testing.T) {
	s := newSim(t, testCfg(), 3, nil)
	s.c.pause(s.now, true, "")
	s.connect("w", 1, Filters{})
	if len(s.pushes()) != 0 {
		t.Fatal("pushed while paused")
	}
	if _, _, err := s.c.claim(s.now, "w", nil, 0); ErrorCode(err) != EPaused {
		t.Fatalf("claim while paused: %v", err)
	}
	s.c.pause(s.now, false, "")
	s.step()
	if len(s.pushes()) != 1 {
		t.Fatal("no push after resume")
	}
	// Claims are not limited by capacity and return acked leases.
	a, _, err := s.c.claim(s.now, "w", nil, 0)
	if err != nil || a == nil || a.Lease.State != LeaseAcked || s.meta(a.Lease.IssueID).Status != "in_progress" {
		t.Fatalf("claim: %+v %v", a, err)
	}
	_ = s.c.drain(s.now, "w", false, 0, "")
	l := a.Lease
	_, _ = s.c.complete(s.now, "w", l.ID, l.Epoch, SessionResult{})
	s.step()
	if len(s.pushes()) != 0 || s.c.workerState(s.c.workers["w"]) != WorkerDraining {
		t.Fatal("draining worker got work")
	}
	// A parked claim is served when an issue becomes ready; another waits out its time.
	s.connect("c1", 1, Filters{Labels: []string{"later"}})
	_, wid, err := s.c.claim(s.now, "c1", nil, time.Minute)
	if err != nil || wid == 0 {
		t.Fatalf("park: %v %d", err, wid)
	}
	s.connect("c2", 1, Filters{Labels: []string{"never"}})
	_, wid2, _ := s.c.claim(s.now, "c2", nil, time.Minute)
	_ = s.c.putIssues(s.now, puts(iss("new", 0, withLabels("later"))))
	s.advance(time.Second)
	s.advance(time.Minute)
	var served, empty int
	for _, e := range s.ef {
		if ce, ok := e.(claimEffect); ok {
			if ce.waiter == wid && ce.a != nil && ce.a.Lease.IssueID == "new" {
				served++
			}
			if ce.waiter == wid2 && ce.a == nil {
				empty++
			}
		}
	}
	if served != 1 || empty != 1 {
		t.Fatalf("served %d empty %d", served, empty)
	}
}

func TestImportOlderThanSchedulerStateIsSkipped(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	// the file was read before the push: its line (open, older updated_at) must not undo the lease
	if err := s.c.putIssues(s.now, puts(iss(l.IssueID, 2))); err != nil {
		t.Fatal(err)
	}
	s.step()
	if _, live := s.c.lease(l.ID); !live || len(s.cancels()) != 0 {
		t.Fatalf("a stale import cancelled the lease (live %v, cancels %d)", live, len(s.cancels()))
	}
}

func TestOutsideChangeCancelsLease(t *testing.T) {
	tests := []struct {
		name   string
		status string
		assign string
		cancel bool
	}{
		{"closed outside", "closed", "w", true},
		{"reassigned", "in_progress", "someone", true},
		{"reopened", "open", "", true},
		{"echo of our own export", "hooked", "w", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, testCfg(), 1, nil)
			s.connect("w", 1, Filters{})
			l := s.one().A.Lease
			is := iss(l.IssueID, 2, withStatus(tt.status), func(i *beads.Issue) { i.Assignee, i.UpdatedAt = tt.assign, s.now.Add(time.Second) })
			if err := s.c.putIssues(s.now, puts(is)); err != nil {
				t.Fatal(err)
			}
			s.step()
			_, live := s.c.lease(l.ID)
			if live == tt.cancel || (len(s.cancels()) == 1) != tt.cancel {
				t.Fatalf("live %v cancels %d", live, len(s.cancels()))
			}
		})
	}
}

func TestAging(t *testing.T) {
	cfg := testCfg()
	cfg.Aging = time.Hour
	c := newTestCore(t, cfg, iss("old-p4", 4, withCreated(t0.Add(-10*time.Hour))), iss("new-p1", 1))
	if r := c.readyIDs(0); r[0] != "old-p4" {
		t.Fatalf("aging off? %v", r)
	}
	c2 := newTestCore(t, testCfg(), iss("old-p4", 4, withCreated(t0.Add(-10*time.Hour))), iss("new-p1", 1))
	if r := c2.readyIDs(0); r[0] != "new-p1" {
		t.Fatalf("default order %v", r)
	}
}

func TestHeartbeatOnAPushedLeaseAcksIt(t *testing.T) {
	s := newSim(t, testCfg(), 1, nil)
	s.connect("w", 1, Filters{})
	l := s.one().A.Lease
	if l.State != LeasePushed {
		t.Fatalf("state %s, want pushed", l.State)
	}
	if _, err := s.c.heartbeat(s.now, "w", l.ID, l.Epoch, "working"); err != nil {
		t.Fatal(err)
	}
	got, live := s.c.lease(l.ID)
	if !live || got.State != LeaseAcked || s.meta(l.IssueID).Status != "in_progress" {
		t.Fatalf("after a heartbeat: lease %+v live %v status %q; want acked and in_progress", got, live, s.meta(l.IssueID).Status)
	}
	if _, err := s.c.heartbeat(s.now, "w", l.ID, l.Epoch+1, ""); ErrorCode(err) != EStaleEpoch {
		t.Fatalf("heartbeat with another epoch: %v, want stale_epoch", err)
	}
}

// TestCheckNoCycle: a protocol change closing a cycle of blocking edges is refused, through an
// issue that does not exist yet (dangling edges point at it) and through a waits-for spawner too;
// one that closes none, or only repeats an edge, is taken.
func TestCheckNoCycle(t *testing.T) {
	c := newTestCore(t, testCfg(),
		iss("a", 2), iss("b", 2, withDep("a", "blocks")), iss("c", 2, withDep("b", "parent-child")),
		iss("d", 2, withDep("ghost", "blocks")), iss("e", 2, withDep("x", "waits-for", `{"spawner_id":"c"}`)))
	for _, tc := range []struct {
		is    beads.Issue
		cycle bool
	}{
		{iss("a", 2, withDep("c", "blocks")), true},
		{iss("a", 2, withDep("c", "related")), false},
		{iss("a", 2, withDep("e", "conditional-blocks")), true},
		{iss("ghost", 2, withDep("d", "blocks")), true},
		{iss("new", 2, withDep("c", "blocks")), false},
		{iss("b", 2, withDep("a", "blocks"), withDep("b", "blocks")), false},      // a self edge is no cycle
		{iss("c", 2, withDep("b", "parent-child"), withDep("e", "blocks")), true}, // e waits for c's children
		{iss("e", 2, withDep("a", "blocks")), false},
	} {
		err := c.checkNoCycle(&tc.is)
		if got := err != nil; got != tc.cycle || err != nil && ErrorCode(err) != EConflict {
			t.Errorf("%s -> %v: %v, want cycle=%v", tc.is.ID, tc.is.Dependencies, err, tc.cycle)
		}
	}
}

// TestOutsideReopenIsAnEvent: an import that reopens a closed issue (bd, a hand edit) leaves a
// "reopened" event, as an outside close leaves "cancelled", and the issue runs again; an import that
// tombstones it (classic bd's delete) is no reopen.
func TestOutsideReopenIsAnEvent(t *testing.T) {
	for _, tc := range []struct {
		status   string
		reopened int
		pushed   bool
	}{{"open", 1, true}, {"tombstone", 0, false}} {
		s := newSim(t, testCfg(), 1, nil)
		s.connect("a", 1, Filters{})
		l := s.one().A.Lease
		if _, err := s.c.complete(s.now, "a", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
		s.advance(time.Second)
		is := iss(l.IssueID, 2)
		is.Status, is.UpdatedAt = tc.status, s.now
		if err := s.c.putIssues(s.now, []IssuePut{{Issue: is, FromImport: true}}); err != nil {
			t.Fatal(err)
		}
		s.step()
		if n := s.events("reopened"); n != tc.reopened {
			t.Fatalf("import of a closed issue as %s: %d reopened events, want %d", tc.status, n, tc.reopened)
		}
		if p := s.pushes(); (len(p) == 1 && p[0].A.Lease.IssueID == l.IssueID) != tc.pushed {
			t.Fatalf("import of a closed issue as %s: pushes %+v, want pushed again %v", tc.status, p, tc.pushed)
		}
	}
}

// TestCancelHoldsTheIssueFromTheWorker: an operator's cancel keeps the issue from that worker — every
// session of it, so a worker reconnecting when its lease was cancelled does not get it straight back —
// for RejectHold; another worker takes it meanwhile (Python-worker trial: it came straight back to the
// reconnecting worker). A release: see TestReleaseHoldsFromTheSession.
func TestCancelHoldsTheIssueFromTheWorker(t *testing.T) {
	cfg := testCfg()
	cfg.RejectHold = 30 * time.Second
	for _, tc := range []struct {
		name      string
		end       func(s *sim, l Lease) error
		reconnect bool // the worker comes back on a new session before the issue is pushed again
		held      bool
	}{
		{"cancel, same session", func(s *sim, l Lease) error { return s.c.cancelLease(s.now, l.ID, "operator", "") }, false, true},
		{"cancel, reconnected", func(s *sim, l Lease) error { return s.c.cancelLease(s.now, l.ID, "operator", "") }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, cfg, 1, nil)
			s.connect("a", 1, Filters{})
			l := s.one().A.Lease
			if err := s.c.ack(s.now, "a", l.ID, l.Epoch); err != nil {
				t.Fatal(err)
			}
			if tc.reconnect {
				s.c.disconnect(s.now, "a", 1)
				s.step()
			}
			if err := tc.end(s, l); err != nil {
				t.Fatal(err)
			}
			s.step()
			if tc.reconnect {
				if _, err := s.c.connect(s.now, Hello{Name: "a", Capacity: 1}, 2); err != nil {
					t.Fatal(err)
				}
			}
			s.advance(10 * time.Second)
			p := s.pushes()
			if held := len(p) == 0; held != tc.held {
				t.Fatalf("within the hold: pushes %+v, want held %v", p, tc.held)
			}
			if !tc.held {
				return
			}
			if r := s.c.readiness(s.c.issues[l.IssueID]); !strings.Contains(r, "not pushed to a until") || !strings.Contains(r, "cancelled") {
				t.Errorf("readiness within the hold: %q", r)
			}
			s.connect("b", 1, Filters{})
			if p := s.pushes(); len(p) != 1 || p[0].Worker != "b" || p[0].A.Lease.IssueID != l.IssueID {
				t.Fatalf("another worker: pushes %+v, want %s to b", p, l.IssueID)
			}
		})
	}
}
