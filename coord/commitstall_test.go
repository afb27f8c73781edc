package coord

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// blockingPersister commits through m once release is closed.
type blockingPersister struct {
	m       *memPersister
	entered chan struct{}
	release chan struct{}
}

func (b *blockingPersister) Commit(ctx context.Context, chs []Change) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.m.Commit(ctx, chs)
}

// TestHealthReportsAStalledCommit: a commit that neither returns nor fails (a frozen file system) is
// reported by Health once it has run for commitStall, and not before; health is ok again once it
// returns. Before, /healthz said ok while every change waited.
func TestHealthReportsAStalledCommit(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	bp := &blockingPersister{m: mp, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := startEngineOn(t, testCfg(), mp, bp, clk)
	done := make(chan error, 1)
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("a", 1))) }()
	select {
	case <-bp.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the commit did not start")
	}
	clk.Advance(commitStall - time.Second)
	if err := h.e.Health(); err != nil {
		t.Fatalf("health %v after %v of a commit", err, commitStall-time.Second)
	}
	clk.Advance(2 * time.Second)
	confirmStall(t, h.e, clk)
	err, since := h.e.StorageFailing()
	if err == nil || !strings.Contains(err.Error(), "stalled") || !since.Equal(t0) {
		t.Fatalf("health after %v of a commit: %v since %v", commitStall+time.Second, err, since)
	}
	close(bp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := h.e.Health(); err != nil {
		t.Fatalf("health after the commit returned: %v", err)
	}
}

// hangPersister commits through m, hanging while a gate is set.
type hangPersister struct {
	m    *memPersister
	mu   sync.Mutex
	gate chan struct{} // nil: commits pass
}

func (g *hangPersister) Commit(ctx context.Context, chs []Change) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.m.Commit(ctx, chs)
}

// hangPut puts is through the engine with the gate set, so that its commit hangs, and returns once
// that commit has begun; the put's outcome comes on the channel once the gate is closed.
func (g *hangPersister) hangPut(t *testing.T, h *harness, is beads.Issue) <-chan error {
	t.Helper()
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- h.e.PutIssues(h.ctx, puts(is)) }()
	for deadline := time.Now().Add(5 * time.Second); h.e.commitStart.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the commit did not begin")
		}
	}
	return done
}

// thawThenBeat moves the clock on secs seconds one at a time (each step wakes the engine), lets the hung
// commit return (done: its put's outcome) and returns what a heartbeat of worker w's lease l gets then.
func (g *hangPersister) thawThenBeat(t *testing.T, h *harness, clk *FakeClock, done <-chan error, l Lease, secs int) error {
	t.Helper()
	for range secs {
		clk.Advance(time.Second)
		time.Sleep(time.Millisecond)
	}
	g.close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, "")
	return err
}

// ackedLeaseOnHang starts an engine committing through a hangPersister, with worker w holding an acked
// lease l of issue a (b ready behind it).
func ackedLeaseOnHang(t *testing.T) (*memPersister, *FakeClock, *hangPersister, *harness, Lease) {
	t.Helper()
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	gp := &hangPersister{m: mp}
	h := startEngineOn(t, testCfg(), mp, gp, clk)
	_ = h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2)))
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	l := h.nextPush().A.Lease
	if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	return mp, clk, gp, h, l
}

func (g *hangPersister) close() {
	g.mu.Lock()
	gate := g.gate
	g.gate = nil
	g.mu.Unlock()
	close(gate)
}

// TestStalledCommitStopsLeaseClocks: a commit that hangs for 80 s (a frozen file system) holds up the
// worker's heartbeats as a failure would; the lease does not expire meanwhile, and the clocks run again
// once the commit returns. Before, the first commit after the thaw expired it (a re-run of the storage
// trial: fsfreeze for 75 s dead-lettered a finished issue).
func TestStalledCommitStopsLeaseClocks(t *testing.T) {
	mp, clk, gp, h, l := ackedLeaseOnHang(t)
	done := gp.hangPut(t, h, iss("c", 3))
	// the lease's timers fire meanwhile; each wakes the engine
	if err := gp.thawThenBeat(t, h, clk, done, l, 80); err != nil {
		t.Fatalf("heartbeat after an 80 s stalled commit: %v", err)
	}
	clk.Advance(61 * time.Second)
	_ = h.e.PutIssues(h.ctx, puts(iss("d", 3)))
	if liveLeaseIn(t, mp, l.ID) {
		t.Fatal("lease still live a heartbeat timeout after the stall ended")
	}
}

