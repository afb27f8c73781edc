package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"
)

type rawConn struct {
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, path string) *rawConn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 1<<20)}
}

// call sends one request and returns its reply (skipping pushes).
func (r *rawConn) call(t *testing.T, id int, method, params string) map[string]json.RawMessage {
	t.Helper()
	fmt.Fprintf(r.nc, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`+"\n", id, method, params)
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := r.br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("%s: read: %v", method, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		if string(m["id"]) == fmt.Sprint(id) {
			return m
		}
	}
}

// helloAs says hello as name, retrying while the name is still held by a closing connection.
func helloAs(t *testing.T, path, name string) (*rawConn, map[string]json.RawMessage) {
	t.Helper()
	for i := 0; i < 100; i++ {
		r := dialRaw(t, path)
		m := r.call(t, 1, "hello", fmt.Sprintf(`{"name":%q,"capacity":20,"protocol":1}`, name))
		if m["error"] == nil {
			return r, m
		}
		r.nc.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("hello never accepted")
	return nil, nil
}

// TestKeyedReleaseRetryAfterDropGetsFirstResult: a retry with the same idempotency key gets the first
// attempt's result also when the first attempt's connection dropped while the engine applied it
// (docs/reliability.md) — for the methods served synchronously (release here; merge.submit,
// convoy.create, issue.update, coord.drain alike), not only complete, fail and issue.create.
func TestKeyedReleaseRetryAfterDropGetsFirstResult(t *testing.T) {
	var lines []string
	for i := 0; i < 20; i++ {
		lines = append(lines, line(fmt.Sprintf("t-%02d", i), "work", 1))
	}
	h := start(t, lines, func(c *Config) { c.Coord.HeartbeatTimeout = time.Minute; c.Coord.Grace = time.Minute })
	w := h.worker("w1", 20)
	var leases [][2]any
	for range lines {
		a := w.next(t, 5*time.Second)
		leases = append(leases, [2]any{a.Lease.ID, a.Lease.Epoch})
	}
	_ = w.c.Close()
	bad := 0
	for i, l := range leases {
		params := fmt.Sprintf(`{"lease_id":%q,"epoch":%d,"reason":"r","idempotency_key":"rel-%d"}`, l[0], l[1], i)
		r, _ := helloAs(t, h.d.SocketPath(), "w1")
		fmt.Fprintf(r.nc, `{"jsonrpc":"2.0","id":2,"method":"release","params":%s}`+"\n", params)
		r.nc.Close() // the worker's connection drops before the reply
		r2, _ := helloAs(t, h.d.SocketPath(), "w1")
		m := r2.call(t, 3, "release", params) // the retry, same key
		r2.nc.Close()
		if m["error"] != nil {
			bad++
			t.Logf("retry of release %s with the same key: error %s", l[0], m["error"])
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d keyed release retries did not get the first result", bad, len(leases))
	}
}
