package main

import (
	"testing"

	"github.com/gastown/gtc/refinery"
)

// A failed gate's merge goes back with how the gate ended and its output's tail; a gate that printed
// nothing says so (its reason was "gate failed: " and nothing more, a user trial found).
func TestGateReason(t *testing.T) {
	tests := []struct {
		name string
		res  refinery.Result
		want string
	}{
		{"exit status and output", refinery.Result{GateExit: "exit status 1", GateOutput: "FAIL x_test.go\n"}, "gate failed (exit status 1): FAIL x_test.go"},
		{"no output", refinery.Result{GateExit: "exit status 3"}, "gate failed (exit status 3) with no output"},
		{"blank output", refinery.Result{GateExit: "signal: killed", GateOutput: "\n\n"}, "gate failed (signal: killed) with no output"},
		{"no exit recorded", refinery.Result{GateOutput: "boom"}, "gate failed: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gateReason(tc.res); got != tc.want {
				t.Fatalf("gateReason = %q, want %q", got, tc.want)
			}
		})
	}
}
