package coord

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type harness struct {
	t     *testing.T
	e     *Engine
	clk   *FakeClock
	p     *memPersister
	out   *recOutbox
	stop  func()
	ctx   context.Context
	errCh chan error
}

// startEngine runs an engine on p's current snapshot with a fake clock at now.
func startEngine(t *testing.T, cfg Config, p *memPersister, clk *FakeClock) *harness {
	t.Helper()
	return startEngineOn(t, cfg, p, p, clk)
}

// commitOnly hides memPersister's Load: the engine keeps its own fold of the durable state.
type commitOnly struct{ m *memPersister }

func (c commitOnly) Commit(ctx context.Context, chs []Change) error { return c.m.Commit(ctx, chs) }

// startEngineOn is startEngine with the engine committing through persister (p or a wrapper of it).
func startEngineOn(t *testing.T, cfg Config, p *memPersister, persister Persister, clk *FakeClock) *harness {
	t.Helper()
	snap, _ := p.Load(context.Background())
	out := newRecOutbox()
	e, err := NewEngine(cfg, clk, persister, snap, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, e: e, clk: clk, p: p, out: out, ctx: context.Background(), errCh: make(chan error, 1)}
	go func() { h.errCh <- e.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-h.errCh; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// ackedLease puts issue a, connects worker w (capacity 1) and acks the lease pushed to it.
func (h *harness) ackedLease() Lease {
	h.t.Helper()
	_ = h.e.PutIssues(h.ctx, puts(iss("a", 1)))
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		h.t.Fatal(err)
	}
	l := h.nextPush().A.Lease
	if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
		h.t.Fatal(err)
	}
	return l
}

// nextPush waits (bounded) for the next pushed assignment.
func (h *harness) nextPush() pushEffect {
	h.t.Helper()
	select {
	case p := <-h.out.pushed:
		return p
	case <-time.After(5 * time.Second):
		h.t.Fatal("no push within 5s")
	}
	return pushEffect{}
}

func (h *harness) noPush() {
	h.t.Helper()
	h.e.Status() // a round trip through the loop: earlier effects are delivered
	select {
	case p := <-h.out.pushed:
		h.t.Fatalf("unexpected push %+v", p)
	default:
	}
}

