package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestJobCancelledWhileWaitingDoesNotStart: a job accepted while a cancelled job's command still dies
// waits (waitForSlot); cancelled while it waits, its command must not run at all: the cancelled command
// it waited for is still dying, and running it, even briefly, is the overlap the wait exists to
// prevent. SIGTERM is ignored here (inherited by the commands), so a spawned command would run.
func TestJobCancelledWhileWaitingDoesNotStart(t *testing.T) {
	signal.Ignore(syscall.SIGTERM) // inherited by the commands as SIG_IGN
	defer signal.Reset(syscall.SIGTERM)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	o := workerOptions{Name: "w1", Capacity: 1, Exec: "echo ran >> '" + runs + "'",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), KillGrace: 300 * time.Millisecond}
	w := &workerLoop{o: o.withDefaults(), jobs: map[string]*job{}, wake: make(chan struct{}, 1)}
	w.ended = sync.NewCond(&w.mu)
	w.log = w.o.Log
	// the cancelled lease's command, still dying (it never ends in this test)
	w.jobs["L-old"] = &job{issue: "bd-1", lost: true, running: true, cancel: func() {}}

	a := rpc.Assignment{Lease: coord.Lease{ID: "L-new", IssueID: "bd-1", Epoch: 2, State: coord.LeasePushed}, Issue: []byte(`{"id":"bd-1"}`)}
	if ok, why := w.onAssign(context.Background(), a); !ok {
		t.Fatalf("push refused: %s", why)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(runs); err == nil {
		t.Fatal("the new command started while the cancelled one was still dying")
	}
	// the coordinator cancels the waiting lease too
	w.onCancel(rpc.CancelParams{LeaseID: "L-new", IssueID: "bd-1", Epoch: 2, Reason: "test"})
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the cancelled waiting job did not end")
	}
	if b, err := os.ReadFile(runs); err == nil {
		t.Fatalf("a lease cancelled while waiting ran its command (%q) while the older cancelled command was still dying", b)
	}
}
