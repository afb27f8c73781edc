package coord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// faultPersister wraps memPersister: a failing Commit can take `slow` of fake time before it fails
// (SQLITE_BUSY after the 5 s busy timeout, a hung NFS mount), and Load can fail too (EIO).
type faultPersister struct {
	m   *memPersister
	clk *FakeClock

	mu       sync.Mutex
	fail     error
	slow     time.Duration
	loadFail error
}

func (f *faultPersister) set(fail error, slow time.Duration, loadFail error) {
	f.mu.Lock()
	f.fail, f.slow, f.loadFail = fail, slow, loadFail
	f.mu.Unlock()
}

func (f *faultPersister) Commit(ctx context.Context, chs []Change) error {
	f.mu.Lock()
	fail, slow := f.fail, f.slow
	f.mu.Unlock()
	if fail != nil {
		if slow > 0 {
			f.clk.Advance(slow) // the commit takes this long to fail
		}
		return fail
	}
	return f.m.Commit(ctx, chs)
}

func (f *faultPersister) Load(ctx context.Context) (*Snapshot, error) {
	f.mu.Lock()
	lf := f.loadFail
	f.mu.Unlock()
	if lf != nil {
		return nil, lf
	}
	return f.m.Load(ctx)
}

// refusedBeats sends n heartbeats for l a second apart, each refused as unavailable.
func refusedBeats(t *testing.T, h *harness, clk *FakeClock, l Lease, n int) {
	t.Helper()
	for range n {
		clk.Advance(time.Second)
		if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); ErrorCode(err) != EUnavailable {
			t.Fatalf("heartbeat during the outage: %v", err)
		}
	}
}

// durableLease returns lease id as the durable state holds it (live leases only).
func durableLease(t *testing.T, mp *memPersister, id string) (Lease, bool) {
	t.Helper()
	snap, err := mp.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range snap.Leases {
		if l.ID == id {
			return l, true
		}
	}
	return Lease{}, false
}

// setupHeld: worker w holds an acked lease, last heartbeat at t0+10s (deadline t0+70s).
func setupHeld(t *testing.T) (*harness, *memPersister, *faultPersister, *FakeClock, Lease) {
	t.Helper()
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	fp := &faultPersister{m: mp, clk: clk}
	h := startEngineOn(t, testCfg(), mp, fp, clk)
	if err := h.e.PutIssues(h.ctx, puts(iss("a", 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 1); err != nil {
		t.Fatal(err)
	}
	l := h.nextPush().A.Lease
	if err := h.e.Ack(h.ctx, "w", l.ID, l.Epoch); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
		t.Fatal(err)
	}
	return h, mp, fp, clk, l
}

// TestOutageHoldWithSlowFailingCommits: commits that take 5 s to fail (SQLite's busy timeout while
// another process holds the write lock) under a steady stream of requests: the time each took is held
// too (a rebuild reset the hold's start at every failure: nothing was held and the lease expired).
func TestOutageHoldWithSlowFailingCommits(t *testing.T) {
	for _, tc := range []struct {
		name string
		slow time.Duration
	}{
		{"instant failures (as the existing test)", 0},
		{"each failure takes 5s (busy timeout)", 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, mp, fp, clk, l := setupHeld(t)
			fp.set(errors.New("database is locked"), tc.slow, nil)
			start := clk.Now()
			for clk.Now().Sub(start) < 80*time.Second {
				if tc.slow == 0 {
					clk.Advance(time.Second)
				}
				if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); ErrorCode(err) != EUnavailable {
					t.Fatalf("heartbeat during the outage: %v", err)
				}
			}
			fp.set(nil, 0, nil)
			clk.Advance(time.Second)
			if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
				t.Fatalf("heartbeat after the storage recovered (outage %v): %v", clk.Now().Sub(start), err)
			}
			if !liveLeaseIn(t, mp, l.ID) {
				t.Fatal("lease ended")
			}
		})
	}
}

