package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
		if len(s) < 4096 { // the deep ones run in TestParseMessageMatchesStd; here they slow every mutation
			f.Add([]byte(s))
		}
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
		"Outcome string outcome,omitempty", "Error string error,omitempty", "Progress string progress,omitempty",
		"Reserved bool reserved,omitempty"}
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
			Attempt: math.MaxInt, CreatedAt: time.Unix(1700000000, 123456789), AckDeadline: time.Unix(0, 1).In(time.FixedZone("", -7*3600)),
			Deadline: ended, EndedAt: &ended, Outcome: "failure", Error: "boom\n\t\x01\x7f", Progress: "50%", Reserved: true},
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
		frame, err := encodeAssign(`"a7"`, &a)
		if err != nil {
			t.Fatalf("case %d: encodeAssign: %v", i, err)
		}
		if wantFrame := encodeRequest([]byte(`"a7"`), "assign", want); !bytes.Equal(frame, wantFrame) {
			t.Fatalf("case %d: encodeAssign\n got  %s\n want %s", i, frame, wantFrame)
		}
		// the prompt handed over already encoded goes out as it is, in the prompt's place
		pre := a
		pre.Prompt, pre.PromptJSON = "", mustJSON(a.Prompt)
		if pj, err := encodeAssign(`"a7"`, &pre); err != nil || !bytes.Equal(pj, frame) {
			t.Fatalf("case %d: with PromptJSON (%v)\n got  %s\n want %s", i, err, pj, frame)
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

// decodeParamsStd is decodeParams as it was before the fast path: encoding/json only.
func decodeParamsStd(params json.RawMessage, p any, req []reqField) error {
	if len(params) != 0 && string(params) != "null" {
		if params[0] != '{' {
			return newWireError(CodeInvalidParams, "invalid params: params must be an object")
		}
		if err := json.Unmarshal(params, p); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				return newWireError(CodeInvalidParams, fmt.Sprintf("invalid params: field %q must be %s, not %s", te.Field, jsonKind(te.Type), te.Value))
			}
			return newWireError(CodeInvalidParams, "invalid params: "+err.Error())
		}
	}
	v := reflect.ValueOf(p).Elem()
	for _, f := range req {
		if fv := v.FieldByIndex(f.index); fv.IsZero() {
			return missingField(f.name, fv.Kind())
		}
	}
	return nil
}

type (
	oddString string
	OddInner  struct {
		Deep   int8   `json:"deep"`
		Shadow string `json:"shadow"`
	}
	oddInner      struct{ Deep int8 }
	oddIneligible struct {
		Dash     string `json:"-,"` // a member named "-"
		oddInner        // unexported embedded struct
	}
	oddParams struct {
		Small   int8      `json:"small"`
		U16     uint16    `json:"u16"`
		U       uint      `json:"u,omitempty"`
		Flag    bool      `json:"flag"`
		Kind    oddString `json:"kind" rpc:"required"`
		NoTag   string
		Skipped string            `json:"-"`
		Quoted  int               `json:"quoted,string"`
		When    time.Time         `json:"when"`
		Ptr     *int              `json:"ptr"`
		List    []string          `json:"list"`
		Map     map[string]int    `json:"map"`
		Raw     json.RawMessage   `json:"raw"`
		Any     any               `json:"any"`
		Float   float64           `json:"float"`
		Named   OddInner          `json:"named"`
		hidden  string            //nolint:unused // unexported: encoding/json ignores it
		Fold    map[string]string `json:"fold_me"`
		OddInner
	}
	oddConflict struct { // two members named alike: encoding/json's dominance rules, not the fast path
		A string `json:"name"`
		B string `json:"NAME"`
	}
)

// paramsTargets are the params types decodeParams meets, and odd ones for the plan's corners.
var paramsTargets = []func() any{
	func() any { return new(HelloParams) }, func() any { return new(HeartbeatParams) },
	func() any { return new(CompleteParams) }, func() any { return new(FailParams) },
	func() any { return new(ReleaseParams) }, func() any { return new(ClaimParams) },
	func() any { return new(IssueListParams) }, func() any { return new(IssueCreateParams) },
	func() any { return new(IssueUpdateParams) }, func() any { return new(IssueDepParams) },
	func() any { return new(SubscribeParams) }, func() any { return new(MergeReportParams) },
	func() any { return new(PauseParams) }, func() any { return new(EmptyParams) },
	func() any { return new(oddParams) }, func() any { return new(oddConflict) }, func() any { return new(oddIneligible) },
}

