package rpc

import "encoding/json"

// ProfileParams asks coord.profile for the report of a window.
type ProfileParams struct {
	WindowMS     int64 `json:"window_ms,omitempty"`     // window profiled, ending now; 0 = since the server started
	TargetAgents int   `json:"target_agents,omitempty"` // copied into the report's config (default 20)
	TargetIssues int   `json:"target_issues,omitempty"` // copied into the report's config (default 100)
}

// ProfileResult is the harness-shaped profile report (loadtest.ProfileReport's JSON), kept raw
// because rpc does not import loadtest.
type ProfileResult struct{ json.RawMessage }
