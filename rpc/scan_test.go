package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// parseMessageStd is parseMessage as it was before the scanner: encoding/json into a struct of
// RawMessages. It is the reference FuzzParseMessage holds parseMessage to.
func parseMessageStd(raw []byte) (*message, *wireError) {
	m := &message{id: nullID}
	var w wireMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || len(bytes.TrimSpace(raw)) == 0 {
			return m, newWireError(CodeParseError, "parse error: invalid JSON")
		}
		return m, newWireError(CodeInvalidRequest, "invalid request: not a JSON-RPC object")
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
	if len(w.Method) == 0 || w.Method[0] != '"' || json.Unmarshal(w.Method, &m.method) != nil {
		return m, newWireError(CodeInvalidRequest, `invalid request: "method" must be a string`)
	}
	if w.Result != nil || w.Error != nil {
		return m, newWireError(CodeInvalidRequest, "invalid request: both method and result/error")
	}
	m.id = w.ID // nil for a notification
	m.params = w.Params
	return m, nil
}

// sameRaw compares two RawMessages, nil-ness included (absent and present members differ).
func sameRaw(a, b json.RawMessage) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// checkParseMessage fails t when parseMessage and parseMessageStd disagree on raw in any way.
func checkParseMessage(t *testing.T, raw []byte) {
	t.Helper()
	keep := bytes.Clone(raw)
	got, gerr := parseMessage(raw)
	want, werr := parseMessageStd(keep)
	if !bytes.Equal(raw, keep) {
		t.Fatalf("parseMessage changed its input %q", keep)
	}
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("%q: error %v, want %v", raw, gerr, werr)
	case gerr != nil && (gerr.Code != werr.Code || gerr.Message != werr.Message):
		t.Fatalf("%q: error %d %q, want %d %q", raw, gerr.Code, gerr.Message, werr.Code, werr.Message)
	}
	if !sameRaw(got.id, want.id) || got.method != want.method || !sameRaw(got.params, want.params) ||
		got.isResponse != want.isResponse || !sameRaw(got.result, want.result) || !sameRaw(got.errObj, want.errObj) {
		t.Fatalf("%q:\n got  id=%q method=%q params=%q resp=%v result=%q error=%q\n want id=%q method=%q params=%q resp=%v result=%q error=%q",
			raw, got.id, got.method, got.params, got.isResponse, got.result, got.errObj,
			want.id, want.method, want.params, want.isResponse, want.result, want.errObj)
	}
}

// parseSeeds cover every branch of parseMessage and of the scanner.
func parseSeeds() []string {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	return []string{
		// not JSON
		``, ` `, "\t\r\n", `{`, `}`, `[`, `x`, `{"a":}`, `{"a" 1}`, `{,}`, `{"a":1,}`, `{"a":1}x`, `{} {}`, `{}}`,
		`{"a":1 "b":2}`, `{1:2}`, `{"a"}`, `{"a":1`, `{"a":"\x"}`, `{"a":"` + "\x01" + `"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`,
		`{"a":"unterminated}`, `{"a":-}`, `{"a":01}`, `{"a":1.}`, `{"a":1e}`, `{"a":.5}`, `{"a":+1}`, `{"a":tru}`,
		`{"a":nul}`, `{"a":nulll}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":{"b"}}`, "\ufeff{}", `{"a":1}` + "\x00",
		`nul`, `1 2`, `"a" "b"`,
		// JSON that is not an object
		`null`, ` null `, `1`, `-0.5e+3`, `"s"`, `true`, `false`, `[1]`, `[]`, `[{"jsonrpc":"2.0","method":"m"}]`,
		// objects
		`{}`, ` { } `, `{"x":1}`, `{"params":{}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"accepted":true}}`, `{"id":"a1","result":null}`, `{"id":1,"error":{"code":1}}`,
		`{"id":null,"error":null}`, `{"result":1}`, `{"id":true,"result":1}`, `{"id":[1],"error":{}}`, `{"id":{},"result":0}`,
		`{"jsonrpc":"2.0","id":1,"method":"heartbeat","params":{"lease_id":"L-1"}}`,
		`{"jsonrpc":"2.0","method":"notify"}`, `{"jsonrpc":"2.0","id":null,"method":"m"}`,
		`{"jsonrpc":"2.0","id":"x\"y","method":"m"}`, `{"jsonrpc":"2.0","id":-1.5e3,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1.0,"method":"m"}`, `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"m"}`,
		`{"jsonrpc":"2.0","id":true,"method":"m"}`, `{"jsonrpc":"2.0","id":{"a":1},"method":"m"}`, `{"jsonrpc":"2.0","id":[],"method":"m"}`,
		`{"id":1,"method":"m"}`, `{"jsonrpc":"1.0","id":1,"method":"m"}`, `{"jsonrpc":2.0,"id":1,"method":"m"}`,
		`{"jsonrpc":"2\u002e0","id":1,"method":"m"}`, `{"jsonrpc":null,"id":1,"method":"m"}`, `{"jsonrpc":" 2.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":5}`, `{"jsonrpc":"2.0","id":1,"method":null}`, `{"jsonrpc":"2.0","id":1,"method":["m"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"he\u006clo"}`, `{"jsonrpc":"2.0","id":1,"method":"\ud800"}`,
		`{"jsonrpc":"2.0","id":1,"method":"` + "\xff\xfe" + `"}`, `{"jsonrpc":"2.0","id":1,"method":"ünï"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","result":1}`, `{"jsonrpc":"2.0","id":1,"method":"m","error":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":null}`, `{"jsonrpc":"2.0","id":1,"method":"m","params":[1,2]}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":"s"}`,
		// keys encoding/json matches case-insensitively, escaped, non-ASCII, repeated
		`{"JSONRPC":"2.0","ID":1,"Method":"m","PARAMS":{}}`, `{"jsonrpc":"2.0","\u0069d":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","paramſ":{"x":1}}`, `{"jſonrpc":"2.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","\u212a":1}`, `{"jsonrpc":"2.0","id":1,"method":"m","ünknown":1}`,
		`{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}`, `{"jsonrpc":"2.0","id":1,"ID":"two","method":"m"}`,
		`{"jsonrpc":"2.0","ID":1,"id":2,"method":"m"}`, `{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`,
		`{"jsonrpc":"2.0","id":1,"id":null,"method":"m"}`, `{"jsonrpc":"2.0","id":1,"method":"m","Result":1}`,
		`{"id":1,"resulT":5}`, `{"id":1,"ErroR":{}}`, `{"jsonrpc":"2.0","id":1,"method":"m","idx":1,"i":2,"methods":3}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","` + "\xff" + `":1}`, `{"jsonrpc":"2.0","id":1,"method":"m","par\"ams":1}`,
		// nesting at encoding/json's limit (10000) and one past it
		`{"jsonrpc":"2.0","id":1,"method":"m","params":` + deep(9999) + `}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","params":` + deep(10000) + `}`,
		deep(10000), deep(10001),
	}
}

func TestParseMessageMatchesStd(t *testing.T) {
	for _, s := range parseSeeds() {
		checkParseMessage(t, []byte(s))
	}
}

// FuzzParseMessage holds parseMessage to the encoding/json version: the input as a frame, as the
// params of a request, and as the members of an object.
func FuzzParseMessage(f *testing.F) {
	for _, s := range parseSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkParseMessage(t, b)
		checkParseMessage(t, append([]byte(`{"jsonrpc":"2.0","id":7,"method":"m","params":`), append(b, '}')...))
		checkParseMessage(t, append(append([]byte(`{`), b...), '}'))
	})
}
