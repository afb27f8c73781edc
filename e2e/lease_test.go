package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// TestAckThenSilence: a worker that acks and never heartbeats loses its lease at the heartbeat
// timeout; the issue goes to another worker with a higher epoch, and the silent worker's late
// complete is refused as stale (fencing).
func TestAckThenSilence(t *testing.T) {
	l := startLive(t, 4, func(c *daemon.Config) {
		c.Coord.HeartbeatTimeout = 600 * time.Millisecond
		c.Coord.BackoffBase = 10 * time.Millisecond
		c.Coord.MaxAttempts = 10
	})
	var taken atomic.Bool
	silent := newTestWorker(t, "unix", l.sock, "", "silent", func(rpc.Assignment) bool { return taken.CompareAndSwap(false, true) })
	a := silent.next(t, 5*time.Second)
	start := time.Now()
	other := newTestWorker(t, "unix", l.sock, "", "other", nil)
	var again rpc.Assignment
	for again.Lease.IssueID != a.Lease.IssueID {
		b := other.next(t, 10*time.Second)
		if b.Lease.IssueID == a.Lease.IssueID {
			again = b
			break
		}
		if _, err := other.complete(b); err != nil {
			t.Fatal(err)
		}
	}
	if again.Lease.Epoch <= a.Lease.Epoch {
		t.Fatalf("reassigned at epoch %d, not above %d", again.Lease.Epoch, a.Lease.Epoch)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("reassigned after %v, before the heartbeat timeout", d)
	}
	if _, err := silent.complete(a); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("late complete by the silent worker: %v, want stale_epoch", err)
	}
	if _, err := other.complete(again); err != nil {
		t.Fatalf("complete by the new holder: %v", err)
	}
	old, err := l.d.Store().Lease(context.Background(), a.Lease.ID)
	if err != nil || old.State != coord.LeaseEnded || old.Outcome == coord.OutcomeSuccess {
		t.Fatalf("the expired lease in the store: %+v %v", old, err)
	}
}

// TestWallClockJumpAcrossRestart: the scheduler's timers use the clock's monotonic readings while it
// runs (time.Now carries one), so a wall-clock step cannot move a deadline; wall time only matters
// for deadlines read back from SQLite after a restart. There, only the reconnect grace counts, from
// the restart on: a forward jump while the server was down does not expire a lease whose worker comes
// back, and a backward jump does not stretch the wait for one that does not.
func TestWallClockJumpAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		jump time.Duration
	}{{"forward an hour", time.Hour}, {"back an hour", -time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
			cfg := func(clk coord.Clock) func(*daemon.Config) {
				return func(c *daemon.Config) {
					c.Clock = clk
					c.Coord.HeartbeatTimeout, c.Coord.AckTimeout, c.Coord.Grace = 10*time.Second, 5*time.Second, 5*time.Second
					c.Coord.BackoffBase = 10 * time.Millisecond
				}
			}
			dir := shortDir(t)
			writeWorkspace(t, dir, 4, 1)
			l1 := openLive(t, dir, 4, cfg(coord.NewFakeClock(t0)))
			back := newTestWorker(t, "unix", l1.sock, "", "comes-back", nil)
			gone := newTestWorker(t, "unix", l1.sock, "", "stays-away", nil)
			a, b := back.next(t, 5*time.Second), gone.next(t, 5*time.Second)
			waitFor(t, 5*time.Second, "both leases acked", func() bool {
				la, _ := l1.d.Store().Lease(context.Background(), a.Lease.ID)
				lb, _ := l1.d.Store().Lease(context.Background(), b.Lease.ID)
				return la.State == coord.LeaseAcked && lb.State == coord.LeaseAcked
			})
			l1.stop()
			back.c.Close()
			gone.c.Close()

			clk := coord.NewFakeClock(t0.Add(tc.jump))
			l2 := openLive(t, dir, 4, cfg(clk))
			back2 := newTestWorker(t, "unix", l2.sock, "", "comes-back", nil)
			if len(back2.hello.Leases) != 1 || back2.hello.Leases[0].Lease.ID != a.Lease.ID {
				t.Fatalf("lease not resumed after the restart: %+v", back2.hello.Leases)
			}
			if _, err := back2.complete(a); err != nil {
				t.Fatalf("complete of the resumed lease: %v", err)
			}
			// the absent worker's lease lasts the grace from the restart, whatever the jump
			lb, _ := l2.d.Store().Lease(context.Background(), b.Lease.ID)
			if lb.State != coord.LeaseAcked {
				t.Fatalf("absent worker's lease ended at the restart: %+v", lb)
			}
			clk.Advance(4 * time.Second)
			time.Sleep(100 * time.Millisecond)
			if lb, _ = l2.d.Store().Lease(context.Background(), b.Lease.ID); lb.State != coord.LeaseAcked {
				t.Fatalf("absent worker's lease ended within the grace: %+v", lb)
			}
			clk.Advance(2 * time.Second)
			waitFor(t, 5*time.Second, "the absent worker's lease to expire after the grace", func() bool {
				lb, _ := l2.d.Store().Lease(context.Background(), b.Lease.ID)
				return lb.State == coord.LeaseEnded
			})
		})
	}
}
