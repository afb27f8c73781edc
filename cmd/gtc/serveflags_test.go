package main

import (
	"fmt"
	"path/filepath"
	"testing"
)

// A memory target or collector floor out of range is refused before anything starts, with the flag named.
func TestServeRefusesABadMemoryTarget(t *testing.T) {
	dir := newWorkspace(t)
	for _, flag := range []string{"--memory-target-mib", "--gc-floor-mib"} {
		for _, v := range []string{"-1", fmt.Sprint(maxMemoryTargetMiB + 1), fmt.Sprint(1 << 44)} {
			want(t, dir, exitUsage, []string{"serve", "--socket", "-", flag, v}, flag+" "+v, "want 0 (off)")
		}
	}
}

// A negative --retain (0 is the way to keep all history) or one under a minute (the prunes are a minute
// apart) is refused, with the flag named.
func TestServeRefusesABadRetain(t *testing.T) {
	dir := newWorkspace(t)
	for _, v := range []string{"-5m", "500us", "59s"} {
		want(t, dir, exitUsage, []string{"serve", "--socket", "-", "--retain", v}, "--retain ", "want a minute or more, or 0 to keep all history")
	}
}

// A timing or limit of zero or less was replaced by its default without a word: `--grace 0` (meaning:
// hand a disconnected worker's work back at once) ran with a 30 s grace, `--heartbeat-timeout 0s` with
// 60 s, `--max-attempts 0` with 3, and `--max-message 10` started a server that refused every hello as
// too large. Each is refused before anything starts, with the flag named.
func TestServeRefusesTimingsAndLimitsItWouldIgnore(t *testing.T) {
	dir := newWorkspace(t)
	for _, tc := range []struct {
		flag, value, frag string
	}{
		{"--grace", "0s", "want more than 0"},
		{"--grace", "-1s", "want more than 0"},
		{"--heartbeat-timeout", "0s", "want more than 0"},
		{"--ack-timeout", "-2s", "want more than 0"},
		{"--forget-gone", "0s", "want more than 0"},
		{"--backoff", "0s", "want more than 0"},
		{"--sync-interval", "-1ms", "want more than 0"},
		{"--max-attempts", "0", "want 1 or more"},
		{"--max-conns", "0", "want 1 or more"},
		{"--max-message", "10", "want 1024 or more"},
	} {
		// --db in a missing directory: a value let through fails at the open instead (exit 1), not by hanging
		want(t, dir, exitUsage, []string{"serve", "--socket", "-", "--db", filepath.Join(dir, "missing", "gtc.db"), tc.flag, tc.value},
			tc.flag+" "+tc.value, tc.frag)
	}
}
