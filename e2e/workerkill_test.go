package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKilledWorkerTakesItsCommandsWithIt: `gtc worker` killed with SIGKILL (it can stop nothing itself)
// leaves no command of its running: the watcher in each command's process group sees the worker's end
// of the lifeline close and kills the group — the shell and the agent it started. Before, the agents
// ran on and their late commits and merge submits landed beside the rerun another worker was given.
// A command with a bare `wait` still finishes (the watcher is no child of its shell).
func TestKilledWorkerTakesItsCommandsWithIt(t *testing.T) {
	l := startLive(t, 2, nil)
	logs := shortDir(t)
	script := `L='` + logs + `'
case "$GTC_ISSUE_ID" in
*0000) sleep 0.1 & wait; echo "$GTC_ISSUE_ID" >> "$L/done";;
*) echo $$ > "$L/sh.pid"; sleep 60 & echo $! > "$L/agent.pid"; wait;;
esac`
	cmd := exec.Command(gtcBin, "--dir", l.dir, "worker", "--name", "doomed", "--capacity", "2", "--exec", script)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	readPid := func(name string) int {
		b, err := os.ReadFile(filepath.Join(logs, name))
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	waitFor(t, 15*time.Second, "the long command to start and the short one to finish", func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "done"))
		return readPid("agent.pid") > 0 && readPid("sh.pid") > 0 && strings.Contains(string(b), issueID(0))
	})
	sh, agent := readPid("sh.pid"), readPid("agent.pid")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	gone := func(pid int) bool {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return true
		}
		b, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		return rerr != nil || strings.Contains(string(b[strings.LastIndexByte(string(b), ')')+1:]), " Z ")
	}
	waitFor(t, 15*time.Second, "the killed worker's command (shell and agent) to end", func() bool { return gone(sh) && gone(agent) })
}
