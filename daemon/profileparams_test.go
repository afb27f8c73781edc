package daemon

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestProfileTakesTheHarnessNames: a harness passing its own ProfileConfig (durationMs, targetAgents,
// targetIssues) to coord.profile gets the window and targets it asked for, not the defaults; the two names
// of one setting with different values, or a negative one, are refused as invalid params.
func TestProfileTakesTheHarnessNames(t *testing.T) {
	h := start(t, nil, nil)
	c, _ := h.session(rpc.HelloParams{Name: "harness", Role: "client"})
	ctx := context.Background()
	time.Sleep(600 * time.Millisecond) // older than every window asked for: each is reported as asked
	type config struct {
		TargetAgents int     `json:"targetAgents"`
		TargetIssues int     `json:"targetIssues"`
		DurationMs   float64 `json:"durationMs"`
	}
	var rep struct {
		Config     config  `json:"config"`
		DurationMs float64 `json:"durationMs"`
	}
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   config
	}{
		{"harness names", map[string]any{"durationMs": 500, "targetAgents": 25, "targetIssues": 7}, config{25, 7, 500}},
		{"gtc names", map[string]any{"window_ms": 400, "target_agents": 30, "target_issues": 9}, config{30, 9, 400}},
		{"both names alike", map[string]any{"window_ms": 300, "durationMs": 300, "targetAgents": 5}, config{5, 100, 300}},
	} {
		rep.Config, rep.DurationMs = config{}, 0
		if err := c.Call(ctx, "coord.profile", tc.params, &rep); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Config.TargetAgents != tc.want.TargetAgents || rep.Config.TargetIssues != tc.want.TargetIssues ||
			math.Abs(rep.Config.DurationMs-tc.want.DurationMs) > 1 {
			t.Errorf("%s: config %+v, want %+v", tc.name, rep.Config, tc.want)
		}
	}
	// a window longer than a time.Duration holds is the whole life of the server, not an overflow to 0
	if err := c.Call(ctx, "coord.profile", map[string]any{"durationMs": int64(9223372036854775)}, &rep); err != nil || rep.DurationMs < 500 {
		t.Errorf("a huge durationMs: window %v ms, %v; want the server's whole life (over 500 ms)", rep.DurationMs, err)
	}
	for _, params := range []map[string]any{
		{"window_ms": 1000, "durationMs": 2000},
		{"target_agents": 3, "targetAgents": 4},
		{"durationMs": -1},
	} {
		if err := c.Call(ctx, "coord.profile", params, &rep); coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), "invalid params") {
			t.Errorf("%v: err %v, want invalid params", params, err)
		}
	}
}