// TestOutageHoldNotCountedTwice: a heartbeat applied while the engine still counts the storage as
// failing commits a deadline that needs no hold; when the next batch fails, the rebuild must not add
// the outage to it again (it did: the lease of a worker silent since lived 40 s too long).
func TestOutageHoldNotCountedTwice(t *testing.T) {
	h, mp, fp, clk, l := setupHeld(t)
	fp.set(errors.New("disk full"), 0, nil)
	refusedBeats(t, h, clk, l, 40)
	fp.set(nil, 0, nil)
	clk.Advance(time.Second)
	// applied while e.failing is still true; its commit succeeds: deadline now+60 is durable
	if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
		t.Fatal(err)
	}
	lastBeat := clk.Now()
	// the next batch (the hold batch) fails
	fp.set(errors.New("disk full"), 0, nil)
	if err := h.e.PutIssues(h.ctx, puts(iss("x", 3))); ErrorCode(err) != EUnavailable {
		t.Fatalf("put: %v", err)
	}
	fp.set(nil, 0, nil)
	clk.Advance(time.Second)
	for _, id := range []string{"y", "z"} {
		if err := h.e.PutIssues(h.ctx, puts(iss(id, 3))); err != nil {
			t.Fatal(err)
		}
	}
	dl, _ := durableLease(t, mp, l.ID)
	want := lastBeat.Add(60*time.Second + time.Second) // + the 1 s of the second failure
	if dl.Deadline.After(want.Add(time.Second)) {
		t.Errorf("durable deadline %v after the last heartbeat, want ~%v: the worker silent since then keeps its lease %v too long",
			dl.Deadline.Sub(lastBeat), want.Sub(lastBeat), dl.Deadline.Sub(want))
	}
}

// TestOutageHoldCoversStaleTime: commits fail and so does the reload after them (the engine refuses
// everything, stale): that time is held too.
func TestOutageHoldCoversStaleTime(t *testing.T) {
	h, mp, fp, clk, l := setupHeld(t)
	fp.set(errors.New("disk I/O error"), 0, errors.New("disk I/O error"))
	refusedBeats(t, h, clk, l, 80)
	fp.set(nil, 0, nil)
	clk.Advance(time.Second)
	if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
		t.Fatalf("heartbeat after the storage recovered: %v", err)
	}
	if !liveLeaseIn(t, mp, l.ID) {
		t.Fatal("lease ended")
	}
}

// TestOutageHoldAcrossTwoOutages: a second outage after a first one's hold was written, then a failure
// soon after the recovery: the lease keeps the second outage's hold (a recycled batch kept the first's
// hold flag, and its success marked the second hold written when it was not).
func TestOutageHoldAcrossTwoOutages(t *testing.T) {
	for extra := 0; extra < 4; extra++ {
		t.Run("", func(t *testing.T) {
			h, mp, fp, clk, l := setupHeld(t)
			n := 0
			put := func(want Code) {
				t.Helper()
				n++
				err := h.e.PutIssues(h.ctx, puts(iss("p"+string(rune('a'+n%26))+string(rune('a'+n/26)), 3)))
				if ErrorCode(err) != want && !(want == "" && err == nil) {
					t.Fatalf("put %d: %v want %q", n, err, want)
				}
			}
			beat := func(want Code) {
				t.Helper()
				_, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, "")
				if ErrorCode(err) != want && !(want == "" && err == nil) {
					t.Fatalf("heartbeat: %v want %q", err, want)
				}
			}
			// outage 1, recovery, the hold batch
			fp.set(errors.New("disk full"), 0, nil)
			refusedBeats(t, h, clk, l, 5)
			fp.set(nil, 0, nil)
			clk.Advance(time.Second)
			beat("") // applied while failing
			put("")  // the hold batch
			for i := 0; i < extra; i++ {
				put("")
			}
			// outage 2 (80 s), then recovery and a second failure soon after
			fp.set(errors.New("disk full"), 0, nil)
			refusedBeats(t, h, clk, l, 80)
			fp.set(nil, 0, nil)
			clk.Advance(time.Second)
			put("") // applied while failing: the first batch after the recovery
			fp.set(errors.New("disk full"), 0, nil)
			put(EUnavailable)
			fp.set(nil, 0, nil)
			clk.Advance(time.Second)
			beat("")
			if !liveLeaseIn(t, mp, l.ID) {
				t.Fatal("lease ended")
			}
		})
	}
}
