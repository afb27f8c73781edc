package e2e

import (
	"context"
	"fmt"
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
// for deadlines read back from SQLite after a restart. There, whatever the jump while the server was
// down, a worker that does not come back keeps its lease for the reconnect grace from the restart,
// and one that comes back gets a fresh heartbeat deadline from its reconnect.
func TestWallClockJumpAcrossRestart(t *testing.T) {
	const hb, grace = 10 * time.Second, 5 * time.Second
	for _, tc := range []struct {
		name string
		jump time.Duration
	}{{"forward an hour", time.Hour}, {"back an hour", -time.Hour}, {"none", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 26, 4, 0, 0, 0, time.UTC)
			cfg := func(clk coord.Clock) func(*daemon.Config) {
				return func(c *daemon.Config) {
					c.Clock = clk
					c.Coord.HeartbeatTimeout, c.Coord.AckTimeout, c.Coord.Grace = hb, 5*time.Second, grace
					c.Coord.BackoffBase = 10 * time.Millisecond
				}
			}
			dir := shortDir(t)
			writeWorkspace(t, dir, 4, 1)
			l1 := openLive(t, dir, 4, cfg(coord.NewFakeClock(t0)))
			names := []string{"completes", "goes-silent", "stays-away"}
			var leases []rpc.Assignment
			for _, n := range names {
				w := newTestWorker(t, "unix", l1.sock, "", n, nil)
				leases = append(leases, w.next(t, 5*time.Second))
				defer w.c.Close()
			}
			state := func(l *live, a rpc.Assignment) coord.LeaseState {
				got, _ := l.d.Store().Lease(context.Background(), a.Lease.ID)
				return got.State
			}
			waitFor(t, 5*time.Second, "leases acked", func() bool {
				for _, a := range leases {
					if state(l1, a) != coord.LeaseAcked {
						return false
					}
				}
				return true
			})
			l1.stop()

			clk := coord.NewFakeClock(t0.Add(tc.jump))
			l2 := openLive(t, dir, 4, cfg(clk))
			for i, n := range names[:2] {
				w := newTestWorker(t, "unix", l2.sock, "", n, nil)
				if len(w.hello.Leases) != 1 || w.hello.Leases[0].Lease.ID != leases[i].Lease.ID {
					t.Fatalf("%s: lease not resumed after the restart: %+v", n, w.hello.Leases)
				}
				if i == 0 {
					if _, err := w.complete(leases[0]); err != nil {
						t.Fatalf("complete of the resumed lease: %v", err)
					}
				}
			}
			check := func(at time.Duration, silent, away coord.LeaseState) {
				t.Helper()
				waitFor(t, 5*time.Second, fmt.Sprintf("at restart+%v: goes-silent %s, stays-away %s", at, silent, away), func() bool {
					return state(l2, leases[1]) == silent && state(l2, leases[2]) == away
				})
			}
			check(0, coord.LeaseAcked, coord.LeaseAcked)
			clk.Advance(grace - time.Second)
			time.Sleep(50 * time.Millisecond)
			check(grace-time.Second, coord.LeaseAcked, coord.LeaseAcked)
			clk.Advance(2 * time.Second)
			check(grace+time.Second, coord.LeaseAcked, coord.LeaseEnded)
			clk.Advance(hb - grace)
			check(hb+time.Second, coord.LeaseEnded, coord.LeaseEnded)
		})
	}
}
