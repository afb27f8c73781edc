package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestRestartedWorkerTakesItsNameFromADeadConnection: a worker's host dies with a lease acked (its
// connection stays half-open: the server sees no end). The restarted worker's hello under the same
// name is answered a ping timeout later, not at the server's idle timeout (5 minutes): the silent
// connection is closed, and the new session is handed the running lease, which it completes.
func TestRestartedWorkerTakesItsNameFromADeadConnection(t *testing.T) {
	h := start(t, []string{`{"id":"sw-1","title":"t","status":"open","priority":1,"issue_type":"task","created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z"}`},
		func(c *Config) { c.Coord.HeartbeatTimeout = time.Minute })
	nc, err := net.Dial("unix", h.d.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	write := func(s string) {
		if _, err := nc.Write([]byte(s + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"w","protocol":1}}`)
	var leaseID string
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for leaseID == "" {
		line, err := rd.ReadBytes('\n')
		if err != nil {
			t.Fatalf("waiting for the push: %v", err)
		}
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Lease struct {
					ID string `json:"id"`
				} `json:"lease"`
			} `json:"params"`
		}
		if json.Unmarshal(line, &m) == nil && m.Method == "assign" {
			leaseID = m.Params.Lease.ID
			write(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"accepted":true}}`)
		}
	}
	// the host is gone: nothing more is read or written on nc, and it is not closed
	start := time.Now()
	c, hr := h.session(rpc.HelloParams{Name: "w"})
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("hello under the dead connection's name answered after %v", d)
	}
	if len(hr.Leases) != 1 || hr.Leases[0].Lease.ID != leaseID {
		t.Fatalf("the restarted worker was handed %+v, want lease %s", hr.Leases, leaseID)
	}
	l := hr.Leases[0].Lease
	res, err := c.Complete(context.Background(), rpc.CompleteParams{LeaseID: l.ID, Epoch: l.Epoch})
	if err != nil || res.Status != "closed" {
		t.Fatalf("complete on the new session: %+v, %v", res, err)
	}
}
