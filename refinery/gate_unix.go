//go:build unix

package refinery

import (
	"os/exec"
	"syscall"
)

// killGroup makes the gate its own process group and kills the whole group on cancel, so a
// gate's children (test runners, builds) do not outlive it.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if cmd.Process == nil {
			return nil
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
