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

// startDaemon runs an in-process coordinator on a temp workspace whose JSONL holds specs.
func startDaemon(t *testing.T, specs []loadtest.IssueSpec) (sock, jsonl string, stop func() error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "gtc-lt-") // short path: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	jsonl = filepath.Join(dir, ".beads", "issues.jsonl")
	if err := os.MkdirAll(filepath.Dir(jsonl), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadtest.WriteJSONL(f, specs, time.Now().UTC().Truncate(time.Second)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, stop := serveIn(t, dir)
	return d.SocketPath(), jsonl, stop
}

// serveIn runs a coordinator on the workspace dir until stop (or the test's end).
func serveIn(t *testing.T, dir string) (d *daemon.Daemon, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Open(ctx, daemon.Config{Dir: dir, SyncInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Coord:  coord.Config{MaxAttempts: 3, BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond}})
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
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return d, stop
}

// TestDriverCorrectness drains 200 issues (a fifth with dependencies) with 10 agents that fail 20% of
// their sessions, then checks the final JSONL: no issue assigned twice at once, none lost, no
// acknowledged completion lost, and every issue closed, dead-lettered or behind a dead-lettered one.
func TestDriverCorrectness(t *testing.T) {
	specs := loadtest.GenerateIssues(200, "lt", 7)
	deps := 0
	for _, s := range specs {
		if len(s.Deps) > 0 {
			deps++
		}
	}
	if deps < 20 {
		t.Fatalf("only %d issues with dependencies", deps)
	}
	sock, jsonl, stop := startDaemon(t, specs)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, rep, err := loadtest.Run(ctx, loadtest.Config{
		Network: "unix", Addr: sock, Agents: 10, Issues: specs, Preloaded: true,
		WorkTime: time.Millisecond, WorkVariance: 0.5, FailRate: 0.2, Duration: 30 * time.Second,
		Stop:       stop,
		FinalState: func() (map[string]loadtest.FinalState, error) { return loadtest.ReadFinalState(jsonl) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.DoubleAssignments != 0 || res.LostIssues != 0 || res.LostCompletions != 0 || res.Errors != 0 {
		t.Fatalf("correctness: %+v", res)
	}
	if res.CompletionsPerSec <= 0 || res.DispatchMs.Max <= 0 || res.Agents != 10 || res.Issues != 200 {
		t.Fatalf("figures missing: %+v", res)
	}
	if res.Health == "" || res.Health == "unhealthy" && res.StalledMax == 0 {
		// 20 % of sessions fail: the coordinator's health is healthy or degraded, and it was asked
		t.Errorf("coordinator health %q (%v), stalled %d: want it measured", res.Health, res.HealthReasons, res.StalledMax)
	}
	if rep.Metrics.LoopIterations == 0 || rep.Metrics.BeadsWrites == 0 || res.CommitBatchAvg < 1 {
		t.Fatalf("server profile missing: loop %d writes %d batch %v", rep.Metrics.LoopIterations, rep.Metrics.BeadsWrites, res.CommitBatchAvg)
	}

	final, err := loadtest.ReadFinalState(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]loadtest.IssueSpec{}
	for _, s := range specs {
		byID[s.ID] = s
	}
	var behindDead func(id string) bool
	behindDead = func(id string) bool {
		for _, d := range byID[id].Deps {
			if final[d].Failed || behindDead(d) {
				return true
			}
		}
		return false
	}
	closed, dead, blocked := 0, 0, 0
	for _, s := range specs {
		st, ok := final[s.ID]
		switch {
		case !ok:
			t.Errorf("%s missing from the final JSONL", s.ID)
		case st.Status == "closed":
			closed++
		case st.Failed:
			dead++
		case behindDead(s.ID):
			blocked++
		default:
			t.Errorf("%s ends %q: neither closed nor dead-lettered", s.ID, st.Status)
		}
	}
	if closed < 150 {
		t.Errorf("only %d of 200 closed (dead-lettered %d, behind them %d)", closed, dead, blocked)
	}
	t.Logf("closed %d, dead-lettered %d, blocked behind them %d; %.0f completions/s, dispatch p95 %.3f ms",
		closed, dead, blocked, res.CompletionsPerSec, res.DispatchMs.P95)
}