func checkDecodeParams(t *testing.T, idx uint8, params []byte) {
	t.Helper()
	mk := paramsTargets[int(idx)%len(paramsTargets)]
	got, want := mk(), mk()
	req := requiredFields(reflect.TypeOf(got).Elem())
	keep := bytes.Clone(params)
	gerr := decodeParams(params, got, req)
	werr := decodeParamsStd(keep, want, req)
	if !bytes.Equal(params, keep) {
		t.Fatalf("decodeParams changed its input %q", keep)
	}
	if fmt.Sprint(gerr) != fmt.Sprint(werr) {
		t.Fatalf("%T %q: error %v, want %v", got, params, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%T %q:\n got  %+v\n want %+v", got, params, got, want)
	}
}

func paramsSeeds() []string {
	return []string{
		`{}`, ` { } `, `{"lease_id":"L-1","epoch":7}`, `{"lease_id":"L-1","epoch":7,"outcome":"success","summary":"s","idempotency_key":"k"}`,
		`{"lease_id":"L\n\u00e9\ud83d\ude00","epoch":-0}`, `{"lease_id":"` + "\xff" + `","epoch":1}`, `{"lease_id":"\ud800"}`,
		`{"epoch":1.0}`, `{"epoch":1e3}`, `{"epoch":9223372036854775807}`, `{"epoch":9223372036854775808}`, `{"epoch":-9223372036854775809}`,
		`{"epoch":"7"}`, `{"epoch":null,"lease_id":null}`, `{"epoch":true}`, `{"epoch":[1]}`, `{"lease_id":1}`, `{"lease_id":{}}`,
		`{"epoch":1,"epoch":2}`, `{"epoch":1,"epoch":null}`, `{"epoch":1,"EPOCH":2}`, `{"Epoch":3}`, `{"ep\u006fch":4}`, `{"epoch":5,"épоch":6}`,
		`{"lease_id":"a","unknown":{"x":[1,2,{"y":null}]},"more":"s"}`, `{"unknown":[1,}`, `{"epoch":1,}`, `{"epoch":1}x`, `{"epoch":01}`,
		`{"epoch":-}`, `{"epoch":1 "x":2}`, `{"name":"w","capacity":3,"filters":{"labels":["a"]},"protocol":1}`, `{"name":"w","filters":null}`,
		`{"name":"w","role":"refinery","capacity":-1}`, `{"capacity":2147483648}`, `{"kinds":["a","b"]}`, `{"kinds":"a"}`,
		`{"small":127}`, `{"small":128}`, `{"small":-129}`, `{"u16":65535}`, `{"u16":65536}`, `{"u16":-1}`, `{"u":-0}`, `{"flag":true}`,
		`{"flag":false,"flag":null}`, `{"flag":"true"}`, `{"flag":tru}`, `{"kind":"k"}`, `{"kind":""}`, `{"NoTag":"n"}`, `{"notag":"n"}`,
		`{"Skipped":"s"}`, `{"-":"d"}`, `{"quoted":"5"}`, `{"when":"2026-11-26T10:00:00Z"}`, `{"when":"bad"}`, `{"ptr":5}`, `{"list":["a"]}`,
		`{"map":{"a":1}}`, `{"raw":{"a":1}}`, `{"any":[1]}`, `{"float":1.5}`, `{"named":{"deep":1}}`, `{"deep":5,"shadow":"s"}`, `{"deep":300}`,
		`{"hidden":"h"}`, `{"fold_me":{"a":"b"}}`, `{"FOLD_ME":null}`, `{"name":"x","NAME":"y"}`, `{"id":"gt-1","title":"t","status":"open"}`,
		`{"title":"t","priority":1,"labels":["x"],"deps":[{"id":"a"}]}`, `{"reason":"r","paused":true}`,
		`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`, `{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	}
}

func TestDecodeParamsMatchesStd(t *testing.T) {
	fast := 0
	for _, s := range paramsSeeds() {
		for i, mk := range paramsTargets {
			checkDecodeParams(t, uint8(i), []byte(s))
			p := mk()
			v := reflect.ValueOf(p).Elem()
			if decodeParamsFast([]byte(s), v, planOf(v.Type())) {
				fast++
			}
		}
	}
	// the fast path is taken, and only by the types it can serve
	for _, c := range []struct {
		v    any
		fast bool
	}{{CompleteParams{}, true}, {HeartbeatParams{}, true}, {HelloParams{}, true}, {oddParams{}, true},
		{oddConflict{}, false}, {oddIneligible{}, false}} {
		if got := planOf(reflect.TypeOf(c.v)).fields != nil; got != c.fast {
			t.Errorf("%T: fast path %v, want %v", c.v, got, c.fast)
		}
	}
	if fast < 100 {
		t.Fatalf("the fast path decoded only %d seed/type pairs", fast)
	}
}

// FuzzDecodeParams holds decodeParams (fast path and fallback) to the encoding/json version, value
// and error, over the params types.
func FuzzDecodeParams(f *testing.F) {
	for i, s := range paramsSeeds() {
		if len(s) < 4096 { // the deep ones run in TestDecodeParamsMatchesStd
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, idx uint8, b []byte) {
		if len(b) == 0 || b[0] != '{' {
			b = append([]byte{'{'}, b...)
		}
		checkDecodeParams(t, idx, b)
	})
}