// TestReadsAnswerDuringAStalledCommit: reads of the state (gtc status, workers, the gauges) wait for
// the commit under way, as always, until it has run for stallHold; then they are answered at once, those
// already waiting included, with the changes applied so far. Before, gtc status hung for as long as a
// frozen file system held the commit.
func TestReadsAnswerDuringAStalledCommit(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	bp := &blockingPersister{m: mp, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := startEngineOn(t, testCfg(), mp, bp, clk)
	var once sync.Once
	release := func() { once.Do(func() { close(bp.release) }) }
	t.Cleanup(release) // before the engine's stop, which waits for the commit
	done := make(chan error, 1)
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("a", 1), iss("b", 2))) }()
	select {
	case <-bp.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the commit did not start")
	}
	early := make(chan Status, 1)
	go func() { early <- h.e.Status() }()
	clk.Advance(stallHold / 2)
	time.Sleep(20 * time.Millisecond)
	select {
	case s := <-early:
		t.Fatalf("status answered %+v while the commit had run %v: it waits for the commit", s.Issues, stallHold/2)
	default:
	}
	if _, ok := h.e.CommitStalledSince(); ok {
		t.Fatalf("commit reported stalled %v into it", stallHold/2)
	}
	clk.Advance(stallHold) // the engine's timer finds the commit running for stallHold
	confirmStall(t, h.e, clk)
	if since, ok := h.e.CommitStalledSince(); !ok || !since.Equal(t0) {
		t.Fatalf("commit stalled since %v (%v), want %v", since, ok, t0)
	}
	for name, ch := range map[string]<-chan Status{"waiting": early, "new": goStatus(h.e)} {
		select {
		case s := <-ch:
			if s.Issues.Total != 2 || s.Issues.Ready != 2 {
				t.Errorf("%s status during the stall: %+v, want the two issues being committed", name, s.Issues)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s status not answered %v into a hung commit", name, 3*stallHold/2)
		}
	}
	ws := make(chan []WorkerStatus, 1)
	go func() { ws <- h.e.Workers() }()
	select {
	case <-ws:
	case <-time.After(5 * time.Second):
		t.Fatal("workers not answered during the stall")
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := h.e.Status(); s.Issues.Total != 2 {
		t.Fatalf("status after the commit: %+v", s.Issues)
	}
}

func goStatus(e *Engine) <-chan Status {
	ch := make(chan Status, 1)
	go func() { ch <- e.Status() }()
	return ch
}

// stepPersister commits through m, each commit waiting for the channel next hands it (nil: none).
type stepPersister struct {
	m       *memPersister
	mu      sync.Mutex
	gates   []chan struct{}
	entered chan int
	n       int
}

func (s *stepPersister) Commit(ctx context.Context, chs []Change) error {
	s.mu.Lock()
	i := s.n
	s.n++
	var gate chan struct{}
	if i < len(s.gates) {
		gate = s.gates[i]
	}
	s.mu.Unlock()
	s.entered <- i
	if gate != nil {
		<-gate
	}
	return s.m.Commit(ctx, chs)
}

// TestReadInTheHungBatchIsAnswered: a read applied in the very batch whose commit hangs (it arrived
// with the write, before the commit began) is answered once the commit counts as stalled, like the
// reads that come later. Before, it waited for the commit.
func TestReadInTheHungBatchIsAnswered(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	sp := &stepPersister{m: mp, gates: []chan struct{}{make(chan struct{}), make(chan struct{})}, entered: make(chan int, 8)}
	h := startEngineOn(t, testCfg(), mp, sp, clk)
	var once [2]sync.Once
	release := func(i int) { once[i].Do(func() { close(sp.gates[i]) }) }
	t.Cleanup(func() { release(0); release(1) })
	done := make(chan error, 2)
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("a", 1))) }()
	if i := <-sp.entered; i != 0 {
		t.Fatalf("commit %d first", i)
	}
	// while commit 0 runs, a write and a read join the next batch, which commit 1 takes whole
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("b", 2))) }()
	look := goStatus(h.e)
	time.Sleep(50 * time.Millisecond)
	release(0)
	if i := <-sp.entered; i != 1 {
		t.Fatalf("commit %d second", i)
	}
	clk.Advance(stallHold + time.Second)
	confirmStall(t, h.e, clk)
	select {
	case s := <-look:
		if s.Issues.Total < 1 { // a at least (b too if its put came first)
			t.Errorf("status from the hung batch: %+v", s.Issues)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read in the hung batch was not answered once the commit stalled")
	}
	release(1)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// scriptPersister commits through m; commit n (from 1) fails when fail[n] and waits for gates[n] when
// set; entered receives n as each commit starts.
type scriptPersister struct {
	m       *memPersister
	mu      sync.Mutex
	n       int
	fail    map[int]bool
	gates   map[int]chan struct{}
	entered chan int
}

func (s *scriptPersister) Commit(ctx context.Context, chs []Change) error {
	s.mu.Lock()
	s.n++
	n := s.n
	gate, fail := s.gates[n], s.fail[n]
	s.mu.Unlock()
	s.entered <- n
	if gate != nil {
		<-gate
	}
	if fail {
		return errors.New("disk I/O error")
	}
	return s.m.Commit(ctx, chs)
}

// entered waits for commit n to start.
func (s *scriptPersister) waitEntered(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-s.entered:
			if got == n {
				return
			}
		case <-deadline:
			t.Fatalf("commit %d did not start", n)
		}
	}
}

