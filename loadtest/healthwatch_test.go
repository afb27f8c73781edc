package loadtest

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/coord/health"
	"github.com/gastown/gtc/rpc"
)

// TestStoppingTheHealthWatchIsNotACoordinatorGone: the health watch stopped at the end of a run while
// its control connection redials a coordinator that is restarting must not end the run as "the
// coordinator went away" (review: the watch's cancelled context was taken for the coordinator's absence).
func TestStoppingTheHealthWatchIsNotACoordinatorGone(t *testing.T) {
	old := HealthEvery
	HealthEvery = 50 * time.Millisecond
	t.Cleanup(func() { HealthEvery = old })
	sock := filepath.Join(t.TempDir(), "gtc.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close() // the coordinator went away under the control connection
		}
	}()
	ctl, err := rpc.Dial(context.Background(), rpc.DialOptions{Network: "unix", Addr: sock})
	if err != nil {
		t.Fatal(err)
	}
	<-ctl.Done()
	ln.Close() // and is down while it restarts (it has redialFor to come back)
	d := &driver{cfg: Config{Network: "unix", Addr: sock, IDPrefix: "lt"}, gone: make(chan struct{}), ctl: ctl}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.watchHealth(ctx, &healthWatch{}) }()
	time.Sleep(300 * time.Millisecond) // the watch is redialing by now
	cancel()                           // the run ended: stopProg
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the health watch did not stop with its context")
	}
	select {
	case <-d.gone:
		t.Errorf("stopping the health watch declared the coordinator gone: %v", d.goneErr)
	default:
	}
}

// TestHealthWatchKeepsTheEndTheWorstAndTheRunsStalls: the criterion reads the health at the run's end (a
// fresh coordinator's first failed session is a momentary rate of 0), the report keeps the worst seen,
// and only the run's own agents count as its stalls (under --addr the fleet has workers of its own).
func TestHealthWatchKeepsTheEndTheWorstAndTheRunsStalls(t *testing.T) {
	w := &healthWatch{prefix: "lt1-"}
	w.note(health.Report{Status: health.Degraded, Reasons: []string{"2 workers stalled"}, Stalled: []string{"fleet-w1", "lt1-a3"}})
	w.note(health.Report{Status: health.Unhealthy, Reasons: []string{"3 workers stalled (more than 2)"}, Stalled: []string{"fleet-w1", "fleet-w2", "fleet-w3"}})
	w.note(health.Report{Status: health.Healthy})
	var r Result
	w.fill(&r)
	if r.Health != "healthy" || len(r.HealthReasons) != 0 || r.HealthWorst != "unhealthy (3 workers stalled (more than 2))" || r.StalledMax != 1 {
		t.Errorf("health %q %v, worst %q, stalled %d: want healthy at the end, the unhealthy report as the worst, 1 of the run's agents stalled",
			r.Health, r.HealthReasons, r.HealthWorst, r.StalledMax)
	}
}