func TestEngineCycle(t *testing.T) {
	h := startEngine(t, testCfg(), newMemPersister(nil), NewFakeClock(t0))
	ctx := h.ctx
	if err := h.e.PutIssues(ctx, puts(iss("a", 1), iss("b", 0), iss("c", 2, withDep("b", "blocks")))); err != nil {
		t.Fatal(err)
	}
	if r := h.e.Ready(0); len(r) != 2 || r[0] != "b" {
		t.Fatalf("ready %v", r)
	}
	leases, err := h.e.Connect(ctx, Hello{Name: "w"}, 11)
	if err != nil || len(leases) != 0 {
		t.Fatalf("connect %v %v", leases, err)
	}
	var done []string
	for i := 0; i < 3; i++ {
		p := h.nextPush()
		l := p.A.Lease
		if p.Session != 11 || p.Worker != "w" {
			t.Fatalf("push %+v", p)
		}
		if err := h.e.Ack(ctx, "w", l.ID, l.Epoch); err != nil {
			t.Fatal(err)
		}
		if got, ok := h.e.Lease(l.ID); !ok || got.State != LeaseAcked {
			t.Fatalf("lease %+v", got)
		}
		if _, err := h.e.Heartbeat(ctx, "w", l.ID, l.Epoch, "working"); err != nil {
			t.Fatal(err)
		}
		res, err := h.e.Complete(ctx, "w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess})
		if err != nil || res.Status != "closed" {
			t.Fatalf("complete %+v %v", res, err)
		}
		done = append(done, l.IssueID)
	}
	if done[0] != "b" || done[1] != "a" || done[2] != "c" {
		t.Fatalf("order %v", done)
	}
	st := h.e.Status()
	if st.Issues.Closed != 3 || st.Issues.Ready != 0 || st.Workers.Idle != 1 {
		t.Fatalf("status %+v", st)
	}
	if ws := h.e.Workers(); len(ws) != 1 || ws[0].Name != "w" || !ws[0].Connected {
		t.Fatalf("workers %+v", ws)
	}
	k := h.out.eventKinds()
	if k["assigned"] != 3 || k["acked"] != 3 || k["completed"] != 3 {
		t.Fatalf("events %v", k)
	}
	snap, _ := h.p.Load(ctx)
	for _, m := range snap.Issues {
		if m.Status != "closed" {
			t.Fatalf("durable %s is %s", m.ID, m.Status)
		}
	}
}

// slowPersister delays commits so concurrent requests pile up into batches.
type slowPersister struct {
	*memPersister
	delay time.Duration
}

func (s slowPersister) Commit(ctx context.Context, chs []Change) error {
	time.Sleep(s.delay)
	return s.memPersister.Commit(ctx, chs)
}

func TestEngineGroupCommit(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	out := newRecOutbox()
	e, err := NewEngine(testCfg(), clk, slowPersister{mp, 5 * time.Millisecond}, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	const n = 64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := e.PutIssues(context.Background(), puts(iss(idn(i), 2))); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	commits, changes := mp.stats()
	if changes != n || commits >= n/2 {
		t.Fatalf("%d changes in %d commits: no group commit", changes, commits)
	}
	if got := len(e.Ready(0)); got != n {
		t.Fatalf("ready %d", got)
	}
}

// TestEngineCommitFailure checks that a failed commit undoes its batch, with the durable state
// reloaded from the persister (the store's way) and with the engine's own fold (a commit-only persister).
func TestEngineCommitFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*memPersister) Persister
	}{
		{"reloaded", func(m *memPersister) Persister { return m }},
		{"fold", func(m *memPersister) Persister { return commitOnly{m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := newMemPersister(nil)
			h := startEngineOn(t, testCfg(), mp, tc.wrap(mp), NewFakeClock(t0))
			ctx := h.ctx
			_ = h.e.PutIssues(ctx, puts(iss("a", 1)))
			if _, err := h.e.Connect(ctx, Hello{Name: "w"}, 1); err != nil {
				t.Fatal(err)
			}
			l := h.nextPush().A.Lease
			h.p.setFail(errors.New("disk full"))
			if err := h.e.Ack(ctx, "w", l.ID, l.Epoch); ErrorCode(err) != EUnavailable {
				t.Fatalf("ack during failure: %v", err)
			}
			if err := h.e.PutIssues(ctx, puts(iss("b", 0))); ErrorCode(err) != EUnavailable {
				t.Fatalf("put during failure: %v", err)
			}
			if h.e.Health() == nil {
				t.Fatal("engine reports healthy while commits fail")
			}
			h.p.setFail(nil)
			got, ok := h.e.Lease(l.ID)
			if !ok || got.State != LeasePushed {
				t.Fatalf("undurable ack survived: %+v", got)
			}
			if r := h.e.Ready(0); len(r) != 0 {
				t.Fatalf("undurable put survived: %v", r)
			}
			if err := h.e.Ack(ctx, "w", l.ID, l.Epoch); err != nil {
				t.Fatal(err)
			}
			if h.e.Health() != nil {
				t.Fatal("still unhealthy after a good commit")
			}
			h.noPush()
		})
	}
}

// loadFails is a memPersister whose Load can be made to fail.
type loadFails struct {
	*memPersister
	fail atomic.Bool
}

func (l *loadFails) Load(ctx context.Context) (*Snapshot, error) {
	if l.fail.Load() {
		return nil, errors.New("database unreadable")
	}
	return l.memPersister.Load(ctx)
}

