package loadtest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/loadtest"
)

// TestRunSurvivesACoordinatorRestart: a load test against a running coordinator (--addr) that restarts
// during the run goes on: the agents say hello again under their names and report the sessions they were
// running, the creates the restart broke are sent again on a new control connection, and the report
// counts every issue created and completed (it used to end without a report, then with every create and
// session after the restart an error).
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
	d, stop := serveIn(t, dir)
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
	_ = stop()
	time.Sleep(300 * time.Millisecond)
	serveIn(t, dir) // stopped at the test's end
	select {
	case o := <-ch:
		if o.err != nil {
			t.Fatalf("load test across a restart: %v", o.err)
		}
		r := o.res
		if r.Completions != int64(r.Issues) || r.Errors != 0 || r.Reconnects < 3 || r.Unfinished != 0 ||
			r.LostIssues+r.LostCompletions+r.DoubleAssignments != 0 {
			t.Fatalf("across the restart: %d completions of %d issues, %d errors, %d reconnects, unfinished %d, lost %d/%d, doubles %d; "+
				"want every issue created and completed, each agent back, nothing lost", r.Completions, r.Issues, r.Errors, r.Reconnects,
				r.Unfinished, r.LostIssues, r.LostCompletions, r.DoubleAssignments)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("load test did not end")
	}
}
