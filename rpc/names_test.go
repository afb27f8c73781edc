package rpc

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestOneConnectionPerWorkerName: a worker or refinery name is held by one connection at a time. A
// second hello under a connected worker's name — another worker, or a client acting as it — is refused
// (-32002) instead of taking over its session (and the leases it runs); clients share names (concurrent
// CLI commands), and a worker may not take a name clients hold (a draining worker reconnects as one);
// once the holder's connection ends, the name is free again.
func TestOneConnectionPerWorkerName(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	ctx := context.Background()
	hello := func(name, role string) (*Client, error) {
		c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
		_, err := c.Hello(ctx, HelloParams{Name: name, Role: role})
		return c, err
	}
	first, err := hello("vm", "worker")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, role string }{
		{"vm", "worker"},   // two workers left at the default name
		{"vm", "refinery"}, // any role that takes pushes
		{"vm", "client"},   // a script acting --as the worker
	} {
		if _, err := hello(tc.name, tc.role); coord.ErrorCode(err) != coord.EConflict || !strings.Contains(err.Error(), "another connection") {
			t.Errorf("hello %s as %s while the worker is connected: %v, want conflict", tc.name, tc.role, err)
		}
	}
	for range 2 {
		if _, err := hello("cli-root", "client"); err != nil {
			t.Errorf("two clients under one name: %v", err)
		}
	}
	if _, err := hello("other", "worker"); err != nil {
		t.Errorf("another name: %v", err)
	}
	// a worker draining reconnects as a client under its name: a worker process may not take it over
	if _, err := hello("drainer", "client"); err != nil {
		t.Fatal(err)
	}
	if _, err := hello("drainer", "worker"); coord.ErrorCode(err) != coord.EConflict {
		t.Errorf("worker hello under a name a client holds: %v, want conflict", err)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := hello("vm", "worker")
		if err == nil {
			break
		}
		if coord.ErrorCode(err) != coord.EConflict || time.Now().After(deadline) {
			t.Fatalf("hello as vm after its connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNamesReleasedWhenConnectionsEnd: connections that say hello and hang up at once leave no name
// held (the hello still running when the connection ends claimed it after finish had released it, and
// nothing released it again).
func TestNamesReleasedWhenConnectionsEnd(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	for i := range 300 {
		p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		p.send(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"w` + strconv.Itoa(i%7) + `"}}`)
		p.nc.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts.mu.Lock()
		n := len(ts.named)
		ts.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d names still held with every connection gone", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSilentHolderGivesItsNameUp: a hello under a held worker name pings the holder. A holder that
// does not answer within ProbeTimeout (a crashed host's half-open connection) is closed and the new
// connection gets the name at once; a holder that answers — a result, or an error from a peer that
// does not know ping — keeps it, and the hello is refused as before. Before, a restarted worker was
// refused until the server's idle timeout (5 minutes) ended the dead connection.
func TestSilentHolderGivesItsNameUp(t *testing.T) {
	ts := startServer(t, Options{ProbeTimeout: 200 * time.Millisecond}, nil)
	ctx := context.Background()
	silent := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	if r := silent.helloAs("vm", ""); !strings.Contains(r, `"result"`) {
		t.Fatal(r)
	}
	// a client (a CLI command --as vm) does not ping it away: it would take the worker's session
	if _, err := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath}).Hello(ctx, HelloParams{Name: "vm", Role: "client"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("a client's hello under a silent worker's name: %v, want conflict", err)
	}
	start := time.Now()
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	if _, err := c.Hello(ctx, HelloParams{Name: "vm"}); err != nil {
		t.Fatalf("hello as vm while its old connection is silent: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the name came free after %v", d)
	}
	silent.expectClosed()
	if _, err := c.CoordStatus(ctx); err != nil {
		t.Fatalf("the new session: %v", err)
	}
	// the Go client answers ping: a second process under its name is refused
	if _, err := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath}).Hello(ctx, HelloParams{Name: "vm"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("hello as vm while a Go client holds it: %v, want conflict", err)
	}
	for _, reply := range []string{`"result":{}`, `"error":{"code":-32601,"message":"method not found: ping"}`} {
		holder := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		if r := holder.helloAs("vm2", ""); !strings.Contains(r, `"result"`) {
			t.Fatal(r)
		}
		got := make(chan error, 1)
		go func() {
			_, err := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath}).Hello(ctx, HelloParams{Name: "vm2"})
			got <- err
		}()
		ping := holder.recv()
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if err := json.Unmarshal([]byte(ping), &m); err != nil || m.Method != "ping" {
			t.Fatalf("the holder got %s, want a ping", ping)
		}
		holder.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,` + reply + `}`)
		if err := <-got; coord.ErrorCode(err) != coord.EConflict {
			t.Errorf("hello as vm2 while its holder answered %s: %v, want conflict", reply, err)
		}
		holder.nc.Close()
	}
}

// TestProbeTimeIsNotTheHellosTime: a hello sent in time is answered even when the server's probe of
// the name's silent holder runs past the hello timeout (the timeout is the peer's time to say hello).
func TestProbeTimeIsNotTheHellosTime(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: time.Minute, HelloTimeout: 500 * time.Millisecond, ProbeTimeout: 400 * time.Millisecond}, nil)
	silent := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	if r := silent.helloAs("vm", ""); !strings.Contains(r, `"result"`) {
		t.Fatal(r)
	}
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	time.Sleep(200 * time.Millisecond) // said 300 ms before the deadline; the probe takes 400
	p.send(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"vm"}}`)
	if r, err := p.recvErr(); err != nil || !strings.Contains(r, `"result"`) {
		t.Fatalf("a hello said in time, served through a probe of the silent holder: %q %v", r, err)
	}
}
