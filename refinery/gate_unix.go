//go:build unix

package refinery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// lifeline starts, before the gate, a watcher in the gate's process group that blocks reading fd 3
// (the read end of a pipe whose write end only the refinery holds) and, at EOF — the refinery is gone,
// kill -9 included — sends the group SIGTERM, then SIGKILL two seconds later. It is started through a
// subshell that exits at once, so it is no child of the gate's shell (a bare `wait` in the gate does
// not wait for it); the refinery kills it with the group when the gate ends. (The same scheme as the
// worker's commands, cmd/gtc lifelineWatch.)
const lifeline = "( ( trap '' TERM; while read -r _ <&3; do :; done; kill -TERM 0; sleep 2; kill -KILL 0 ) " +
	">/dev/null 2>&1 </dev/null & ); exec 3<&-\n"

// runGroup runs script with sh -c in dir as the leader of a new process group and returns nil when it
// exits 0. When ctx ends the whole group is killed (SIGKILL); when the gate ends, what is left of its
// group (background jobs) is killed too. When this process dies the group dies with it: the lifeline
// watcher above, and on Linux a parent-death signal for the shell.
func runGroup(ctx context.Context, dir, script string, env []string, out io.Writer) error {
	lr, lw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("lifeline pipe: %w", err)
	}
	defer lw.Close() // after the group is killed below
	cmd := exec.Command("sh", "-c", lifeline+script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{lr} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
	cmd.WaitDelay = 5 * time.Second // background jobs may hold the output pipe after the shell exits
	// The parent-death signal fires when the thread that started the child ends: keep it until Wait.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	lr.Close() // the child has its copy
	if err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	err = cmd.Wait()
	stop()
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // leftovers of the group (background jobs, the watcher)
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		return nil
	}
	return err
}
