package rpc

import (
	"encoding/json"
	"fmt"
)

// ProfileParams asks coord.profile for the report of a window.
type ProfileParams struct {
	WindowMS     int64 `json:"window_ms,omitempty"`     // window profiled, ending now; 0 = since the server started
	TargetAgents int   `json:"target_agents,omitempty"` // copied into the report's config (default 20)
	TargetIssues int   `json:"target_issues,omitempty"` // copied into the report's config (default 100)
	// The same three under the names of the harness's ProfileConfig, so a harness can pass its own config.
	DurationMS         int64 `json:"durationMs,omitempty"`
	HarnessTargetAgent int   `json:"targetAgents,omitempty"`
	HarnessTargetIssue int   `json:"targetIssues,omitempty"`
}

// Settings returns the window and targets asked for under either name; a negative value, or the two
// names of one setting given different values, is an error.
func (p ProfileParams) Settings() (windowMS int64, agents, issues int, err error) {
	pick := func(a, b int64, names string) int64 {
		if err == nil && (a < 0 || b < 0) {
			err = fmt.Errorf("%s must not be negative", names)
		}
		if err == nil && a != 0 && b != 0 && a != b {
			err = fmt.Errorf("%s name one setting: give one of them (got %d and %d)", names, a, b)
		}
		return max(a, b)
	}
	windowMS = pick(p.WindowMS, p.DurationMS, "window_ms and durationMs")
	agents = int(pick(int64(p.TargetAgents), int64(p.HarnessTargetAgent), "target_agents and targetAgents"))
	issues = int(pick(int64(p.TargetIssues), int64(p.HarnessTargetIssue), "target_issues and targetIssues"))
	return windowMS, agents, issues, err
}

// ProfileResult is the harness-shaped profile report (loadtest.ProfileReport's JSON), kept raw
// because rpc does not import loadtest.
type ProfileResult struct{ json.RawMessage }
