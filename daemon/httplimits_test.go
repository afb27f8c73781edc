package daemon

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPConnectionsBounded: an idle kept-alive HTTP connection is closed after HTTPIdleTimeout, a
// request whose body never finishes is cut off after HTTPReadTimeout, and connections over
// HTTPMaxConns wait to be accepted instead of holding descriptors the worker listeners need.
func TestHTTPConnectionsBounded(t *testing.T) {
	h := start(t, nil, func(c *Config) {
		c.HTTPIdleTimeout, c.HTTPReadTimeout, c.HTTPMaxConns = 200*time.Millisecond, 300*time.Millisecond, 2
	})
	_, addr := h.d.Addrs()
	closedWithin := func(nc net.Conn, d time.Duration) bool {
		nc.SetReadDeadline(time.Now().Add(d))
		_, err := io.ReadAll(nc)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF (ReadAll's nil) or a reset: closed
	}

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if !closedWithin(idle, 2*time.Second) {
		t.Error("an idle kept-alive connection stayed open past HTTPIdleTimeout")
	}

	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
	if !closedWithin(slow, 2*time.Second) {
		t.Error("a request whose body never finishes held its connection past HTTPReadTimeout")
	}

	var held []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{") // holds a slot while it reads
		held = append(held, nc)
	}
	time.Sleep(50 * time.Millisecond)
	third, err := net.Dial("tcp", addr) // the kernel queues it; the server does not accept it yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, _ := io.ReadAll(third); strings.Contains(string(b), "200 OK") {
		t.Fatal("a connection over HTTPMaxConns was served at once")
	}
	third.SetReadDeadline(time.Now().Add(3 * time.Second)) // served once the held ones time out
	if b, _ := io.ReadAll(third); !strings.Contains(string(b), "200 OK") {
		t.Fatalf("the queued connection was not served after the held ones ended: %q", b)
	}
	_ = held
}
