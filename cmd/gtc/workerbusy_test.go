package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// TestWorkerAtMaxConnsSaysSoAndRetries: a coordinator at --max-conns answers a new connection -32009
// ("too many connections") and closes it. The worker logged "the coordinator ... closed the connection:
// is it shutting down?" (its client dropped the reply, whose id is null), and a CLI command said the
// same; read right, busy is a refusal (exit 4) that must not end the worker: it retries, and runs the
// work once a connection is free.
func TestWorkerAtMaxConnsSaysSoAndRetries(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.MaxConns = 1 })
	ids := createIssues(t, dir, "behind the limit")
	sock := filepath.Join(dir, ".beads", "gtc.sock")
	var hog net.Conn
	waitFor(t, 10*time.Second, "one connection held (the CLI's of createIssues gone)", func() bool {
		nc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"hog","role":"client"}}` + "\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, _ := nc.Read(buf)
		if !strings.Contains(string(buf[:n]), `"result"`) {
			nc.Close()
			time.Sleep(20 * time.Millisecond)
			return false
		}
		hog = nc
		return true
	})
	defer hog.Close()
	// a CLI command over the limit names the limit
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := connect(ctx, dialTarget{Network: "unix", Addr: sock}, rpc.HelloParams{Name: "cli", Role: "client"})
	if err == nil || !strings.Contains(err.Error(), "too many connections") || strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("hello over --max-conns: %v, want the server's busy refusal", err)
	}
	logs := &lockedBuffer{}
	startWorker(t, s, func(o *workerOptions) {
		o.Exec = "true"
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	waitFor(t, 10*time.Second, "the worker's refusal logged", func() bool { return strings.Contains(logs.String(), "too many connections") })
	hog.Close()
	waitFor(t, 10*time.Second, "the issue closed by the worker once a connection is free", func() bool {
		st, _ := s.issue(ids[0])
		return st == "closed"
	})
	if strings.Contains(logs.String(), "shutting down") {
		t.Errorf("the worker took the busy refusal for a stopping server:\n%s", logs)
	}
}
