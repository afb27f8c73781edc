package rpc

import (
	"bytes"
	"encoding/json"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// clientStream is the client's jsonrpc2.ObjectStream: the same framing and size cap as the server.
// Server → client requests and notifications are recognised and answered here, on the reader
// goroutine, without the library's JSON; only responses to our calls (and frames it cannot
// classify) reach jsonrpc2. Outgoing requests and responses are encoded without reflection.
type clientStream struct {
	c    *Client
	nc   net.Conn
	fr   *frameReader
	mode Framing
	wt   time.Duration

	wmu  sync.Mutex
	body []byte // message being written (under wmu)
	wbuf []byte // framed message (under wmu)

	// The message jsonrpc2 is about to write, seen by its OnSend hook; set and taken under the
	// library's send lock, which covers both the hook and the WriteObject that follows it.
	sendReq  *jsonrpc2.Request
	sendResp *jsonrpc2.Response
}

// ReadObject implements jsonrpc2.ObjectStream: it handles pushes itself and returns the next
// frame meant for the library.
func (s *clientStream) ReadObject(v any) error {
	for {
		frame, err := s.fr.next()
		if err != nil {
			return err
		}
		if m, ok := parsePush(frame); ok {
			s.c.handlePush(m)
			continue
		}
		if s.c.takeReply(frame) {
			continue
		}
		if u, ok := v.(json.Unmarshaler); ok {
			// jsonrpc2's envelope decodes the frame with encoding/json itself, which rejects invalid
			// JSON the same way: json.Unmarshal's own validation pass over the frame is skipped.
			return u.UnmarshalJSON(frame)
		}
		return json.Unmarshal(frame, v)
	}
}

// onSend is the jsonrpc2.OnSend hook: it records the message the next WriteObject carries (the
// library hands WriteObject its unexported envelope, whose fields cannot be read).
func (s *clientStream) onSend(req *jsonrpc2.Request, resp *jsonrpc2.Response) {
	s.sendReq, s.sendResp = req, resp
}

// isLibraryEnvelope reports whether obj is jsonrpc2's own message envelope.
func isLibraryEnvelope(obj any) bool {
	t := reflect.TypeOf(obj)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Name() == "anyMessage" &&
		t.Elem().PkgPath() == "github.com/sourcegraph/jsonrpc2"
}

// WriteObject implements jsonrpc2.ObjectStream.
func (s *clientStream) WriteObject(obj any) error {
	req, resp := s.sendReq, s.sendResp
	s.sendReq, s.sendResp = nil, nil
	switch m := obj.(type) {
	case *jsonrpc2.Request:
		req, resp = m, nil
	case *jsonrpc2.Response:
		req, resp = nil, m
	default:
		if !isLibraryEnvelope(obj) {
			req, resp = nil, nil
		}
	}
	switch {
	case req != nil && canAppendRequest(req):
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.body = appendRequest(s.body[:0], req)
		return s.flushLocked(s.body)
	case resp != nil && canAppendResponse(resp):
		var result []byte
		if resp.Result != nil {
			result = *resp.Result
		}
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.body = appendResponse(s.body[:0], resp.ID, result, resp.Error)
		return s.flushLocked(s.body)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked(b)
}

// request writes one of the client's own calls (clientreply.go); params are encoded already (nil: none).
func (s *clientStream) request(id uint64, method string, params []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := append(s.body[:0], `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"jsonrpc":"2.0","method":`...)
	b = appendQuoted(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	s.body = append(b, '}')
	return s.flushLocked(s.body)
}

// reply writes a success response around pre-encoded result bytes.
func (s *clientStream) reply(id jsonrpc2.ID, result []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.body = appendResponse(s.body[:0], id, result, nil)
	return s.flushLocked(s.body)
}

// replyError writes an error response.
func (s *clientStream) replyError(id jsonrpc2.ID, code int64, message string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.body = appendResponse(s.body[:0], id, nil, &jsonrpc2.Error{Code: code, Message: message})
	return s.flushLocked(s.body)
}

// flushLocked frames and writes one message; s.wmu is held.
func (s *clientStream) flushLocked(body []byte) error {
	s.wbuf = appendFrame(s.wbuf[:0], s.mode, body)
	s.nc.SetWriteDeadline(time.Now().Add(s.wt))
	_, err := s.nc.Write(s.wbuf)
	return err
}

// Close implements jsonrpc2.ObjectStream.
func (s *clientStream) Close() error { return s.nc.Close() }

// pushMsg is a server → client request (or notification) split out of its frame; params is
// still encoded (nil when absent).
type pushMsg struct {
	method string
	id     jsonrpc2.ID
	notif  bool
	params json.RawMessage
}

// handlePush serves one server → client method on the reader goroutine, as jsonrpc2's Handle did.
func (c *Client) handlePush(m pushMsg) {
	params := m.params
	if params == nil {
		params = json.RawMessage("null")
	}
	switch m.method {
	case "assign":
		if m.notif {
			return
		}
		c.mu.RLock()
		f := c.onAssign
		c.mu.RUnlock()
		a, err := decodeAssignment(params)
		if err != nil {
			c.st.replyError(m.id, CodeInvalidParams, "invalid params: "+err.Error())
			return
		}
		if f == nil {
			c.st.reply(m.id, appendAssignReply(nil, false, "no assign handler"))
			return
		}
		c.spawn(func() { // nothing runs once Close has begun: the connection is going, no reply can leave
			ok, reason := f(c.ctx, a)
			var rb [64]byte
			c.st.reply(m.id, appendAssignReply(rb[:0], ok, reason))
		})
	case "cancel":
		c.mu.RLock()
		f := c.onCancel
		c.mu.RUnlock()
		var p CancelParams
		if json.Unmarshal(params, &p) == nil && f != nil {
			f(p)
		}
	case "drain":
		c.mu.RLock()
		f := c.onDrain
		c.mu.RUnlock()
		var p DrainNotice
		if json.Unmarshal(params, &p) == nil && f != nil {
			f(p)
		}
	case "event":
		c.mu.RLock()
		f := c.onEvent
		c.mu.RUnlock()
		var ev coord.Event
		if json.Unmarshal(params, &ev) == nil && f != nil {
			f(ev)
		}
	case "ping": // the server asks whether this process is alive (a new hello under its name)
		if !m.notif {
			c.st.reply(m.id, []byte("{}"))
		}
	case "merge":
		c.handleMerge(m, params)
	case "shutdown":
		c.mu.RLock()
		f := c.onShutdown
		c.mu.RUnlock()
		var p ShutdownParams
		if json.Unmarshal(params, &p) == nil && f != nil {
			f(p.Reason)
		}
	default:
		if !m.notif {
			c.st.replyError(m.id, CodeMethodNotFound, "method not found: "+m.method)
		}
	}
}

// appendAssignReply appends an AssignReply encoded as json.Marshal would.
func appendAssignReply(b []byte, accepted bool, reason string) []byte {
	if accepted {
		b = append(b, `{"accepted":true`...)
	} else {
		b = append(b, `{"accepted":false`...)
	}
	if reason != "" {
		b = append(b, `,"reason":`...)
		b = appendQuoted(b, reason)
	}
	return append(b, '}')
}

// appendAcceptedResult appends a MergePushReply encoded as json.Marshal would.
func appendAcceptedResult(b []byte, accepted bool) []byte {
	return appendAssignReply(b, accepted, "")
}

// canAppendRequest reports whether appendRequest encodes req as jsonrpc2 would (no meta or extra
// fields, params absent or non-empty).
func canAppendRequest(req *jsonrpc2.Request) bool {
	return req.Meta == nil && len(req.ExtraFields) == 0 && (req.Params == nil || len(*req.Params) > 0)
}

// appendRequest appends req with the members jsonrpc2's Request.MarshalJSON writes, in its (sorted)
// order. Params are the library's already encoded bytes.
func appendRequest(b []byte, req *jsonrpc2.Request) []byte {
	b = append(b, '{')
	if !req.Notif {
		b = append(b, `"id":`...)
		b = appendID(b, req.ID)
		b = append(b, ',')
	}
	b = append(b, `"jsonrpc":"2.0","method":`...)
	b = appendQuoted(b, req.Method)
	if req.Params != nil {
		b = append(b, `,"params":`...)
		b = append(b, *req.Params...)
	}
	return append(b, '}')
}

// canAppendResponse reports whether appendResponse encodes resp as jsonrpc2 would (no meta, exactly
// one of a non-empty result and an error).
func canAppendResponse(resp *jsonrpc2.Response) bool {
	if resp.Meta != nil {
		return false
	}
	if resp.Error != nil {
		return resp.Result == nil && (resp.Error.Data == nil || len(*resp.Error.Data) > 0)
	}
	return resp.Result != nil && len(*resp.Result) > 0
}

// appendResponse appends a response as jsonrpc2's Response.MarshalJSON writes it: the error when
// e is non-nil, else the pre-encoded result.
func appendResponse(b []byte, id jsonrpc2.ID, result []byte, e *jsonrpc2.Error) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, id)
	if e != nil {
		b = append(b, `,"error":{"code":`...)
		b = strconv.AppendInt(b, e.Code, 10)
		b = append(b, `,"message":`...)
		b = appendQuoted(b, e.Message)
		if e.Data != nil {
			b = append(b, `,"data":`...)
			b = append(b, *e.Data...)
		}
		b = append(b, '}')
	} else {
		b = append(b, `,"result":`...)
		b = append(b, result...)
	}
	return append(b, `,"jsonrpc":"2.0"}`...)
}

// appendID appends a request id as jsonrpc2's ID.MarshalJSON encodes it.
func appendID(b []byte, id jsonrpc2.ID) []byte {
	if id.IsString {
		return appendQuoted(b, id.Str)
	}
	return strconv.AppendUint(b, id.Num, 10)
}

// parsePush recognises a request or notification in one frame without decoding its params, with
// jsonrpc2's reading of it: a null or absent id is a notification, a numeric id must fit an int64.
// It returns false for responses, batches, malformed frames and anything else it cannot classify:
// those go to jsonrpc2, which treats them as it always did.
func parsePush(frame []byte) (pushMsg, bool) {
	var m pushMsg
	var w wireMessage
	if scanEnvelope(frame, &w) != envObject || w.Result != nil || w.Error != nil {
		return m, false // not an object, a folded key, or a response (or both kinds at once): the library's
	}
	method, id := w.Method, w.ID
	m.params = w.Params
	if len(method) < 2 || method[0] != '"' {
		return m, false
	}
	var ok bool
	if m.method, ok = decodeString(method); !ok {
		return m, false
	}
	switch {
	case id == nil || string(id) == "null":
		m.notif = true
	case id[0] == '"':
		m.id.IsString = true
		if m.id.Str, ok = decodeString(id); !ok {
			return m, false
		}
	default:
		n, err := strconv.ParseInt(string(id), 10, 64)
		if err != nil {
			return m, false // the library rejects it (and closes the connection)
		}
		m.id.Num = uint64(n)
	}
	return m, true
}

// decodeString decodes a checked JSON string as encoding/json does (invalid UTF-8 becomes U+FFFD).
func decodeString(raw []byte) (string, bool) {
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		if utf8.Valid(in) {
			return string(in), true
		}
	} else if s, ok := unescapeShort(in); ok {
		return s, true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// unescapeShort decodes the inside of a checked JSON string whose escapes are all two-character
// ones (\n, \", ...) and whose text is valid UTF-8 — a prompt's line breaks and quotes; false for a
// \u escape or invalid UTF-8, which encoding/json's own rules then decode.
func unescapeShort(in []byte) (string, bool) {
	if !utf8.Valid(in) {
		return "", false
	}
	var out strings.Builder
	out.Grow(len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			out.WriteByte(c)
			continue
		}
		i++
		switch c = in[i]; c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return "", false
		}
		out.WriteByte(c)
	}
	return out.String(), true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// maxDepth bounds the nesting skipValue follows (encoding/json's own limit).
const maxDepth = 10000

// skipValue returns the index just past the JSON value at b[i], checking its syntax.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{', c == '[':
		if depth >= maxDepth {
			return i, false
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, true
		}
		for {
			var ok bool
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, false
				}
				if i, ok = skipString(b, i); !ok {
					return i, false
				}
				i = skipSpace(b, i)
				if i >= len(b) || b[i] != ':' {
					return i, false
				}
				i = skipSpace(b, i+1)
			}
			if i, ok = skipValue(b, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == closer {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = skipSpace(b, i+1)
		}
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-', c >= '0' && c <= '9':
		return skipNumber(b, i)
	}
	return i, false
}

func skipLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// skipString returns the index just past the string starting at b[i] (a '"').
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// skipNumber returns the index just past the number starting at b[i], per the JSON grammar.
func skipNumber(b []byte, i int) (int, bool) {
	digits := func(i int) (int, bool) {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i, i > s
	}
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	var ok bool
	if b[i] == '0' {
		i++
	} else if i, ok = digits(i); !ok {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
