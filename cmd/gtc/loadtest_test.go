package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadtestAgainstRunningServer runs `gtc loadtest --addr` on a live coordinator: the JSON report
// has every issue closed with no correctness error, the workspace's own issues are left alone, and --cpuprofile (used by make pgo) leaves a
// pprof profile (gzip-compressed protobuf) of the load generator.
func TestLoadtestAgainstRunningServer(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	own := createIssues(t, dir, "real work one", "real work two", "real work three") // the workspace's own issues
	prof := filepath.Join(t.TempDir(), "driver.prof")
	out := must(t, dir, "loadtest", "--addr", filepath.Join(dir, ".beads", "gtc.sock"), "--agents", "3",
		"--issues", "12", "--json", "--cpuprofile", prof)
	var r struct {
		Agents            int     `json:"agents"`
		Issues            int     `json:"issues"`
		CompletionsPerSec float64 `json:"completions_per_sec"`
		DurationS         float64 `json:"duration_s"`
		Errors            int     `json:"errors"`
		Doubles           int     `json:"double_assignments"`
		Lost              int     `json:"lost_issues"`
		LostCompletions   int     `json:"lost_completions"`
		RSSPeakMB         float64 `json:"rss_peak_mb"`
		StoppedBy         string  `json:"stopped_by"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("loadtest --json output: %v\n%s", err, out)
	}
	if r.Agents != 3 || r.Issues != 12 {
		t.Errorf("agents/issues = %d/%d, want 3/12", r.Agents, r.Issues)
	}
	if r.CompletionsPerSec <= 0 || r.DurationS <= 0 {
		t.Errorf("%.1f completions/s over %.3f s", r.CompletionsPerSec, r.DurationS)
	}
	// every issue closed exactly once in the final state read back over RPC (lost_issues counts those
	// that are not)
	if r.Errors+r.Doubles+r.Lost+r.LostCompletions != 0 {
		t.Errorf("correctness counts %+v, want all zero", r)
	}
	// the running server's resident size comes from its own samples (coord.profile), not 0
	if r.RSSPeakMB <= 0 || r.StoppedBy != "drained" {
		t.Errorf("rss_peak_mb %v, stopped_by %q against a running server", r.RSSPeakMB, r.StoppedBy)
	}
	for _, id := range own {
		if st, _ := s.issue(id); st != "open" {
			t.Errorf("the load test took the workspace's own issue %s: status %s", id, st)
		}
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatalf("cpu profile: %v", err)
	}
	if len(b) < 2 || !bytes.Equal(b[:2], []byte{0x1f, 0x8b}) {
		t.Errorf("cpu profile %s is %d bytes without the gzip header of a pprof profile", prof, len(b))
	}
}

// TestLoadtestRefusesBadFlags: values loadtest cannot run are usage errors (exit 2) before any server
// starts; negative counts made it panic.
func TestLoadtestRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--agents", "-3"}, "--agents -3: at least 1"},
		{[]string{"--agents", "0"}, "at least 1"},
		{[]string{"--issues", "-10"}, "--issues -10: not negative"},
		{[]string{"--rate", "-5", "--duration", "2s"}, "--rate -5: not negative"},
		{[]string{"--rate", "5"}, "--rate needs --duration"},
		{[]string{"--issues", "5", "--rate", "5", "--duration", "1s"}, "not both"},
		{[]string{"--fail-rate", "1.5"}, "a fraction from 0 to 1"},
		{[]string{"--work-time", "-1s"}, "not negative"},
		{[]string{"--scenario", "smoke", "--agents", "3"}, "--agents does not apply"},
		{[]string{"extra", "--issues", "3"}, "takes no arguments"},
		{[]string{"--addr", "x.sock", "--server-cpuprofile", "p"}, "does not apply with --addr"},
	} {
		want(t, dir, exitUsage, append([]string{"loadtest"}, tc.args...), tc.want)
	}
	want(t, dir, exitUsage, []string{"profile", "extra"}, "takes no arguments")
	// a dead --addr is "no coordinator" (exit 3), as for every client command (after the tool's own notes)
	if r := gtc(t, dir, "loadtest", "--addr", filepath.Join(dir, "nothing.sock"), "--agents", "1", "--issues", "1"); r.code != exitNoServer ||
		!strings.Contains(r.err, "no coordinator at") {
		t.Errorf("loadtest against nothing: exit %d, stderr %q", r.code, r.err)
	}
}
