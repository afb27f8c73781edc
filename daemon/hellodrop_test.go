package daemon

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestHelloThenDropLeavesNoGhostWorker: a worker that says hello and drops the connection at once
// (it crashed while reconnecting) must end up disconnected: its leases then live by the grace alone
// and it is pushed nothing. When the drop lands while the engine is still committing the hello, the
// hello gives up waiting and the connection was never authed, but the engine applies the connect
// anyway: the failed hello must tell the backend the session is gone.
func TestHelloThenDropLeavesNoGhostWorker(t *testing.T) {
	h := start(t, nil, nil)
	const tries = 40
	for i := 0; i < tries; i++ {
		nc, err := net.Dial("unix", h.d.SocketPath())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"ghost-%d","capacity":1,"protocol":1}}`+"\n", i)
		nc.Close()
	}
	// every connection is gone: each worker must end up disconnected (a ghost stays connected for good)
	eventually(t, 5*time.Second, "every worker whose connection closed disconnected", func() bool {
		for _, w := range h.d.Engine().Workers() {
			if w.Connected {
				return false
			}
		}
		return true
	})
}

// TestHelloCrashLoopKeepsGraceForLeases: w1 holds a lease and dies; it comes back and dies again right
// after sending hello. Its lease must go to w2 once the 300ms grace has passed; a ghost session keeps it
// until the heartbeat timeout (20s here, 60s by default) instead.
func TestHelloCrashLoopKeepsGraceForLeases(t *testing.T) {
	h := start(t, []string{line("t-1", "only", 1)}, func(c *Config) { c.Coord.HeartbeatTimeout = 20 * time.Second })
	w1 := h.worker("w1", 1)
	a := w1.next(t, 5*time.Second)
	_ = w1.c.Close()
	connected := func() bool {
		for _, w := range h.d.Engine().Workers() {
			if w.Name == "w1" {
				return w.Connected
			}
		}
		return false
	}
	eventually(t, 2*time.Second, "w1 disconnected", func() bool { return !connected() })
	for i := 0; i < 10; i++ { // w1 crash-loops: hello, then gone
		nc, err := net.Dial("unix", h.d.SocketPath())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(nc, `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"w1","capacity":1,"protocol":1}}`+"\n")
		nc.Close()
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, 2*time.Second, "w1 disconnected after its last hello's connection closed", func() bool { return !connected() })
	w2 := h.worker("w2", 1)
	select {
	case b := <-w2.ch:
		if b.Lease.IssueID != a.Lease.IssueID {
			t.Fatalf("w2 got %s, want w1's %s", b.Lease.IssueID, a.Lease.IssueID)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("lease %s of w1 (whose every connection is closed) not reassigned 3s after its last connection closed (grace 300ms); engine: %+v",
			a.Lease.ID, h.d.Engine().Workers())
	}
}
