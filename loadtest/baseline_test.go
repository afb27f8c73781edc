package loadtest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// echoEnv makes the test binary run ServeEcho on the socket it names instead of the tests.
const echoEnv = "LOADTEST_ECHO_SOCKET"

func TestMain(m *testing.M) {
	if s := os.Getenv(echoEnv); s != "" {
		if err := ServeEcho(context.Background(), s, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func echoCmd(socket string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoEnv+"="+socket)
	return cmd
}

// TestEchoBaseline: every ping is answered by the echo server in another process, and the figures
// are ordered; a server that exits before listening, or never listens, is an error, not a hang.
func TestEchoBaseline(t *testing.T) {
	s, err := EchoBaseline(context.Background(), echoCmd, 500, 40)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count != 40 || s.P50 <= 0 || s.P95 < s.P50 || s.P99 < s.P95 || s.Max < s.P99 {
		t.Fatalf("baseline %+v: want 40 ordered round trips", s)
	}
	if _, err := EchoBaseline(context.Background(), func(string) *exec.Cmd { return exec.Command("sh", "-c", "echo no socket here >&2; exit 1") }, 500, 5); err == nil ||
		!strings.Contains(err.Error(), "before listening") || !strings.Contains(err.Error(), "no socket here") {
		t.Fatalf("an echo server that exits at once: %v (want its stderr in the error)", err)
	}
	// a slow rate: ending ctx between pings stops the wait at once
	slow, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer stop()
	start := time.Now()
	if _, err := EchoBaseline(slow, echoCmd, 0.1, 3); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("a 10 s wait between pings outlived its context: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := EchoBaseline(ctx, func(string) *exec.Cmd { return exec.Command("sleep", "30") }, 500, 5); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("an echo server that never listens: %v after %v", err, time.Since(start))
	}
}
