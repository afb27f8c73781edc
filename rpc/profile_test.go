package rpc

import (
	"context"
	"encoding/json"
	"testing"
)

// CoordProfile answers a fixed report echoing the params.
func (f *fakeBackend) CoordProfile(_ context.Context, _ *Session, p ProfileParams) (*ProfileResult, error) {
	raw, _ := json.Marshal(map[string]any{"durationMs": p.WindowMS, "config": map[string]any{"targetAgents": p.TargetAgents}})
	return &ProfileResult{RawMessage: raw}, nil
}

func TestCoordProfileRoundTrip(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	ctx := context.Background()
	if _, err := c.Hello(ctx, HelloParams{Name: "cli", Role: "client"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.CoordProfile(ctx, ProfileParams{WindowMS: 1500, TargetAgents: 25})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		DurationMs float64 `json:"durationMs"`
		Config     struct {
			TargetAgents int `json:"targetAgents"`
		} `json:"config"`
	}
	if err := json.Unmarshal(r.RawMessage, &got); err != nil {
		t.Fatalf("decode %s: %v", r.RawMessage, err)
	}
	if got.DurationMs != 1500 || got.Config.TargetAgents != 25 {
		t.Fatalf("report %s: want the params echoed", r.RawMessage)
	}
}
