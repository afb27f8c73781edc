package rpc

import (
	"encoding/json"
	"strconv"
	"time"
)

var nullID = json.RawMessage("null")

// message is one checked JSON-RPC object: a request, a notification (id nil) or a response.
type message struct {
	id         json.RawMessage // exact bytes to echo; nil for a notification
	method     string
	params     json.RawMessage
	isResponse bool
	result     json.RawMessage
	errObj     json.RawMessage
	// set while a request is served: when it started, and where its reply goes (a method answered
	// later by an AsyncBackend sends it from there)
	start time.Time
	reply func([]byte)
	// onReader: served on the connection's reader (readerMethods); toPool: it needs the pool instead
	onReader, toPool bool
}

type wireMessage struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// parseMessage decodes and checks one message object in a single pass. On a protocol error it
// returns the error and a message whose id is the id to echo (null when it could not be determined).
// The message's id, params, result and error are slices of raw: the caller hands over a frame it
// does not reuse (frameReader.next returns a fresh one).
//
// The envelope is found by scanEnvelope, which checks the whole frame as encoding/json would; a key
// that encoding/json could match to a member only case-insensitively (or through escapes) sends the
// frame to encoding/json itself. FuzzParseMessage holds it to the encoding/json version.
func parseMessage(raw []byte) (*message, *wireError) {
	m := &message{id: nullID}
	var w wireMessage
	switch scanEnvelope(raw, &w) {
	case envSyntax:
		return m, newWireError(CodeParseError, "parse error: invalid JSON")
	case envNotObject:
		return m, newWireError(CodeInvalidRequest, "invalid request: not a JSON-RPC object")
	case envFolded:
		// A present key with value null arrives as "null" in a RawMessage; an absent key stays nil.
		// sw is encoding/json's own target, so that w stays on the stack; raw is a valid object, so
		// Unmarshal cannot fail.
		var sw wireMessage
		if err := json.Unmarshal(raw, &sw); err != nil {
			return m, newWireError(CodeParseError, "parse error: invalid JSON")
		}
		w = sw
	}
	idOK := w.ID == nil || validID(w.ID)
	if w.ID != nil && idOK {
		m.id = w.ID
	}
	if w.Method == nil {
		if (w.Result != nil || w.Error != nil) && w.ID != nil && idOK {
			m.isResponse, m.result, m.errObj = true, w.Result, w.Error
			return m, nil
		}
		return m, newWireError(CodeInvalidRequest, "invalid request: no method")
	}
	if !idOK {
		return m, newWireError(CodeInvalidRequest, "invalid request: id must be a string, a number or null")
	}
	if !isVersion2(w.JSONRPC) {
		return m, newWireError(CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
	}
	if len(w.Method) == 0 || w.Method[0] != '"' {
		return m, newWireError(CodeInvalidRequest, `invalid request: "method" must be a string`)
	}
	var ok bool
	if m.method, ok = decodeString(w.Method); !ok {
		return m, newWireError(CodeInvalidRequest, `invalid request: "method" must be a string`)
	}
	if w.Result != nil || w.Error != nil {
		return m, newWireError(CodeInvalidRequest, "invalid request: both method and result/error")
	}
	m.id = w.ID // nil for a notification
	m.params = w.Params
	return m, nil
}

func isVersion2(raw json.RawMessage) bool {
	if string(raw) == `"2.0"` {
		return true
	}
	var s string
	return len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && s == "2.0"
}

// validID accepts a string, a number or null (the raw bytes are already valid JSON).
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	switch c := raw[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	case c == 'n':
		return string(raw) == "null"
	}
	return false
}

// encodeResult builds a success response around pre-encoded result bytes.
func encodeResult(id, result []byte) []byte {
	b := make([]byte, 0, 34+len(id)+len(result))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	return append(b, '}')
}

// encodeError builds an error response.
func encodeError(id []byte, e *wireError) []byte {
	eb, err := json.Marshal(e)
	if err != nil {
		eb = []byte(`{"code":-32603,"message":"internal error"}`)
	}
	b := make([]byte, 0, 34+len(id)+len(eb))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, id...)
	b = append(b, `,"error":`...)
	b = append(b, eb...)
	return append(b, '}')
}

// encodeRequest builds a request (id non-nil) or notification around pre-encoded params.
func encodeRequest(id []byte, method string, params []byte) []byte {
	b := make([]byte, 0, 48+len(id)+len(method)+len(params))
	b = append(b, `{"jsonrpc":"2.0",`...)
	if id != nil {
		b = append(b, `"id":`...)
		b = append(b, id...)
		b = append(b, ',')
	}
	b = append(b, `"method":`...)
	b = strconv.AppendQuote(b, method)
	if params != nil {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}')
}

// encodeNotification builds a notification.
func encodeNotification(method string, params []byte) []byte {
	return encodeRequest(nil, method, params)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("rpc: encode " + err.Error())
	}
	return b
}
