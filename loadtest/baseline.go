package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EchoBaseline measures this machine's floor under create_to_push: n one-line pings, rate per second
// (spaced as the latency mode's creates), each answered by an echo server in another process over a
// Unix socket. A create→push crosses the same two process wake-ups (the server reading the create,
// the agent reading the push), so the round trip is what the coordinator's own work adds to. start
// builds the echo server's command for a socket path (see ServeEcho); it must print a line once it
// listens.
func EchoBaseline(ctx context.Context, start func(socket string) *exec.Cmd, rate float64, n int) (Summary, error) {
	if rate <= 0 || n <= 0 {
		return Summary{}, errors.New("echo baseline: rate and count must be positive")
	}
	dir, err := os.MkdirTemp("", "gtc-echo-")
	if err != nil {
		return Summary{}, fmt.Errorf("echo baseline: %w", err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "echo.sock")
	cmd := start(sock)
	var stderr bytes.Buffer // what the echo server says when it fails (written until it exits)
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Summary{}, fmt.Errorf("echo baseline: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return Summary{}, fmt.Errorf("echo baseline: start the echo server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // owns the process: ends when it exits
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	ready := make(chan error, 1)
	go func() { // ends at the first line or when the pipe closes (the process exited or was killed)
		_, err := bufio.NewReader(out).ReadString('\n')
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			<-exited // its stderr is complete
			return Summary{}, fmt.Errorf("echo baseline: the echo server stopped before listening (%w): %s", err,
				strings.TrimSpace(stderr.String()))
		}
	case <-time.After(10 * time.Second):
		return Summary{}, errors.New("echo baseline: the echo server did not listen within 10s")
	case <-ctx.Done():
		return Summary{}, ctx.Err()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return Summary{}, fmt.Errorf("echo baseline: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r := bufio.NewReader(c)
	interval := time.Duration(float64(time.Second) / rate)
	ds := make([]time.Duration, 0, n)
	t0 := time.Now()
	for i := range n {
		if w := time.Until(t0.Add(time.Duration(i) * interval)); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Summary{}, ctx.Err()
			}
		}
		start := time.Now()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return Summary{}, fmt.Errorf("echo baseline: ping %d: %w", i, errors.Join(ctx.Err(), err))
		}
		if _, err := r.ReadSlice('\n'); err != nil {
			return Summary{}, fmt.Errorf("echo baseline: pong %d: %w", i, errors.Join(ctx.Err(), err))
		}
		ds = append(ds, time.Since(start))
	}
	return Summarize(ds), nil
}

// ServeEcho is EchoBaseline's echo server: it listens on socket, writes a line to ready, then echoes
// the lines of one connection until it closes or ctx ends.
func ServeEcho(ctx context.Context, socket string, ready io.Writer) error {
	l, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	defer l.Close()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	if _, err := fmt.Fprintln(ready, "listening on", socket); err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	c, err := l.Accept()
	if err != nil {
		return fmt.Errorf("echo server: %w", errors.Join(ctx.Err(), err))
	}
	defer c.Close()
	stopConn := context.AfterFunc(ctx, func() { c.Close() })
	defer stopConn()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("echo server: %w", err)
		}
		if _, err := c.Write(line); err != nil {
			return fmt.Errorf("echo server: %w", err)
		}
	}
}
