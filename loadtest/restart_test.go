package loadtest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/loadtest"
)

// TestRunSurvivesACoordinatorRestart: a load test against a running coordinator (--addr) that restarts
// during the run still reports its figures (it exited with "server profile: connection closed" and no
// report): the creates and sessions the restart broke count as errors and unfinished issues.
func TestRunSurvivesACoordinatorRestart(t *testing.T) {
	dir, err := os.MkdirTemp("", "gtc-lt-") // short path: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, ".beads"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".beads", "issues.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	serve := func() (d *daemon.Daemon, stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		d, err := daemon.Open(ctx, daemon.Config{Dir: dir, SyncInterval: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Coord: coord.Config{Grace: time.Second}})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if err := d.Listen(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		return d, func() { cancel(); <-done }
	}
	d, stop := serve()
	sock := filepath.Join(dir, ".beads", "gtc.sock")
	type outcome struct {
		res loadtest.Result
		err error
	}
	ch := make(chan outcome, 1)
	go func() {
		res, _, err := loadtest.Run(context.Background(), loadtest.Config{Network: "unix", Addr: sock, Agents: 3,
			Rate: 20, Duration: 3 * time.Second, DrainTimeout: time.Second, WorkTime: 50 * time.Millisecond})
		ch <- outcome{res, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); d.Engine().Status().Issues.Closed == 0; { // a completion first
		if time.Now().After(deadline) {
			t.Fatal("no completion within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	time.Sleep(300 * time.Millisecond)
	_, stop = serve()
	defer stop()
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("load test across a restart: %v", o.err)
		}
		if o.res.Completions == 0 || o.res.Errors == 0 {
			t.Fatalf("result %+v: want the completions before the restart and the errors it caused", o.res)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("load test did not end")
	}
}
