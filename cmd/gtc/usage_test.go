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
		if r.code != exitUsage || r.out != "" {
			t.Errorf("gtc %s --no-such-flag: exit %d, stdout %q; want %d and nothing on stdout", c.Name, r.code, r.out, exitUsage)
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
