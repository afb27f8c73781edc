package loadtest_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gastown/gtc/loadtest"
	"github.com/gastown/gtc/rpc"
)

// TestRunStopsWhenOutsidersTakeItsIssues: against a running coordinator (--addr) a worker outside the run
// takes some of its issues and sits on them; the run no longer waits for its duration cap (10 minutes by
// default, 60 s here) but stops a few seconds after its progress stalls, saying why (the scale trial's
// run sat at 69 % until its cap).
func TestRunStopsWhenOutsidersTakeItsIssues(t *testing.T) {
	specs := loadtest.GenerateIssues(40, "lt", 3)
	sock, _, _ := startDaemon(t, specs)
	ctx := context.Background()
	out, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: sock})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var took atomic.Int64
	out.OnAssign(func(context.Context, rpc.Assignment) (bool, string) { took.Add(1); return true, "" })
	if _, err := out.Hello(ctx, rpc.HelloParams{Name: "someone-else", Role: "worker", Capacity: 3}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for took.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if took.Load() < 3 {
		t.Fatalf("the outside worker took %d issues, want 3", took.Load())
	}
	start := time.Now()
	res, _, err := loadtest.Run(ctx, loadtest.Config{Network: "unix", Addr: sock, Agents: 2, Issues: specs, Preloaded: true,
		IDPrefix: "lt", Duration: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second || !strings.Contains(res.StoppedBy, "outside the run") {
		t.Fatalf("run stopped by %q after %v, want a stop for outside workers within 30 s", res.StoppedBy, took)
	}
	if res.DoubleAssignments != 0 || res.LostCompletions != 0 {
		t.Fatalf("correctness: %+v", res)
	}
}