// TestEngineStaysStaleUntilReloaded: when the durable state cannot be read back after a failed commit,
// every request is refused (the core may hold undurable decisions) until a reload succeeds, one second
// later at the earliest; then the engine serves the durable state.
func TestEngineStaysStaleUntilReloaded(t *testing.T) {
	mp := newMemPersister(nil)
	lf := &loadFails{memPersister: mp}
	clk := NewFakeClock(t0)
	h := startEngineOn(t, testCfg(), mp, lf, clk)
	ctx := h.ctx
	if err := h.e.PutIssues(ctx, puts(iss("a", 1))); err != nil {
		t.Fatal(err)
	}
	mp.setFail(errors.New("disk full"))
	lf.fail.Store(true)
	if err := h.e.PutIssues(ctx, puts(iss("b", 0))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put during failure: %v", err)
	}
	mp.setFail(nil)
	if err := h.e.PutIssues(ctx, puts(iss("c", 0))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put while the durable state cannot be read: %v, want unavailable", err)
	}
	if h.e.Health() == nil {
		t.Fatal("healthy while stale")
	}
	lf.fail.Store(false)
	if err := h.e.PutIssues(ctx, puts(iss("c", 0))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put before the retry time: %v, want unavailable", err)
	}
	clk.Advance(time.Second)
	if err := h.e.PutIssues(ctx, puts(iss("c", 0))); err != nil {
		t.Fatalf("put after the reload: %v", err)
	}
	if r := h.e.Ready(0); len(r) != 2 || r[0] != "c" || r[1] != "a" {
		t.Fatalf("ready after the reload = %v, want c, a (b was never durable)", r)
	}
}

func TestEngineTimers(t *testing.T) {
	clk := NewFakeClock(t0)
	h := startEngine(t, testCfg(), newMemPersister(nil), clk)
	_ = h.e.PutIssues(h.ctx, puts(iss("a", 1)))
	_, _ = h.e.Connect(h.ctx, Hello{Name: "w"}, 1)
	l := h.nextPush().A.Lease
	clk.Advance(10 * time.Second)
	if _, ok := h.e.Lease(l.ID); ok {
		t.Fatal("lease survived its ack deadline")
	}
	h.out.mu.Lock()
	nc := len(h.out.cancels)
	h.out.mu.Unlock()
	if nc != 1 {
		t.Fatalf("%d cancels", nc)
	}
	if st := h.e.Status(); st.Workers.Stalled != 1 || st.Issues.Ready != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestEngineRestart(t *testing.T) {
	for _, reconnect := range []bool{true, false} {
		t.Run(map[bool]string{true: "reconnect", false: "gone"}[reconnect], func(t *testing.T) {
			p := newMemPersister(nil)
			clk := NewFakeClock(t0)
			h := startEngine(t, testCfg(), p, clk)
			_ = h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2)))
			_ = h.e.Pause(h.ctx, "")
			_, _ = h.e.Connect(h.ctx, Hello{Name: "w"}, 1)
			_ = h.e.Resume(h.ctx, "")
			l := h.nextPush().A.Lease
			if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
				t.Fatal(err)
			}
			h.stop()

			h2 := startEngine(t, testCfg(), p, clk)
			if st := h2.e.Status(); st.Issues.Leased != 1 || st.Issues.Ready != 1 {
				t.Fatalf("after restart %+v", st)
			}
			if reconnect {
				clk.Advance(20 * time.Second)
				got, err := h2.e.Connect(h2.ctx, Hello{Name: "w"}, 2)
				if err != nil || len(got) != 1 || got[0].Lease.ID != l.ID {
					t.Fatalf("resumed %+v %v", got, err)
				}
				if _, err := h2.e.Complete(h2.ctx, "w", l.ID, l.Epoch, SessionResult{}); err != nil {
					t.Fatal(err)
				}
				l2 := h2.nextPush().A.Lease
				if l2.Epoch <= l.Epoch || l2.IssueID != "b" {
					t.Fatalf("next lease %+v", l2)
				}
				return
			}
			clk.Advance(31 * time.Second)
			st := h2.e.Status()
			if st.Issues.Leased != 0 || st.Workers.Gone != 1 {
				t.Fatalf("after grace %+v", st)
			}
			snap, _ := p.Load(context.Background())
			for _, m := range snap.Issues {
				if m.ID == l.IssueID && (m.Attempts != 1 || m.Status != "open") {
					t.Fatalf("expired issue %+v", m)
				}
			}
		})
	}
}

