package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrorsExit2: a flag no command knows, on every command, and a stray argument to init exit 2
// with one line on stderr and nothing on stdout (README: exit codes); init creates nothing then.
func TestUsageErrorsExit2(t *testing.T) {
	dir := t.TempDir()
	for _, c := range commands() {
		r := gtc(t, dir, c.Name, "--no-such-flag")
		if r.code != exitUsage || r.out != "" || !strings.Contains(r.err, "(see gtc "+c.Name+" --help)") {
			t.Errorf("gtc %s --no-such-flag: exit %d, stdout %q, stderr %q; want %d, nothing on stdout and where the help is", c.Name, r.code, r.out, r.err, exitUsage)
		}
	}
	r := gtc(t, dir, "init", "other")
	if r.code != exitUsage {
		t.Errorf("gtc init other: exit %d, want %d (stderr %q)", r.code, exitUsage, r.err)
	}
	for _, p := range []string{filepath.Join(dir, ".beads"), filepath.Join(dir, "other")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("gtc init other created %s", p)
		}
	}
}

// TestValueErrorsNameTheHelp: a usage error from a command's own checks (a value out of range, flags that
// do not go together) names that command's help as urfave/cli's flag errors do (re-trial: `gtc issue list
// --limit -1` said only "--limit must not be negative"), the full path of a subcommand, once; a message
// that shows the usage already is left as it is. Nothing reaches a server: none runs.
func TestValueErrorsNameTheHelp(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"issue", "list", "--limit", "-1"}, "--limit must not be negative (see gtc issue list --help)"},
		{[]string{"ready", "--limit", "-2"}, "--limit must not be negative (see gtc ready --help)"},
		{[]string{"events", "--limit", "-5"}, "(see gtc events --help)"},
		{[]string{"issue", "create"}, "(see gtc issue create --help)"},
		{[]string{"worker", "--exec", "true", "--capacity", "0"}, "--capacity must be at least 1 (see gtc worker --help)"},
		{[]string{"loadtest", "--agents", "0", "--issues", "1"}, "(see gtc loadtest --help)"},
		{[]string{"loadtest", "--agents", "1", "--issues", "1", "--settle", "-1s"}, "want 0 or more (see gtc loadtest --help)"},
		{[]string{"merge", "cancel"}, "usage: gtc merge cancel MR_ID"},
	} {
		r := gtc(t, dir, tc.args...)
		if r.code != exitUsage || r.out != "" || !strings.Contains(r.err, tc.want) || strings.Count(r.err, "--help") > 1 {
			t.Errorf("gtc %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.out, r.err, exitUsage, tc.want)
		}
	}
}

// TestUnknownCommandsExit2: a mistyped command or subcommand is a usage error (exit 2, nothing on stdout)
// naming the closest command (CLI trial: `gtc isue list` exited 1 with "No help topic for 'isue'"); a
// command group alone still shows its help.
func TestUnknownCommandsExit2(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"isue", "list"}, "did you mean `gtc issue`?"},
		{[]string{"issue", "lst"}, "did you mean `gtc issue list`?"},
		{[]string{"issue", "dep", "ad", "a", "b"}, "did you mean `gtc issue dep add`?"},
		{[]string{"merge", "sub"}, "did you mean `gtc merge submit`?"},
		{[]string{"frobnicate"}, `gtc has no command "frobnicate": see`},
		{[]string{"hlep"}, "did you mean `gtc help`?"},
		{[]string{"help", "isue"}, "did you mean `gtc help issue`?"},
		{[]string{"backup"}, "backup takes 1 argument(s), got 0"},
		{[]string{"restore", "a", "b"}, "restore takes 1 argument(s), got 2"},
	} {
		r := gtc(t, dir, tc.args...)
		if r.code != exitUsage || r.out != "" || !strings.Contains(r.err, tc.want) {
			t.Errorf("gtc %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.out, r.err, exitUsage, tc.want)
		}
	}
	if r := gtc(t, dir, "issue"); r.code != 0 || !strings.Contains(r.out, "gtc issue") {
		t.Errorf("gtc issue: exit %d, stdout %q", r.code, r.out)
	}
}

// TestVersion: gtc --version names the build: the version set at link time, or for a dev build the
// commit Go recorded (upgrade trial: every binary called itself "dev" and none had --version).
func TestVersion(t *testing.T) {
	r := gtc(t, t.TempDir(), "--version")
	if r.code != 0 || !strings.HasPrefix(r.out, "gtc version "+buildVersion()) {
		t.Errorf("gtc --version: exit %d, %q; want gtc version %s", r.code, r.out, buildVersion())
	}
	if !strings.HasPrefix(buildVersion(), "dev") {
		t.Errorf("a dev build's version %q does not say dev", buildVersion())
	}
	old := version
	t.Cleanup(func() { version = old })
	version = "1.2.3"
	if got := buildVersion(); got != "1.2.3" {
		t.Errorf("with -X main.version=1.2.3: %q", got)
	}
}

// TestServerRefusalsNameNoHelp: a coordinator's refusal of what was asked (`invalid`: a dependency on a
// deleted issue) exits 2 like a usage error but is no misuse of the command: its help would not say
// what is wrong, so the message does not point to it.
func TestServerRefusalsNameNoHelp(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	must(t, dir, "issue", "create", "two", "--id", "t-2")
	must(t, dir, "issue", "update", "t-2", "--status", "tombstone")
	r := gtc(t, dir, "issue", "dep", "add", "t-1", "t-2")
	if r.code != exitUsage || !strings.Contains(r.err, "which is deleted") || strings.Contains(r.err, "--help") {
		t.Errorf("gtc issue dep add on a tombstone: exit %d, stderr %q: want exit %d, the server's reason and no help pointer", r.code, r.err, exitUsage)
	}
}
