//go:build !unix

package refinery

import (
	"context"
	"io"
	"os/exec"
	"time"
)

// runGroup runs script with sh -c in dir; where process groups are not available only the shell
// itself is killed when ctx ends.
func runGroup(ctx context.Context, dir, script string, env []string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	return cmd.Run()
}

// lockFile is a no-op where files cannot be locked: merges are serialised within this process only.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
