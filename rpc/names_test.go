package rpc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestOneConnectionPerWorkerName: a worker or refinery name is held by one connection at a time. A
// second hello under a connected worker's name — another worker, or a client acting as it — is refused
// (-32002) instead of taking over its session (and the leases it runs); clients share names (concurrent
// CLI commands); once the holder's connection ends, the name is free again.
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
