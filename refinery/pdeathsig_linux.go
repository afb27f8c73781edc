package refinery

import "syscall"

// setPdeathsig has the gate's shell killed when the refinery dies (kill -9 included).
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
