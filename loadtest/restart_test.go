package loadtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/loadtest"
)

// TestRunSurvivesACoordinatorRestart: a load test against a running coordinator (--addr) that restarts
// during the run goes on: the agents say hello again under their names and report the sessions they were
// running (sessions of 300 ms straddle the restart; a complete sent on the new connection before its hello
// was answered was refused and its issue left open), the creates the restart broke are sent again on a new
// control connection, and the report counts every issue created and completed (it used to end without a
// report, then with every create and session after the restart an error).
func TestRunSurvivesACoordinatorRestart(t *testing.T) {
	dir, sock := restartWorkspace(t)
	d, stop := serveIn(t, dir)
	ch := runAgainst(sock, 8, 300*time.Millisecond)
	waitClosed(t, d)
	_ = stop()
	time.Sleep(300 * time.Millisecond)
	serveIn(t, dir) // stopped at the test's end
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("load test across a restart: %v", o.err)
		}
		r := o.res
		if r.Completions != int64(r.Issues) || r.Errors != 0 || r.Reconnects < 8 || r.Unfinished != 0 ||
			r.LostIssues+r.LostCompletions+r.DoubleAssignments != 0 {
			t.Fatalf("across the restart: %d completions of %d issues, %d errors, %d reconnects, unfinished %d, lost %d/%d, doubles %d; "+
				"want every issue created and completed, each agent back, nothing lost", r.Completions, r.Issues, r.Errors, r.Reconnects,
				r.Unfinished, r.LostIssues, r.LostCompletions, r.DoubleAssignments)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("load test did not end")
	}
}

// TestRunEndsWhenTheCoordinatorDoesNotComeBack: a coordinator gone for longer than the agents redial ends
// the run with an error saying so (the run hung, each pending create waiting its own redial in turn).
func TestRunEndsWhenTheCoordinatorDoesNotComeBack(t *testing.T) {
	defer loadtest.SetRedialFor(time.Second)()
	dir, sock := restartWorkspace(t)
	d, stop := serveIn(t, dir)
	ch := runAgainst(sock, 3, 50*time.Millisecond)
	waitClosed(t, d)
	_ = stop()
	select {
	case o := <-ch:
		if !errors.Is(o.err, loadtest.ErrCoordinatorGone) || !strings.Contains(o.err.Error(), "did not come back within 1s") {
			t.Fatalf("run with the coordinator gone: %+v, %v; want an error saying it did not come back", o.res, o.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("load test did not end with its coordinator gone")
	}
}

type outcome struct {
	res loadtest.Result
	err error
}

// restartWorkspace is an empty workspace in a short temp path (unix socket paths are limited to 108 bytes).
func restartWorkspace(t *testing.T) (dir, sock string) {
	dir, err := os.MkdirTemp("", "gtc-lt-")
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
	return dir, filepath.Join(dir, ".beads", "gtc.sock")
}

// runAgainst runs a latency-mode load test (20 creates a second for 3 s) against sock.
func runAgainst(sock string, agents int, work time.Duration) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		res, _, err := loadtest.Run(context.Background(), loadtest.Config{Network: "unix", Addr: sock, Agents: agents,
			Rate: 20, Duration: 3 * time.Second, DrainTimeout: 5 * time.Second, WorkTime: work})
		ch <- outcome{res, err}
	}()
	return ch
}

// waitClosed waits for the run's first completion.
func waitClosed(t *testing.T, d *daemon.Daemon) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); d.Engine().Status().Issues.Closed == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no completion within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
