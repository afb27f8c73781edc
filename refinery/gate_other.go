//go:build !unix

package refinery

import "os/exec"

// killGroup is a no-op where process groups are not available; ctx still kills the shell.
func killGroup(*exec.Cmd) {}
