package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
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

// assignParamsStd is the assign params as Push built them before appendLease: json.Marshal of the
// lease and of the prompt around the raw issue bytes.
func assignParamsStd(a AssignPayload) ([]byte, error) {
	lease, err := json.Marshal(a.Lease)
	if err != nil {
		return nil, err
	}
	params := append([]byte(`{"lease":`), lease...)
	params = append(params, `,"issue":`...)
	if len(a.Issue) == 0 {
		params = append(params, "null"...)
	} else {
		params = append(params, a.Issue...)
	}
	params = append(params, `,"prompt":`...)
	prompt, _ := json.Marshal(a.Prompt)
	params = append(params, prompt...)
	return append(params, '}'), nil
}

// TestLeaseFields pins coord.Lease's fields: appendLease writes each by hand, so a new field must
// be added there too.
func TestLeaseFields(t *testing.T) {
	var got []string
	lt := reflect.TypeFor[coord.Lease]()
	for i := range lt.NumField() {
		got = append(got, lt.Field(i).Name+" "+lt.Field(i).Type.String()+" "+lt.Field(i).Tag.Get("json"))
	}
	want := []string{"ID string id", "IssueID string issue_id", "Worker string worker", "Epoch int64 epoch",
		"State coord.LeaseState state", "Attempt int attempt", "CreatedAt time.Time created_at",
		"AckDeadline time.Time ack_deadline", "Deadline time.Time deadline", "EndedAt *time.Time ended_at,omitempty",
		"Outcome string outcome,omitempty", "Error string error,omitempty", "Progress string progress,omitempty"}
	if !slices.Equal(got, want) {
		t.Fatalf("coord.Lease fields changed (update appendLease, then this list):\n%q", got)
	}
	if _, ok := reflect.TypeFor[coord.LeaseState]().MethodByName("MarshalJSON"); ok {
		t.Fatal("coord.LeaseState has its own MarshalJSON: appendLease writes it as a plain string")
	}
}

func TestAssignParamsMatchMarshal(t *testing.T) {
	ended := time.Date(2026, 11, 26, 9, 1, 2, 300, time.FixedZone("", 5*3600+30*60))
	zero := time.Time{}
	cases := []AssignPayload{
		{},
		{Lease: benchLease, Issue: benchIssue, Prompt: "Make the scheduler fair across rigs"},
		{Lease: coord.Lease{ID: "L-9", IssueID: `gt-<&>"\`, Worker: "wörker\u2028\u2029", Epoch: -3, State: coord.LeaseEnded,
			Attempt: 1 << 40, CreatedAt: time.Unix(1700000000, 123456789), AckDeadline: time.Unix(0, 1).In(time.FixedZone("", -7*3600)),
			Deadline: ended, EndedAt: &ended, Outcome: "failure", Error: "boom\n\t\x01\x7f", Progress: "50%"},
			Issue: json.RawMessage(`{"id":"gt-9"}`), Prompt: "title\n\nbody with \"quotes\" and <html> & \xff\xfe bytes"},
		{Lease: coord.Lease{ID: "L-1", EndedAt: &zero, Progress: "p"}},
		{Lease: coord.Lease{ID: "L-2", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}, // json.Marshal refuses it
		{Lease: coord.Lease{ID: "L-3", Deadline: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))}},
		{Lease: coord.Lease{ID: "L-4", AckDeadline: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for i, a := range cases {
		want, werr := assignParamsStd(a)
		got, err := assignParams(&a)
		if (err != nil) != (werr != nil) {
			t.Fatalf("case %d: err %v, json.Marshal's %v", i, err, werr)
		}
		if err != nil {
			if coord.ErrorCode(err) != coord.EInternal || !strings.Contains(err.Error(), werr.Error()) {
				t.Fatalf("case %d: err %v, want EInternal with %v", i, err, werr)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got  %s\n want %s", i, got, want)
		}
	}
}

// FuzzAppendQuoted holds appendQuoted to json.Marshal of a string, and appendLease to json.Marshal
// of a lease made of the fuzzed strings and numbers.
func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "<a href='x'>&amp;</a>", "\x00\x01\x08\x0c\x1f\x7f", "\n\r\t",
		"\u2027\u2028\u2029\u202a", "\xff", "\xe2\x80", "ünïcødé 日本", "\xed\xa0\x80", "\U0001F600"} {
		f.Add(s, int64(len(s)), int64(-len(s)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64, ns int64) {
		want, _ := json.Marshal(s)
		if got := appendQuoted([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: %s, want %s", s, got[1:], want)
		}
		at := time.Unix(n%(1<<35), ns).In(time.FixedZone("", int(ns%(23*3600))))
		l := coord.Lease{ID: s, IssueID: s, Worker: s, Epoch: n, State: coord.LeaseState(s), Attempt: int(ns),
			CreatedAt: at, AckDeadline: at.UTC(), Deadline: at, Outcome: s, Error: s, Progress: s}
		if n%2 == 0 {
			l.EndedAt = &at
		}
		want, werr := json.Marshal(l)
		got, ok := appendLease(nil, &l)
		if ok != (werr == nil) || ok && string(got) != string(want) {
			t.Fatalf("lease %+v:\n got  %s (%v)\n want %s (%v)", l, got, ok, want, werr)
		}
	})
}