// TestClientHelloDuringAHungCommit: a client's hello waits for a slow commit like any change (a 2 to
// 10 s commit is a slow disk, not a failure: the session then opens normally and can write), and is
// refused as while commits fail once the commit has run for commitStall — the server then opens a
// read-only session — also when it was sent before that point, and when the hang follows a failed
// commit (a dying disk fails, then hangs), where reads are answered from stallHold on as well. Before,
// a hello sent in the commit's first 2 s waited out the whole hang, a hang after a failure never
// counted as a stall for reads, and hellos went read-only from 2 s on, so a write during a merely slow
// commit was refused.
func TestClientHelloDuringAHungCommit(t *testing.T) {
	for _, afterFailure := range []bool{false, true} {
		name := "hang"
		if afterFailure {
			name = "failure, then hang"
		}
		t.Run(name, func(t *testing.T) {
			mp := newMemPersister(nil)
			clk := NewFakeClock(t0)
			hung := 1
			sp := &scriptPersister{m: mp, gates: map[int]chan struct{}{}, fail: map[int]bool{}, entered: make(chan int, 16)}
			if afterFailure {
				hung = 2
				sp.fail[1] = true
			}
			gate := make(chan struct{})
			sp.gates[hung] = gate
			h := startEngineOn(t, testCfg(), mp, sp, clk)
			var once sync.Once
			release := func() { once.Do(func() { close(gate) }) }
			t.Cleanup(release)
			if afterFailure {
				if err := h.e.PutIssues(h.ctx, puts(iss("x", 1))); !StorageFailed(err) {
					t.Fatalf("first commit: %v", err)
				}
				clk.Advance(2 * time.Second) // past the retry
			}
			done := make(chan error, 1)
			go func() { done <- h.e.PutIssues(h.ctx, puts(iss("a", 1))) }()
			sp.waitEntered(t, hung)
			clk.Advance(time.Second) // an operator runs gtc status 1 s into the commit
			hello := make(chan error, 1)
			go func() { _, err := h.e.Connect(h.ctx, Hello{Name: "op", Role: "client"}, 9); hello <- err }()
			time.Sleep(50 * time.Millisecond)
			clk.Advance(2 * time.Second) // stalled: reads are answered, the hello still waits
			confirmStall(t, h.e, clk)
			select {
			case <-goStatus(h.e):
			case <-time.After(5 * time.Second):
				t.Fatal("status not answered 3 s into a hung commit")
			}
			select {
			case err := <-hello:
				t.Fatalf("a client's hello answered %v 3 s into the commit: it waits for a slow one", err)
			case <-time.After(50 * time.Millisecond):
			}
			clk.Advance(commitStall)
			select {
			case err := <-hello:
				if !StorageFailed(err) {
					t.Errorf("the waiting client hello: %v, want the storage failure (a read-only session)", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a client hello sent 1 s into a hung commit still waits past commitStall")
			}
			if _, err := h.e.Connect(h.ctx, Hello{Name: "op2", Role: "client"}, 10); !StorageFailed(err) {
				t.Errorf("a new client hello past commitStall: %v, want the storage failure", err)
			}
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, err := h.e.Connect(h.ctx, Hello{Name: "op3", Role: "client"}, 11); err != nil {
				t.Fatalf("a client hello after the commit returned: %v", err)
			}
		})
	}
}

// confirmStall moves the clock on, stallConfirm at a time, until the engine has noted the commit under
// way as stalled (it looks twice, stallConfirm apart, before it does).
func confirmStall(t *testing.T, e *Engine, clk *FakeClock) {
	t.Helper()
	for i := 0; !e.stalledNow.Load(); i++ {
		if i == 500 {
			t.Fatal("the commit under way was not noted stalled")
		}
		clk.Advance(stallConfirm)
		time.Sleep(2 * time.Millisecond)
	}
}

// TestAJumpOfTheClockIsNoStall: a clock moved hours at once while a commit of a moment runs (a test's
// fake clock) does not make a stall of it: the lease clocks are not held, client hellos are not
// refused. Before, the engine's look at the commit after the jump found it "running" for the jump: an
// e2e test's lease expired two seconds late, and a client's hello after the jump could be refused.
func TestAJumpOfTheClockIsNoStall(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	sp := &stepPersister{m: mp, gates: []chan struct{}{nil, make(chan struct{})}, entered: make(chan int, 8)}
	h := startEngineOn(t, testCfg(), mp, sp, clk)
	var once sync.Once
	release := func() { once.Do(func() { close(sp.gates[1]) }) }
	t.Cleanup(release)
	_ = h.e.PutIssues(h.ctx, puts(iss("a", 1)))
	<-sp.entered
	done := make(chan error, 1)
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("b", 2))) }()
	<-sp.entered // the second commit runs (held, as a commit of a moment is while the clock jumps)
	clk.Advance(2 * time.Hour)
	time.Sleep(50 * time.Millisecond) // the engine looks at it
	if h.e.stalledNow.Load() || h.e.longStall.Load() {
		t.Fatal("a jump of the clock during a commit was taken for a stall")
	}
	if err := h.e.Health(); err != nil {
		t.Fatalf("health after a jump of the clock during a commit: %v", err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Connect(h.ctx, Hello{Name: "op", Role: "client"}, 9); err != nil {
		t.Fatalf("a client's hello after the jump: %v", err)
	}
}

// TestALeaseDueWhileAStallIsConfirmedIsHeld: a lease whose heartbeat deadline falls between the first
// look at a hung commit and the look that confirms the stall (100 ms later) is held like the others: its
// deadline waits for the confirming look, which moves it. Before, it expired in that window (review).
func TestALeaseDueWhileAStallIsConfirmedIsHeld(t *testing.T) {
	_, clk, gp, h, l := ackedLeaseOnHang(t)
	if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil { // deadline t0+60s
		t.Fatal(err)
	}
	clk.Advance(60*time.Second - stallHold - stallConfirm/2) // the commit below begins 2.05 s before it
	time.Sleep(10 * time.Millisecond)
	done := gp.hangPut(t, h, iss("c", 3))
	clk.Advance(stallHold) // the first look: suspected
	time.Sleep(20 * time.Millisecond)
	clk.Advance(stallConfirm / 2) // the lease's deadline passes before the confirming look
	time.Sleep(20 * time.Millisecond)
	confirmStall(t, h.e, clk)
	if err := gp.thawThenBeat(t, h, clk, done, l, 5); err != nil {
		t.Fatalf("the lease, due 2.05 s into a commit that then hung for 7 s, expired: %v", err)
	}
}

// TestHeartbeatsAnswerDuringAStalledCommit: once a commit is found stalled, a heartbeat that only moves
// deadlines (a lease's, a worker's of all its leases) is answered at once, as reads are, and its change
// is written with the next commit; one that acks a pushed lease, and a refusal (the lease may have ended
// in the hung batch), wait for the commit. Before, every heartbeat waited until the worker's call timed out and it reconnected, over and
// over for as long as the storage hung.
func TestHeartbeatsAnswerDuringAStalledCommit(t *testing.T) {
	mp, clk, gp, h, l := ackedLeaseOnHang(t)
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w2"}, 2); err != nil {
		t.Fatal(err)
	}
	pushed := h.nextPush().A.Lease // b, not acked
	done := gp.hangPut(t, h, iss("c", 3))
	var once sync.Once
	thaw := func() { once.Do(gp.close) }
	t.Cleanup(thaw) // before the engine's stop, which waits for the commit
	clk.Advance(stallHold)
	confirmStall(t, h.e, clk)
	beat := func(worker, id string, epoch int64) <-chan error {
		ch := make(chan error, 1)
		go func() { _, err := h.e.Heartbeat(h.ctx, worker, id, epoch, "still here"); ch <- err }()
		return ch
	}
	acking, stale := beat("w2", pushed.ID, pushed.Epoch), beat("w", l.ID, l.Epoch+1)
	for name, ch := range map[string]<-chan error{"lease": beat("w", l.ID, l.Epoch), "worker": beat("w", "", 0)} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s heartbeat during the stall: %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s heartbeat not answered during a stalled commit", name)
		}
	}
	for name, ch := range map[string]<-chan error{"acking": acking, "stale": stale} {
		select {
		case err := <-ch:
			t.Fatalf("the %s heartbeat answered (%v) before the hung commit returned", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	thaw()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-acking; err != nil {
		t.Fatalf("the acking heartbeat after the thaw: %v", err)
	}
	if err := <-stale; ErrorCode(err) != EStaleEpoch {
		t.Fatalf("the stale heartbeat after the thaw: %v", err)
	}
	_ = h.e.PutIssues(h.ctx, puts(iss("d", 3))) // a commit after the thaw
	if dl, ok := durableLease(t, mp, l.ID); !ok || dl.Progress != "still here" {
		t.Fatalf("the early-answered heartbeat's progress was not written: %+v", dl)
	}
}
