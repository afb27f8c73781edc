package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gastown/gtc/rpc"
)

// ServerOptions say how StartServer runs a coordinator of its own.
type ServerOptions struct {
	Exe        string        // the gtc binary (os.Executable() for the gtc command itself)
	MaxConns   int           // --max-conns (default 10,000)
	Backoff    time.Duration // --backoff: retry backoff after a failed attempt (default 10ms, so runs drain fast)
	CPUProfile string        // when set, the server writes a CPU profile there (hidden serve flag --cpuprofile)
	MemProfile string        // when set, the server writes a heap profile there at shutdown (--memprofile)
	ExtraArgs  []string      // more serve flags
	KeepDir    bool          // keep the temp workspace after Close
	Settle     time.Duration // once the server answers, wait this long before returning (default 0)
}

// Server is a gtc coordinator subprocess on a temp workspace.
type Server struct {
	Dir    string // the temp workspace
	Socket string // its unix socket
	PID    int
	cmd    *exec.Cmd
	stderr *lockedBuffer
	waited chan struct{}
	keep   bool
}

// StartServer writes specs to a temp workspace's .beads/issues.jsonl, starts `gtc serve` there and
// waits until it answers hello (the JSONL is imported by then), then o.Settle.
func StartServer(ctx context.Context, specs []IssueSpec, o ServerOptions) (*Server, error) {
	if o.Exe == "" {
		return nil, errors.New("start server: no gtc binary")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10000
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Millisecond
	}
	dir, err := os.MkdirTemp("", "gtc-loadtest-")
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &Server{Dir: dir, Socket: filepath.Join(dir, ".beads", "gtc.sock"), stderr: &lockedBuffer{}, waited: make(chan struct{}), keep: o.KeepDir}
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, ".beads"), 0o755); err != nil {
		return fail(fmt.Errorf("start server: %w", err))
	}
	if err := writeJSONLFile(filepath.Join(dir, ".beads", "issues.jsonl"), specs); err != nil {
		return fail(err)
	}
	args := []string{"--dir", dir, "--log-level", "warn", "serve", "--socket", s.Socket,
		"--max-conns", strconv.Itoa(o.MaxConns), "--backoff", o.Backoff.String()}
	if o.CPUProfile != "" {
		args = append(args, "--cpuprofile", o.CPUProfile)
	}
	if o.MemProfile != "" {
		args = append(args, "--memprofile", o.MemProfile)
	}
	args = append(args, o.ExtraArgs...)
	s.cmd = exec.Command(o.Exe, args...)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start %s serve: %w", o.Exe, err))
	}
	s.PID = s.cmd.Process.Pid
	go func() { _ = s.cmd.Wait(); close(s.waited) }()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := s.ping(ctx); err == nil {
			select {
			case <-time.After(o.Settle):
				return s, nil
			case <-s.waited:
				return fail(fmt.Errorf("gtc serve exited: %s", s.stderr.tail()))
			case <-ctx.Done():
				return fail(ctx.Err())
			}
		}
		select {
		case <-s.waited:
			return fail(fmt.Errorf("gtc serve exited: %s", s.stderr.tail()))
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("gtc serve not answering after 2m: %s", s.stderr.tail()))
		}
	}
}

func writeJSONLFile(path string, specs []IssueSpec) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := WriteJSONL(f, specs, time.Now().UTC().Truncate(time.Second)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// ping says hello as a client.
func (s *Server) ping(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := rpc.Dial(cctx, rpc.DialOptions{Network: "unix", Addr: s.Socket})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Hello(cctx, rpc.HelloParams{Name: "loadtest-ping", Role: "client"})
	return err
}

// Stop sends SIGTERM and waits (up to 2 minutes) for the graceful shutdown, which exports the JSONL.
func (s *Server) Stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.waited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.waited:
		case <-time.After(2 * time.Minute):
			_ = s.cmd.Process.Kill()
			<-s.waited
			return fmt.Errorf("gtc serve did not stop within 2m; killed")
		}
	}
	if st := s.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("gtc serve exited with %v: %s", st, s.stderr.tail())
	}
	return nil
}

// FinalState reads the workspace's issues.jsonl (after Stop it holds the exported final state).
func (s *Server) FinalState() (map[string]FinalState, error) {
	return ReadFinalState(filepath.Join(s.Dir, ".beads", "issues.jsonl"))
}

// ReadFinalState reads id, status and the dead-letter label of every issue in a beads JSONL file.
func ReadFinalState(path string) (map[string]FinalState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read final state: %w", err)
	}
	defer f.Close()
	out := map[string]FinalState{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var id struct {
			ID string `json:"id"`
		}
		st, err := decodeFinal(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := json.Unmarshal(line, &id); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[id.ID] = st
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// Log returns the end of the server's output.
func (s *Server) Log() string { return s.stderr.tail() }

// Close stops the server if it still runs and removes the temp workspace (unless KeepDir).
func (s *Server) Close() error {
	err := s.Stop()
	if !s.keep {
		os.RemoveAll(s.Dir)
	}
	return err
}

// lockedBuffer keeps the last 64 KiB of the server's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b = append(l.b, p...)
	if len(l.b) > 64<<10 {
		l.b = append([]byte(nil), l.b[len(l.b)-(32<<10):]...)
	}
	l.mu.Unlock()
	return len(p), nil
}

func (l *lockedBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
