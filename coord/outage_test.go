package coord

import (
	"errors"
	"testing"
	"time"
)

// liveLeaseIn reports whether the durable state holds lease id live.
func liveLeaseIn(t *testing.T, mp *memPersister, id string) bool {
	t.Helper()
	l, ok := durableLease(t, mp, id)
	return ok && l.Live()
}

// TestStorageOutageStopsLeaseClocks: while commits fail, a worker's heartbeats and hello are refused,
// so the time the storage fails is not counted against its leases — neither the heartbeat deadline of
// a connected worker nor the reconnect grace of one that dropped its connection. After the storage
// recovers each keeps what it had left when the failure began.
func TestStorageOutageStopsLeaseClocks(t *testing.T) {
	const outage = 80 * time.Second // longer than the heartbeat timeout (60 s) and the grace (30 s)
	for _, tc := range []struct {
		name       string
		disconnect bool // the worker drops its connection when the failure begins
		refail     bool // after the recovery, another commit fails before the worker heartbeats
	}{
		{name: "connected worker, heartbeats refused"},
		{name: "connected worker, a second failure before its next heartbeat", refail: true},
		{name: "worker disconnected, hello refused", disconnect: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, mp, fp, clk, l := setupHeld(t)
			fp.set(errors.New("disk full"), 0, nil)
			if tc.disconnect {
				if err := h.e.Disconnect(h.ctx, "w", 1); ErrorCode(err) != EUnavailable {
					t.Fatalf("disconnect during the failure: %v", err)
				}
			}
			// a request every second, as the engine's own storage check would come (it commits one a
			// second after each failure): the engine knows the storage fails until its next try
			for elapsed := time.Duration(0); elapsed < outage; elapsed += time.Second {
				clk.Advance(time.Second)
				var err error
				if tc.disconnect {
					_, err = h.e.Connect(h.ctx, Hello{Name: "w"}, 2)
				} else {
					_, err = h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, "")
				}
				if ErrorCode(err) != EUnavailable {
					t.Fatalf("after %v of failure: %v, want unavailable", elapsed, err)
				}
			}
			fp.set(nil, 0, nil)
			clk.Advance(time.Second)
			if tc.refail {
				// the lease deadlines moved while the storage failed must be durable by now: the
				// rebuild after this failure reads them from the store
				for _, id := range []string{"x1", "x2"} {
					if err := h.e.PutIssues(h.ctx, puts(iss(id, 3))); err != nil {
						t.Fatal(err)
					}
				}
				fp.set(errors.New("disk full"), 0, nil)
				if err := h.e.PutIssues(h.ctx, puts(iss("y", 3))); ErrorCode(err) != EUnavailable {
					t.Fatalf("put during the second failure: %v", err)
				}
				fp.set(nil, 0, nil)
				clk.Advance(time.Second)
			}
			if tc.disconnect {
				as, err := h.e.Connect(h.ctx, Hello{Name: "w"}, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(as) != 1 || as[0].Lease.ID != l.ID {
					t.Fatalf("reconnect after the failure resumed %+v, want lease %s", as, l.ID)
				}
			}
			if _, err := h.e.Heartbeat(h.ctx, "w", l.ID, l.Epoch, ""); err != nil {
				t.Fatalf("heartbeat after the storage recovered: %v", err)
			}
			if !liveLeaseIn(t, mp, l.ID) {
				t.Fatalf("lease %s ended across a storage failure its worker could not report through", l.ID)
			}
			// the clocks run again once the storage works: silence now expires the lease
			clk.Advance(61 * time.Second)
			if err := h.e.PutIssues(h.ctx, puts(iss("c", 3))); err != nil {
				t.Fatal(err)
			}
			if liveLeaseIn(t, mp, l.ID) {
				t.Fatalf("lease %s still live after a heartbeat timeout of silence with the storage working", l.ID)
			}
		})
	}
}
