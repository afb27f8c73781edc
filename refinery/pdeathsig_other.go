//go:build unix && !linux

package refinery

import "syscall"

// setPdeathsig is a no-op off Linux: the lifeline watcher alone kills the gate's group.
func setPdeathsig(*syscall.SysProcAttr) {}
