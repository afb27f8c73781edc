package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestWaitingClaimsLeaveRoomForHeartbeats: a worker that long-polls one claim per free slot (capacity
// 5: one lease running, four claims waiting for work) must still get its heartbeats, and its reports,
// through. The connection's requests run on four handler goroutines, and each waiting claim held one:
// the heartbeats of the running lease queued behind them until a claim returned, and the lease
// expired ("no heartbeat before the deadline") while the worker heartbeat every 300 ms. Now the claims
// waiting on one connection leave a handler free: one more is refused busy (-32009), at once.
func TestWaitingClaimsLeaveRoomForHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waiting int // claims sent to wait
	}{
		{"one waits", 1},
		{"as many as handlers", 4},
		{"more than handlers", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, []string{`{"id":"pc-1","title":"t","status":"open","priority":1,"issue_type":"task","labels":["run"],"created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z"}`}, nil)
			// no pushes: the filters match nothing; the lease comes from a claim of its own
			c, _ := h.session(rpc.HelloParams{Name: "cw", Capacity: 5, Filters: &coord.Filters{Labels: []string{"none"}}})
			ctx := context.Background()
			cr, err := c.Claim(ctx, rpc.ClaimParams{Filters: &coord.Filters{Labels: []string{"run"}}})
			if err != nil || cr.Assignment == nil {
				t.Fatalf("claim: %+v, %v", cr, err)
			}
			l := cr.Assignment.Lease
			wait := 4 * time.Second // longer than the heartbeat timeout (2 s)
			var wg sync.WaitGroup
			var mu sync.Mutex
			busy := 0
			for range tc.waiting {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := c.Claim(ctx, rpc.ClaimParams{WaitMS: wait.Milliseconds(), Filters: &coord.Filters{Labels: []string{"none"}}})
					if err != nil {
						if coord.ErrorCode(err) != coord.EBusy {
							t.Errorf("waiting claim: %v", err)
						}
						mu.Lock()
						busy++
						mu.Unlock()
					}
				}()
			}
			time.Sleep(200 * time.Millisecond) // the claims are parked
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
				hctx, cancel := context.WithTimeout(ctx, time.Second)
				_, err := c.Heartbeat(hctx, rpc.HeartbeatParams{LeaseID: l.ID, Epoch: l.Epoch})
				cancel()
				if err != nil {
					t.Fatalf("heartbeat while %d claims wait: %v", tc.waiting, err)
				}
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			res, err := c.Complete(cctx, rpc.CompleteParams{LeaseID: l.ID, Epoch: l.Epoch})
			cancel()
			if err != nil || res.Status != "closed" {
				t.Fatalf("complete while %d claims wait: %+v, %v", tc.waiting, res, err)
			}
			wg.Wait()
			if want := max(0, tc.waiting-3); busy != want {
				t.Errorf("%d waiting claims refused busy, want %d", busy, want)
			}
		})
	}
}