func TestEngineClaim(t *testing.T) {
	clk := NewFakeClock(t0)
	h := startEngine(t, testCfg(), newMemPersister(nil), clk)
	ctx := h.ctx
	_, _ = h.e.Connect(ctx, Hello{Name: "c", Role: "client"}, 1)
	if a, err := h.e.Claim(ctx, "c", nil, 0); err != nil || a != nil {
		t.Fatalf("empty claim %+v %v", a, err)
	}
	got := make(chan *Assignment, 1)
	go func() {
		a, err := h.e.Claim(ctx, "c", &Filters{Labels: []string{"x"}}, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	// wait until the claim is parked, then make an issue ready
	for i := 0; i < 500; i++ {
		if h.waiters() == 1 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = h.e.PutIssues(ctx, puts(iss("other", 0), iss("want", 3, withLabels("x"))))
	select {
	case a := <-got:
		if a == nil || a.Lease.IssueID != "want" || a.Lease.State != LeaseAcked {
			t.Fatalf("claimed %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parked claim not served")
	}
	// a parked claim that times out returns nil
	go func() {
		a, _ := h.e.Claim(ctx, "c", &Filters{Labels: []string{"none"}}, time.Minute)
		got <- a
	}()
	for i := 0; i < 500 && h.waiters() != 1; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	clk.Advance(time.Minute)
	if a := <-got; a != nil {
		t.Fatalf("timed-out claim returned %+v", a)
	}
	// an abandoned claim is unparked
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := h.e.Claim(cctx, "c", &Filters{Labels: []string{"none"}}, time.Hour); errc <- err }()
	for i := 0; i < 500 && h.waiters() != 1; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("abandoned claim returned no error")
	}
	if n := h.waiters(); n != 0 {
		t.Fatalf("%d waiters left", n)
	}
}

// waiters counts parked claims (read on the loop).
func (h *harness) waiters() int {
	n := 0
	h.e.read(func(c *core) { n = c.waiters.n })
	return n
}

// TestCreateRefusesExistingID checks that a put marked Create is refused with EConflict when the id
// exists, and changes nothing, while a new id is created.
func TestCreateRefusesExistingID(t *testing.T) {
	h := startEngine(t, testCfg(), newMemPersister(nil), NewFakeClock(t0))
	ctx := h.ctx
	if err := h.e.PutIssues(ctx, puts(iss("a", 1))); err != nil {
		t.Fatal(err)
	}
	again := iss("a", 4)
	again.Title = "replaced"
	err := h.e.PutIssues(ctx, []IssuePut{{Issue: iss("b", 0), Create: true}, {Issue: again, Create: true}})
	if ErrorCode(err) != EConflict {
		t.Fatalf("create of an existing id: %v, want conflict", err)
	}
	if r := h.e.Ready(0); len(r) != 1 || r[0] != "a" {
		t.Fatalf("ready after the refused create = %v, want only a (b refused with it)", r)
	}
	if err := h.e.PutIssues(ctx, []IssuePut{{Issue: iss("b", 0), Create: true}}); err != nil {
		t.Fatalf("create of a new id: %v", err)
	}
	if r := h.e.Ready(0); len(r) != 2 || r[0] != "b" {
		t.Fatalf("ready = %v, want b then a", r)
	}
}

// TestEngineAckAsync: the callback gets nil once the ack is durable (the lease reads acked), and a
// stale epoch's refusal code, each on the engine's goroutine.
func TestEngineAckAsync(t *testing.T) {
	p := newMemPersister(nil)
	h := startEngine(t, testCfg(), p, NewFakeClock(t0))
	if err := h.e.PutIssues(h.ctx, puts(iss("a", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	l := h.nextPush().A.Lease
	commitsBefore, _ := p.stats()
	got := make(chan error, 2)
	h.e.AckAsync("w", l.ID, l.Epoch, func(err error) { got <- err })
	if err := outcome(t, got, "ack"); err != nil {
		t.Fatalf("ack: %v", err)
	}
	if c, _ := p.stats(); c == commitsBefore {
		t.Fatal("ack outcome delivered before its commit")
	}
	if got, ok := h.e.Lease(l.ID); !ok || got.State != LeaseAcked {
		t.Fatalf("lease after ack %+v", got)
	}
	h.e.AckAsync("w", l.ID, l.Epoch-1, func(err error) { got <- err })
	select {
	case err := <-got:
		if ErrorCode(err) != EStaleEpoch {
			t.Fatalf("stale ack: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stale-ack outcome within 5s")
	}
	h.stop()
	h.e.RejectAsync("w", 0, l.ID, l.Epoch, "late", func(err error) { got <- err })
	if err := <-got; ErrorCode(err) != EUnavailable {
		t.Fatalf("after stop: %v", err)
	}
}

// TestEnginePutIssuesAsync: a create's after runs, then its callback gets nil, once the put is
// durable and before the push it caused is handed out; a second create of the same id gets conflict;
// after a stop the callback says unavailable.
func TestEnginePutIssuesAsync(t *testing.T) {
	p := newMemPersister(nil)
	h := startEngine(t, testCfg(), p, NewFakeClock(t0))
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	before, _ := p.stats()
	var order []string // appended on the engine's goroutine only
	got := make(chan error, 2)
	create := []IssuePut{{Issue: iss("a", 1), Create: true}}
	h.e.PutIssuesAsync(create, func() {
		if c, _ := p.stats(); c == before {
			order = append(order, "after-before-commit")
		}
		order = append(order, "after")
	}, func(err error) { order = append(order, "done"); got <- err })
	if err := outcome(t, got, "create"); err != nil {
		t.Fatalf("create: %v", err)
	}
	if push := h.nextPush(); push.A.Lease.IssueID != "a" {
		t.Fatalf("push %+v, want a's", push)
	}
	if len(order) != 2 || order[0] != "after" || order[1] != "done" {
		t.Fatalf("order %v, want after then done, after the commit", order)
	}
	h.e.PutIssuesAsync(create, nil, func(err error) { got <- err })
	if err := <-got; ErrorCode(err) != EConflict {
		t.Fatalf("second create of a: %v, want conflict", err)
	}
	h.stop()
	h.e.PutIssuesAsync(puts(iss("b", 1)), nil, func(err error) { got <- err })
	if err := <-got; ErrorCode(err) != EUnavailable {
		t.Fatalf("after stop: %v", err)
	}
}

// outcome waits up to 5 s for an asynchronous request's outcome.
func outcome(t *testing.T, got <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-got:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s outcome within 5s", what)
		return nil
	}
}

// TestCreateRefusesMissingDependency: a create naming an issue the scheduler does not have is refused
// with not_found and changes nothing; one naming an issue put just before it (in an earlier request,
// possibly the same commit) is taken.
func TestCreateRefusesMissingDependency(t *testing.T) {
	h := startEngine(t, testCfg(), newMemPersister(nil), NewFakeClock(t0))
	err := h.e.PutIssues(h.ctx, []IssuePut{{Issue: iss("b", 1, withDep("nope", "blocks")), Create: true}})
	if ErrorCode(err) != ENotFound {
		t.Fatalf("create depending on a missing issue: %v, want not_found", err)
	}
	got := make(chan error, 2)
	h.e.PutIssuesAsync([]IssuePut{{Issue: iss("a", 1), Create: true}}, nil, func(err error) { got <- err })
	h.e.PutIssuesAsync([]IssuePut{{Issue: iss("b", 1, withDep("a", "blocks")), Create: true}}, nil, func(err error) { got <- err })
	for _, what := range []string{"create a", "create b"} {
		if err := outcome(t, got, what); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if r := h.e.Ready(0); len(r) != 1 || r[0] != "a" {
		t.Fatalf("ready = %v, want only a (b waits for it)", r)
	}
}

// failOnePut makes mp's commits fail and has a put refused by the engine (a failed commit).
func failOnePut(t *testing.T, h *harness, mp *memPersister) {
	t.Helper()
	mp.setFail(errors.New("disk full"))
	if err := h.e.PutIssues(h.ctx, puts(iss("a", 1))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put during failure: %v", err)
	}
}

// idleUntilHealthy moves the fake clock on, sending no request, until the engine reports healthy or
// 5 s of real time pass; it returns the engine's health then.
func idleUntilHealthy(h *harness, clk *FakeClock) error {
	deadline := time.Now().Add(5 * time.Second)
	for h.e.Health() != nil && time.Now().Before(deadline) {
		clk.Advance(100 * time.Millisecond)
		time.Sleep(2 * time.Millisecond)
	}
	return h.e.Health()
}

// TestEngineHealthRecoversWhenIdle: after a failed commit, an idle engine (no request, no timer due)
// checks the storage itself at the retry time: Health clears once a commit succeeds, with a
// storage_check event in the audit log, instead of reporting the failure until something changes.
func TestEngineHealthRecoversWhenIdle(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	h := startEngineOn(t, testCfg(), mp, mp, clk)
	failOnePut(t, h, mp)
	if h.e.Health() == nil {
		t.Fatal("healthy while commits fail")
	}
	mp.setFail(nil)
	if err := idleUntilHealthy(h, clk); err != nil {
		t.Fatalf("still failing with no request, storage working again: %v", err)
	}
	if h.out.eventKinds()["storage_check"] == 0 {
		t.Fatalf("no storage_check event committed (events %v)", h.out.eventKinds())
	}
}

// countingPersister counts commit attempts and loads of a memPersister.
type countingPersister struct {
	*memPersister
	commits, loads atomic.Int64
}

func (c *countingPersister) Commit(ctx context.Context, chs []Change) error {
	c.commits.Add(1)
	return c.memPersister.Commit(ctx, chs)
}

func (c *countingPersister) Load(ctx context.Context) (*Snapshot, error) {
	c.loads.Add(1)
	return c.memPersister.Load(ctx)
}

// TestEngineProbeIsCheap: while the storage keeps failing, the idle engine's storage check is tried
// once a second without rebuilding the core (no reload of the store per try); and a check is not
// written when a commit of real work has already shown the storage works.
func TestEngineProbeIsCheap(t *testing.T) {
	t.Run("failing", func(t *testing.T) {
		mp := newMemPersister(nil)
		cp := &countingPersister{memPersister: mp}
		clk := NewFakeClock(t0)
		h := startEngineOn(t, testCfg(), mp, cp, clk)
		failOnePut(t, h, mp)
		loads, commits := cp.loads.Load(), cp.commits.Load()
		for range 10 {
			clk.Advance(time.Second)
			deadline := time.Now().Add(2 * time.Second)
			for cp.commits.Load() == commits && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			commits = cp.commits.Load()
		}
		if n := cp.commits.Load(); n < 5 {
			t.Fatalf("%d storage checks in 10 s of failure, want about one a second", n)
		}
		if got := cp.loads.Load() - loads; got != 0 {
			t.Fatalf("%d reloads of the store while idle and failing, want 0", got)
		}
		if h.e.Health() == nil {
			t.Fatal("healthy while every commit fails")
		}
		mp.setFail(nil)
		if err := idleUntilHealthy(h, clk); err != nil {
			t.Fatalf("not recovered: %v", err)
		}
	})
	t.Run("recovered by traffic", func(t *testing.T) {
		mp := newMemPersister(nil)
		clk := NewFakeClock(t0)
		h := startEngineOn(t, testCfg(), mp, mp, clk)
		failOnePut(t, h, mp)
		mp.setFail(nil)
		if err := h.e.PutIssues(h.ctx, puts(iss("b", 1))); err != nil {
			t.Fatal(err)
		}
		if h.e.Health() != nil {
			t.Fatal("unhealthy after a good commit")
		}
		for range 5 {
			clk.Advance(time.Second)
			time.Sleep(5 * time.Millisecond)
		}
		h.e.Status() // a round trip through the engine: whatever the timers did is done
		if n := h.out.eventKinds()["storage_check"]; n != 0 {
			t.Fatalf("%d storage checks committed after a commit had shown the storage works", n)
		}
	})
}

// TestEngineCompleteFailAsync: the result callbacks get the decision's Result once it is durable, the
// zero Result with a refusal, and a refused operation leaves nothing behind for the next one (the
// operations are pooled).
func TestEngineCompleteFailAsync(t *testing.T) {
	p := newMemPersister(nil)
	h := startEngine(t, testCfg(), p, NewFakeClock(t0))
	if err := h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		r   Result
		err error
	}
	got := make(chan outcome, 1)
	cb := func(r Result, err error) { got <- outcome{r, err} }
	wait := func(what string) outcome {
		t.Helper()
		select {
		case o := <-got:
			return o
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s outcome within 5s", what)
		}
		return outcome{}
	}
	l := h.nextPush().A.Lease
	h.e.FailAsync("w", l.ID, l.Epoch+1, "boom", cb)
	if o := wait("stale fail"); ErrorCode(o.err) != EStaleEpoch || o.r != (Result{}) {
		t.Fatalf("stale fail: %+v %v", o.r, o.err)
	}
	commitsBefore, _ := p.stats()
	h.e.CompleteAsync("w", l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess, Summary: "done"}, cb)
	o := wait("complete")
	if o.err != nil || o.r != (Result{IssueID: l.IssueID, Status: "closed", Outcome: OutcomeSuccess, Attempt: 1}) {
		t.Fatalf("complete: %+v %v", o.r, o.err)
	}
	if c, _ := p.stats(); c == commitsBefore {
		t.Fatal("complete outcome delivered before its commit")
	}
	l2 := h.nextPush().A.Lease
	h.e.FailAsync("w", l2.ID, l2.Epoch, "boom", cb)
	o = wait("fail")
	if o.err != nil || o.r.IssueID != l2.IssueID || o.r.Status != "open" || o.r.Outcome != OutcomeFailure || o.r.DeadLettered {
		t.Fatalf("fail: %+v %v", o.r, o.err)
	}
	h.stop()
	h.e.CompleteAsync("w", l2.ID, l2.Epoch, SessionResult{}, cb)
	if o := wait("complete after stop"); ErrorCode(o.err) != EUnavailable || o.r != (Result{}) {
		t.Fatalf("after stop: %+v %v", o.r, o.err)
	}
}

// TestEngineCompleteGivenUp: a Complete whose caller stops waiting while its commit is held gets
// EUnavailable, the decision still lands once the commit goes through, and the operations after it
// (drawn from the same pool) get their own outcomes.
func TestEngineCompleteGivenUp(t *testing.T) {
	gp := &gatePersister{memPersister: newMemPersister(nil)}
	h := startEngineOn(t, testCfg(), gp.memPersister, gp, NewFakeClock(t0))
	if err := h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w", Capacity: 2}, 1); err != nil {
		t.Fatal(err)
	}
	l1, l2 := h.nextPush().A.Lease, h.nextPush().A.Lease
	gate := make(chan struct{})
	gp.mu.Lock()
	gp.gate = gate
	gp.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.e.Complete(ctx, "w", l1.ID, l1.Epoch, SessionResult{}); ErrorCode(err) != EUnavailable {
		t.Fatalf("complete given up: %v, want unavailable", err)
	}
	close(gate)
	if err := h.e.Ack(h.ctx, "w", l2.ID, l2.Epoch); err != nil {
		t.Fatalf("ack after a given-up complete: %v", err)
	}
	if _, err := h.e.Complete(h.ctx, "w", l1.ID, l1.Epoch, SessionResult{}); ErrorCode(err) != EStaleEpoch {
		t.Fatalf("second complete of the given-up lease: %v, want stale_epoch (the first one landed)", err)
	}
	res, err := h.e.Fail(h.ctx, "w", l2.ID, l2.Epoch, "boom")
	if err != nil || res.IssueID != l2.IssueID || res.Outcome != OutcomeFailure {
		t.Fatalf("fail: %+v %v", res, err)
	}
}

// TestWakeTimerReset: the engine's real-clock wake-up is one timer reset per deadline; a deadline that
// moves earlier fires, and one that fired unread does not wake the engine after a later reset.
func TestWakeTimerReset(t *testing.T) {
	var w wakeTimer
	defer w.stop()
	w.after(RealClock{}, time.Hour)
	select {
	case <-w.after(RealClock{}, time.Millisecond):
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline moved earlier did not fire")
	}
	c := w.after(RealClock{}, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // fired, nobody read it
	if c2 := w.after(RealClock{}, time.Hour); c2 != c {
		t.Fatal("a new channel: the timer was not reused")
	}
	select {
	case <-c:
		t.Fatal("the reset timer delivered its earlier deadline")
	case <-time.After(50 * time.Millisecond):
	}
	clk := NewFakeClock(t0)
	fc := w.after(clk, time.Second)
	clk.Advance(time.Second)
	select {
	case <-fc:
	case <-time.After(5 * time.Second):
		t.Fatal("a fake clock's wake-up did not come from the clock")
	}
}
