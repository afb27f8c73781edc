package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"testing"
	"time"
)

func FuzzFrameReader(f *testing.F) {
	f.Add(byte(0), []byte("{\"a\":1}\n\n{\"b\":2}\r\n[1,2]"))
	f.Add(byte(1), []byte("Content-Length: 7\r\n\r\n{\"a\":1}Content-Length: 2\r\nContent-Type: x\r\n\r\n[]"))
	f.Add(byte(1), []byte("Content-Length: 99999999999\r\n\r\n"))
	f.Add(byte(2), []byte("  \ncontent-length:3\n\n{}\n"))
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		const max = 256
		fr := newFrameReader(bytes.NewReader(data), max, Framing(mode%3))
		for i := 0; i < 1000; i++ {
			b, err := fr.next()
			if err != nil {
				break
			}
			if len(b) > max {
				t.Fatalf("frame of %d bytes over the cap", len(b))
			}
		}
		// a framed body reads back unchanged
		if len(data) <= max {
			fr := newFrameReader(bytes.NewReader(appendFrame(nil, FramingLSP, data)), max, FramingLSP)
			if b, err := fr.next(); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("lsp round trip: %q %v", b, err)
			}
			line := bytes.TrimSpace(data)
			if len(line) > 0 && !bytes.ContainsAny(line, "\r\n") {
				fr := newFrameReader(bytes.NewReader(appendFrame(nil, FramingNDJSON, line)), max, FramingNDJSON)
				if b, err := fr.next(); err != nil || !bytes.Equal(b, line) {
					t.Fatalf("ndjson round trip: %q %v", b, err)
				}
			}
		}
	})
}

// fuzzConn is a connection without a socket: requests run inline, replies land in out.
func fuzzConn() *conn {
	s := NewServer(newFake(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c := s.newConn(context.Background(), nil, TransportUnix)
	c.out = newOutQueue(1024)
	c.out.writing = true // the test takes the frames: no writer is started
	c.pool.inline = true
	return c
}

func drain(t *testing.T, c *conn) {
	for _, it := range c.out.take(nil) {
		if !json.Valid(it.body) {
			t.Fatalf("invalid reply %q", it.body)
		}
	}
}

// next waits for the first queued frame and removes it (a test conn has no writer: see fuzzConn).
func (q *outQueue) next() outItem {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items = q.items[1:]
			q.mu.Unlock()
			return it
		}
		q.mu.Unlock()
		runtime.Gosched()
	}
	panic("no frame queued within 10s")
}

func FuzzDispatch(f *testing.F) {
	names := Methods()
	sort.Strings(names)
	f.Add(uint8(0), []byte(`{"name":"w"}`), true)
	f.Add(uint8(3), []byte(`{"id":"panic"}`), true)
	f.Add(uint8(5), []byte(`{"lease_id":"L","epoch":1e99}`), false)
	f.Add(uint8(7), []byte(`[1,{"x":null}]`), true)
	f.Add(uint8(9), []byte(`{"filters":{"labels":"x"},"kinds":[1]}`), true)
	f.Fuzz(func(t *testing.T, idx uint8, params []byte, hello bool) {
		c := fuzzConn()
		defer c.kill()
		if hello {
			c.handleFrame([]byte(`{"jsonrpc":"2.0","id":0,"method":"hello","params":{"name":"w"}}`))
		}
		method := names[int(idx)%len(names)]
		frame := []byte(`{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":`)
		frame = append(append(frame, params...), '}')
		c.handleFrame(frame)
		c.handleFrame(params) // the params bytes as a whole message too
		drain(t, c)
	})
}
