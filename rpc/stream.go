package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gastown/gtc/coord"
)

// readLoop is a stream connection's reader — its only goroutine while it is idle — and the whole of
// its read side: every frame is checked and served here (requests, single or batch, are answered by
// the dispatcher; replies to our assign pushes are matched; other responses, such as a refinery's
// reply to a merge push, are dropped). When the stream fails or is closed (by the peer, a failed
// write, the hello timer, the idle timeout, Disconnect or Shutdown) it stops handing anything to the
// backend and cleans the connection up (finish).
func (c *conn) readLoop() {
	for c.serveNext() {
	}
	c.finish()
}

// serveNext reads and serves one frame; false when the connection is done.
func (c *conn) serveNext() bool {
	select {
	case <-c.done: // frames already buffered are not served once the connection is closed
		return false
	default:
	}
	c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	frame, err := c.fr.next()
	if c.fr.mode != FramingAuto && Framing(c.mode.Load()) == FramingAuto {
		c.mode.Store(int32(c.fr.mode))
	}
	switch {
	case errors.Is(err, errTooLarge):
		c.fatal(encodeError(nullID, toWireError(coord.Errorf(coord.ETooLarge,
			"message over the size cap of %d bytes; connection closed", c.srv.opts.MaxMessageBytes))))
		return false
	case errors.Is(err, errBadHeader):
		c.fatal(encodeError(nullID, newWireError(CodeParseError, "parse error: bad Content-Length header; connection closed")))
		return false
	case err != nil:
		return false
	}
	c.srv.opts.Observer.Bytes("in", len(frame))
	c.handleFrame(frame)
	return true
}

// fatal queues a last error reply and returns once the writer has sent it and closed the
// connection (bounded by the write timeout).
func (c *conn) fatal(body []byte) {
	if !c.enqueue(outItem{body: body, closeAfter: true}, false) {
		c.kill()
	}
	<-c.done
}

// handleFrame answers one message (object or batch) without waiting on the backend.
func (c *conn) handleFrame(frame []byte) {
	frame = bytes.TrimSpace(frame)
	if len(frame) > 0 && frame[0] == '[' {
		c.handleBatch(frame)
		return
	}
	m, werr := parseMessage(frame)
	switch {
	case werr != nil:
		c.srv.opts.Observer.RPC("", werr.Code, 0)
		c.enqueue(outItem{body: encodeError(m.id, werr)}, true)
	case m.isResponse:
		c.handleAck(m) // any other response is dropped
	default:
		c.serve(m, func(body []byte) {
			if body != nil {
				c.enqueue(outItem{body: body}, true)
			}
		})
	}
}

// serve runs one request on the pool — a readerMethods request on the reader, unless it needs its
// synchronous form — and hands its reply (nil for a notification) to reply.
func (c *conn) serve(m *message, reply func([]byte)) {
	m.reply = reply
	if readerMethods[m.method] && c.authed.Load() {
		select {
		case <-c.done:
			// closed while the reader went through a batch: nothing more reaches the backend (the pool
			// drops its queued requests the same way); the reply goes nowhere
			reply(c.answer(m, nil, coord.Errorf(coord.EUnavailable, "connection closed")))
			return
		default:
		}
		m.onReader = true
		body, later := c.call(m)
		if !later {
			reply(body)
			return
		}
		if !m.toPool {
			return // the backend's callback replies
		}
		m.onReader, m.toPool = false, false
	}
	ok := c.pool.submit(func() {
		if body, later := c.call(m); !later {
			reply(body)
		}
	})
	if !ok {
		c.srv.opts.Observer.RPC(m.method, ErrorCode(coord.EBusy), 0)
		if m.id != nil {
			reply(encodeError(m.id, toWireError(coord.Errorf(coord.EBusy, "too many requests in flight on this connection; retry later"))))
		} else {
			reply(nil)
		}
	}
}

// handleBatch answers a batch with one array reply (no entries for notifications, no reply at all
// when nothing needs one).
func (c *conn) handleBatch(frame []byte) {
	// Refused whole past MaxBatch, before anything is decoded: each element of a batch of tiny invalid
	// values got its own ~100-byte error entry, so one 1 MiB message of `0,` (no hello needed) made a
	// ~60 MiB reply, and its decoding ~100 MiB more.
	if n := batchLen(frame, c.srv.opts.MaxBatch); n > c.srv.opts.MaxBatch && json.Valid(frame) {
		c.enqueue(outItem{body: encodeError(nullID, newWireError(CodeInvalidRequest,
			fmt.Sprintf("invalid request: a batch may hold at most %d requests", c.srv.opts.MaxBatch)))}, true)
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(frame, &elems); err != nil {
		var se *json.SyntaxError
		code, msg := CodeInvalidRequest, "invalid request: batch is not an array of values"
		if errors.As(err, &se) {
			code, msg = CodeParseError, "parse error: "+err.Error()
		}
		c.enqueue(outItem{body: encodeError(nullID, newWireError(code, msg))}, true)
		return
	}
	if len(elems) == 0 {
		c.enqueue(outItem{body: encodeError(nullID, newWireError(CodeInvalidRequest, "invalid request: empty batch"))}, true)
		return
	}
	b := &batch{c: c, left: 1}
	for _, e := range elems {
		m, werr := parseMessage(e)
		switch {
		case werr != nil:
			b.add(encodeError(m.id, werr))
		case m.isResponse:
			c.handleAck(m) // any other response is dropped
		default:
			b.mu.Lock()
			b.left++
			b.mu.Unlock()
			c.serve(m, b.done)
		}
	}
	b.done(nil)
}

// batchLen counts the top-level elements of a batch (an array), stopping once past max; it does not
// validate (a malformed frame is caught by the decoding that follows).
func batchLen(frame []byte, max int) int {
	commas, depth, inStr, empty := 0, 0, false, true
	for i := 0; i < len(frame); i++ {
		ch := frame[i]
		if inStr {
			switch ch {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch ch {
		case ' ', '\t', '\r', '\n':
			continue
		case '"':
			inStr = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				if commas++; commas >= max {
					return commas + 1
				}
			}
		}
		if !(depth == 1 && ch == '[') && !(depth == 0 && ch == ']') {
			empty = false // anything but the outer brackets
		}
	}
	if empty {
		return 0
	}
	return commas + 1
}

// batch collects the replies of one batch.
type batch struct {
	c       *conn
	mu      sync.Mutex
	left    int
	entries [][]byte
}

func (b *batch) add(body []byte) {
	b.mu.Lock()
	b.entries = append(b.entries, body)
	b.mu.Unlock()
}

// done records one finished element (body nil for a notification) and sends the array after the last.
func (b *batch) done(body []byte) {
	b.mu.Lock()
	if body != nil {
		b.entries = append(b.entries, body)
	}
	b.left--
	last := b.left == 0
	entries := b.entries
	b.mu.Unlock()
	if !last || len(entries) == 0 {
		return
	}
	out := make([]byte, 0, 64*len(entries))
	out = append(out, '[')
	for i, e := range entries {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	out = append(out, ']')
	b.c.enqueue(outItem{body: out}, true)
}
