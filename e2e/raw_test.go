package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// rawConn is a hand-driven NDJSON connection for hostile inputs.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dialRaw(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, r: bufio.NewReaderSize(nc, 1<<20)}
}

// send writes s as it is (add the newline yourself).
func (c *rawConn) send(s string) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// recv reads one reply line.
func (c *rawConn) recv() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("recv: %v (got %q)", err, line)
	}
	return strings.TrimSpace(line)
}

// call sends one line and reads one reply.
func (c *rawConn) call(s string) string {
	c.t.Helper()
	c.send(s + "\n")
	return c.recv()
}

// hello opens a client session (capacity 0: no pushes).
func (c *rawConn) hello(token string) string {
	c.t.Helper()
	return c.call(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"raw","role":"client","token":"` + token + `"}}`)
}

// closedWithin reports whether the server closes the connection within d (replies are skipped).
func (c *rawConn) closedWithin(d time.Duration) bool {
	c.nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || errors.Is(err, os.ErrClosed))
}
