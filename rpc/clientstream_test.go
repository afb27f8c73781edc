package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// fakeServer is the server end of one client connection over a Unix socket: the test writes and
// reads raw frames.
type fakeServer struct {
	*rawPeer
	c *Client
}

// startFakeServer dials a Client to a listener the test owns and returns both ends.
func startFakeServer(t testing.TB, mode Framing) *fakeServer {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "fake.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type accepted struct {
		nc  net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() { nc, err := l.Accept(); ch <- accepted{nc, err} }()
	c := dialClient(t, DialOptions{Network: "unix", Addr: l.Addr().String(), Framing: mode})
	a := wait(t, ch, "accept")
	if a.err != nil {
		t.Fatal(a.err)
	}
	t.Cleanup(func() { a.nc.Close() })
	return &fakeServer{rawPeer: &rawPeer{t: t, nc: a.nc, fr: newFrameReader(a.nc, 16<<20, mode), mode: mode}, c: c}
}

// benchAssignFrame is an assign push as Server.Push frames it.
func benchAssignFrame(tb testing.TB, id string) []byte {
	tb.Helper()
	params, err := json.Marshal(Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "Make the scheduler fair across rigs"})
	if err != nil {
		tb.Fatal(err)
	}
	return encodeRequest([]byte(`"`+id+`"`), "assign", params)
}

// BenchmarkClientPush is the client's side of one assign push: the frame read and decoded, OnAssign
// run, the ack encoded and written. A fake server writes pushes over a Unix socket and reads the acks.
func BenchmarkClientPush(b *testing.B) {
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		b.Run(mode.String(), func(b *testing.B) {
			f := startFakeServer(b, mode)
			f.c.OnAssign(func(context.Context, Assignment) (bool, string) { return true, "" })
			frames := make([][]byte, 64)
			for i := range frames {
				frames[i] = appendFrame(nil, mode, benchAssignFrame(b, "a"+strconv.Itoa(i)))
			}
			f.nc.SetDeadline(time.Now().Add(5 * time.Minute))
			n := 0
			stop := make(chan struct{})
			defer close(stop)
			sent := make(chan int, 1)
			b.ReportAllocs()
			b.ResetTimer()
			go func() { // the writer owns the pushes; it stops after b.N of them or when the benchmark ends
				i := 0
				for ; i < b.N; i++ {
					select {
					case <-stop:
						sent <- i
						return
					default:
					}
					if _, err := f.nc.Write(frames[i%len(frames)]); err != nil {
						break
					}
				}
				sent <- i
			}()
			for ; n < b.N; n++ {
				if _, err := f.fr.next(); err != nil {
					b.Fatalf("ack %d: %v", n, err)
				}
			}
			b.StopTimer()
			if got := <-sent; got != b.N {
				b.Fatalf("wrote %d pushes of %d", got, b.N)
			}
		})
	}
}

// BenchmarkClientCall is the client's side of one complete call: the request encoded and written,
// the reply read, matched and decoded. A fake server answers every request with a fixed result.
func BenchmarkClientCall(b *testing.B) {
	f := startFakeServer(b, FramingNDJSON)
	f.nc.SetDeadline(time.Now().Add(5 * time.Minute))
	done := make(chan struct{})
	go func() { // answers until the client closes
		defer close(done)
		for {
			frame, err := f.fr.next()
			if err != nil {
				return
			}
			var req struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(frame, &req) != nil {
				return
			}
			if _, err := f.nc.Write(appendFrame(nil, FramingNDJSON, encodeResult(req.ID, []byte(`{"issue_id":"bd-a1b2c","status":"closed","outcome":"success"}`)))); err != nil {
				return
			}
		}
	}()
	ctx := context.Background()
	p := CompleteParams{LeaseID: "L-17", Epoch: 17, SessionResult: SessionResult{Outcome: "success", Summary: "done: made the scheduler fair", GitCommit: "0123456789abcdef"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.c.Complete(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	f.c.Close()
	<-done
}

// libReply is a success response as jsonrpc2's Conn.Reply encodes it.
func libReply(t testing.TB, id jsonrpc2.ID, result any) string {
	t.Helper()
	resp := &jsonrpc2.Response{ID: id}
	if err := resp.SetResult(result); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// libError is an error response as jsonrpc2's Conn.ReplyWithError encodes it.
func libError(t testing.TB, id jsonrpc2.ID, code int64, message string) string {
	t.Helper()
	b, err := json.Marshal(&jsonrpc2.Response{ID: id, Error: &jsonrpc2.Error{Code: code, Message: message}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func strID(s string) jsonrpc2.ID { return jsonrpc2.ID{Str: s, IsString: true} }

// expectQuiet asserts the client sends nothing more before answering a sentinel request.
func (f *fakeServer) expectQuiet(t *testing.T) {
	t.Helper()
	f.send(sentinel)
	if got, want := f.recv(), libError(t, strID("sentinel"), CodeMethodNotFound, "method not found: no.such.method"); got != want {
		t.Fatalf("before the sentinel's reply the client sent %s", got)
	}
}

func TestClientPushReplies(t *testing.T) {
	f := startFakeServer(t, FramingNDJSON)
	assigned := make(chan Assignment, 1)
	cancelled := make(chan CancelParams, 1)
	events := make(chan coord.Event, 1)
	shutdowns := make(chan string, 1)
	merges := make(chan coord.MergeRequest, 1)
	f.c.OnAssign(func(_ context.Context, a Assignment) (bool, string) {
		assigned <- a
		if a.Prompt == "reject" {
			return false, "busy <&> \u2028 ✓"
		}
		return true, ""
	})
	f.c.OnCancel(func(p CancelParams) { cancelled <- p })
	drains := make(chan DrainNotice, 1)
	f.c.OnDrain(func(p DrainNotice) { drains <- p })
	f.c.OnEvent(func(ev coord.Event) { events <- ev })
	f.c.OnShutdown(func(reason string) { shutdowns <- reason })
	f.c.OnMerge(func(_ context.Context, r coord.MergeRequest) bool { merges <- r; return r.Branch != "no" })

	a := Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "go"}
	params := string(mustJSON(a))
	rejectParams := string(mustJSON(Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "reject"}))
	badAssign := json.Unmarshal([]byte(`{"lease":"x"}`), new(Assignment))
	badMerge := json.Unmarshal([]byte(`{"request":[1]}`), new(MergePushParams))
	mr := coord.MergeRequest{ID: "MR-1", IssueID: "bd-1", Worker: "w1", Branch: "b", Target: "main", State: "merging"}
	gotAssign := func(want Assignment) func(t *testing.T) {
		return func(t *testing.T) {
			got := wait(t, assigned, "OnAssign")
			if got.Lease != want.Lease || got.Prompt != want.Prompt || canon(t, string(orNull(got.Issue))) != canon(t, string(orNull(want.Issue))) {
				t.Fatalf("OnAssign got %+v, want %+v", got, want)
			}
		}
	}
	for _, tt := range []struct {
		name  string
		frame string
		want  string // the exact reply; "" for none
		check func(t *testing.T)
	}{
		{"assign accepted", `{"jsonrpc":"2.0","id":"a1","method":"assign","params":` + params + `}`,
			libReply(t, strID("a1"), AssignReply{Accepted: true}), gotAssign(a)},
		{"assign rejected, numeric id", `{"jsonrpc":"2.0","id":7,"method":"assign","params":` + rejectParams + `}`,
			libReply(t, jsonrpc2.ID{Num: 7}, AssignReply{Reason: "busy <&> \u2028 ✓"}), gotAssign(Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "reject"})},
		{"negative id wraps as in jsonrpc2", `{"id":-1,"method":"assign","params":` + params + `,"jsonrpc":"2.0"}`,
			libReply(t, jsonrpc2.ID{Num: 1<<64 - 1}, AssignReply{Accepted: true}), gotAssign(a)},
		{"escaped string id", ` { "jsonrpc" : "2.0" , "id" : "\u0061<2" , "method" : "assign" , "params" : ` + params + ` } `,
			libReply(t, strID("a<2"), AssignReply{Accepted: true}), gotAssign(a)},
		{"params absent", `{"jsonrpc":"2.0","id":"a3","method":"assign"}`,
			libReply(t, strID("a3"), AssignReply{Accepted: true}), gotAssign(Assignment{})},
		{"params null", `{"jsonrpc":"2.0","id":"a4","method":"assign","params":null}`,
			libReply(t, strID("a4"), AssignReply{Accepted: true}), gotAssign(Assignment{})},
		{"assign notification ignored", `{"jsonrpc":"2.0","method":"assign","params":` + params + `}`, "", nil},
		{"assign with null id is a notification", `{"jsonrpc":"2.0","id":null,"method":"assign","params":` + params + `}`, "", nil},
		{"assign malformed params", `{"jsonrpc":"2.0","id":"a5","method":"assign","params":{"lease":"x"}}`,
			libError(t, strID("a5"), CodeInvalidParams, "invalid params: "+badAssign.Error()), nil},
		{"unknown method", `{"jsonrpc":"2.0","id":9,"method":"no<such>"}`,
			libError(t, jsonrpc2.ID{Num: 9}, CodeMethodNotFound, "method not found: no<such>"), nil},
		{"unknown notification", `{"jsonrpc":"2.0","method":"no.such","params":[1,2]}`, "", nil},
		{"cancel", `{"jsonrpc":"2.0","method":"cancel","params":{"lease_id":"L-1","epoch":3,"issue_id":"bd-1","reason":"r"}}`, "",
			func(t *testing.T) {
				if got := wait(t, cancelled, "OnCancel"); got != (CancelParams{LeaseID: "L-1", Epoch: 3, IssueID: "bd-1", Reason: "r"}) {
					t.Fatalf("OnCancel got %+v", got)
				}
			}},
		{"cancel as a request gets no reply", `{"jsonrpc":"2.0","id":"c1","method":"cancel","params":{"lease_id":"L-2"}}`, "",
			func(t *testing.T) { wait(t, cancelled, "OnCancel") }},
		{"cancel malformed params ignored", `{"jsonrpc":"2.0","method":"cancel","params":{"epoch":"x"}}`, "", nil},
		{"drain", `{"jsonrpc":"2.0","method":"drain","params":{"draining":true,"by":"alice"}}`, "",
			func(t *testing.T) {
				if got := wait(t, drains, "OnDrain"); got != (DrainNotice{Draining: true, By: "alice"}) {
					t.Fatalf("OnDrain got %+v", got)
				}
			}},
		{"event", `{"jsonrpc":"2.0","method":"event","params":{"seq":5,"time":"2026-11-01T10:00:00Z","kind":"acked","issue_id":"bd-1"}}`, "",
			func(t *testing.T) {
				if got := wait(t, events, "OnEvent"); got.Seq != 5 || got.Kind != "acked" || got.IssueID != "bd-1" || got.Time.Year() != 2026 {
					t.Fatalf("OnEvent got %+v", got)
				}
			}},
		{"shutdown", `{"jsonrpc":"2.0","method":"shutdown","params":{"reason":"bye"}}`, "",
			func(t *testing.T) {
				if got := wait(t, shutdowns, "OnShutdown"); got != "bye" {
					t.Fatalf("OnShutdown got %q", got)
				}
			}},
		{"merge accepted", `{"jsonrpc":"2.0","id":"m1","method":"merge","params":` + string(mustJSON(MergePushParams{Request: mr})) + `}`,
			libReply(t, strID("m1"), MergePushReply{Accepted: true}),
			func(t *testing.T) {
				if got := wait(t, merges, "OnMerge"); got.ID != "MR-1" || got.Branch != "b" {
					t.Fatalf("OnMerge got %+v", got)
				}
			}},
		{"merge refused", `{"jsonrpc":"2.0","id":"m2","method":"merge","params":{"request":{"id":"MR-2","branch":"no"}}}`,
			libReply(t, strID("m2"), MergePushReply{}), func(t *testing.T) { wait(t, merges, "OnMerge") }},
		{"merge malformed params", `{"jsonrpc":"2.0","id":"m3","method":"merge","params":{"request":[1]}}`,
			libError(t, strID("m3"), CodeInvalidParams, "invalid params: "+badMerge.Error()), nil},
		{"merge notification ignored", `{"jsonrpc":"2.0","method":"merge","params":{"request":{"id":"MR-3"}}}`, "", nil},
		// Frames the stream leaves to jsonrpc2 still reach the same handling through Handle.
		{"library: request with error null", `{"jsonrpc":"2.0","id":"f1","method":"assign","params":` + params + `,"error":null}`,
			libReply(t, strID("f1"), AssignReply{Accepted: true}), gotAssign(a)},
		{"library: escaped member name", `{"jsonrpc":"2.0","id":"f2","m\u0065thod":"no.such"}`,
			libError(t, strID("f2"), CodeMethodNotFound, "method not found: no.such"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.t = t
			f.send(tt.frame)
			if tt.want != "" {
				if got := f.recv(); got != tt.want {
					t.Fatalf("reply\n got %s\nwant %s", got, tt.want)
				}
			}
			if tt.check != nil {
				tt.check(t)
			}
			f.expectQuiet(t)
		})
	}
	select {
	case a := <-assigned:
		t.Fatalf("unexpected OnAssign %+v", a)
	default:
	}
}

func orNull(b json.RawMessage) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return b
}

func TestClientPushWithoutHandlers(t *testing.T) {
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		t.Run(mode.String(), func(t *testing.T) {
			f := startFakeServer(t, mode)
			f.send(`{"jsonrpc":"2.0","id":"a1","method":"assign","params":{"lease":{"id":"L-1"}}}`)
			if got, want := f.recv(), libReply(t, strID("a1"), AssignReply{Reason: "no assign handler"}); got != want {
				t.Fatalf("assign reply %s, want %s", got, want)
			}
			f.send(`{"jsonrpc":"2.0","id":"m1","method":"merge","params":{"request":{"id":"MR-1"}}}`)
			if got, want := f.recv(), libReply(t, strID("m1"), MergePushReply{}); got != want {
				t.Fatalf("merge reply %s, want %s", got, want)
			}
			for _, n := range []string{"cancel", "event", "shutdown"} { // no callbacks: nothing happens
				f.send(`{"jsonrpc":"2.0","method":"` + n + `","params":{}}`)
			}
			f.expectQuiet(t)
		})
	}
}

// TestClientMalformedFrameCloses: a frame that is not JSON still ends the connection (jsonrpc2's
// protocol error), as before.
func TestClientMalformedFrameCloses(t *testing.T) {
	for _, frame := range []string{`{"jsonrpc":"2.0","id":1,"method":"assign","params":{]}`, `{"id":1.5,"method":"assign"}`, `[1`} {
		f := startFakeServer(t, FramingNDJSON)
		f.send(frame)
		wait(t, f.c.Done(), "connection end after "+frame)
	}
}

// TestClientCallWire: a call's request bytes are what jsonrpc2 would write (ids from 1), and its reply
// is matched and decoded.
func TestClientCallWire(t *testing.T) {
	f := startFakeServer(t, FramingLSP)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p := CompleteParams{LeaseID: "L-17", Epoch: 17, SessionResult: SessionResult{Outcome: "success", Summary: "fixed <b> & \"quoted\" ✓"}}
	type callResult struct {
		r   *CompleteResult
		err error
	}
	for seq, reply := range []string{`"result":{"issue_id":"bd-1","status":"closed","outcome":"success"}`, `"error":{"code":-32004,"message":"stale"}`} {
		done := make(chan callResult, 1)
		go func() { r, err := f.c.Complete(ctx, p); done <- callResult{r, err} }()
		req := &jsonrpc2.Request{Method: "complete", ID: jsonrpc2.ID{Num: uint64(seq + 1)}}
		if err := req.SetParams(p); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.recv(); got != string(want) {
			t.Fatalf("request\n got %s\nwant %s", got, want)
		}
		f.send(`{"jsonrpc":"2.0","id":` + strconv.Itoa(seq+1) + `,` + reply + `}`)
		res := wait(t, done, "complete")
		if seq == 0 && (res.err != nil || *res.r != CompleteResult{IssueID: "bd-1", Status: "closed", Outcome: "success"}) {
			t.Fatalf("complete: %+v, %v", res.r, res.err)
		}
		if seq == 1 && (res.err == nil || !strings.Contains(res.err.Error(), "stale")) {
			t.Fatalf("complete error: %v", res.err)
		}
	}
}

// TestClientStreamWriteObject: requests and responses handed to WriteObject directly are encoded
// byte for byte as json.Marshal encodes them (their raw members as the library holds them: already
// json.Marshal output); anything else goes through json.Marshal.
func TestClientStreamWriteObject(t *testing.T) {
	raw := func(s string) *json.RawMessage { r := json.RawMessage(s); return &r }
	params := raw(string(mustJSON(map[string]any{"html": "<a&b>", "u": "✓\u2028", "n": 1})))
	objs := []any{
		&jsonrpc2.Request{Method: "complete", ID: jsonrpc2.ID{Num: 42}, Params: params},
		&jsonrpc2.Request{Method: "issue.get", ID: strID("x\"<y>\x01"), Params: raw(`{}`)},
		&jsonrpc2.Request{Method: "m<é>\"\x7f\xff", Notif: true},
		&jsonrpc2.Request{Method: "meta", ID: jsonrpc2.ID{Num: 1}, Meta: raw(`{"t":1}`)},                                         // fallback
		&jsonrpc2.Request{Method: "extra", ID: jsonrpc2.ID{Num: 1}, ExtraFields: []jsonrpc2.RequestField{{Name: "x", Value: 1}}}, // fallback
		&jsonrpc2.Response{ID: jsonrpc2.ID{Num: 3}, Result: raw(`{"accepted":true}`)},
		&jsonrpc2.Response{ID: strID("s"), Result: raw(`null`)},
		&jsonrpc2.Response{ID: jsonrpc2.ID{Num: 3}, Error: &jsonrpc2.Error{Code: -32601, Message: "method not found: <x>"}},
		&jsonrpc2.Response{ID: jsonrpc2.ID{Num: 3}, Error: &jsonrpc2.Error{Code: 1, Message: "m", Data: raw(string(mustJSON([]any{1, "<"})))}},
		&jsonrpc2.Response{ID: jsonrpc2.ID{Num: 3}, Result: raw(`1`), Meta: raw(`{}`)}, // fallback
		map[string]any{"jsonrpc": "2.0", "method": "plain"},                            // fallback
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	st := &clientStream{nc: a, mode: FramingNDJSON, wt: 5 * time.Second}
	fr := newFrameReader(b, 1<<20, FramingNDJSON)
	for _, obj := range objs {
		want, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- st.WriteObject(obj) }()
		got, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(t, errc, "WriteObject"); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%#v\n got %s\nwant %s", obj, got, want)
		}
	}
	// A response the library refuses to encode is refused the same way.
	if err := st.WriteObject(&jsonrpc2.Response{ID: jsonrpc2.ID{Num: 1}}); err == nil {
		t.Error("WriteObject of a response without result or error succeeded")
	}
}

func TestParsePush(t *testing.T) {
	for _, tt := range []struct {
		frame  string
		ok     bool
		method string
		id     jsonrpc2.ID
		notif  bool
		params string
	}{
		{`{"jsonrpc":"2.0","id":"a1","method":"assign","params":{"x":[1,{"y":null}]}}`, true, "assign", strID("a1"), false, `{"x":[1,{"y":null}]}`},
		{`{"method":"cancel","params":{}}`, true, "cancel", jsonrpc2.ID{}, true, `{}`},
		{`{"method":"a\"b","id":0}`, true, "a\"b", jsonrpc2.ID{}, false, ``},
		{`{"method":"x","id":12,"meta":{"a":1},"other":true}`, true, "x", jsonrpc2.ID{Num: 12}, false, ``},
		{`{"jsonrpc":"2.0","id":1,"result":{"method":"assign"}}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"jsonrpc":"2.0","id":1,"method":"a","result":1}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":1,"id":1}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":null,"id":1}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"Method":"a","id":1}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a","ID":1,"id":2}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a","id":1,"paramſ":{"x":1}}`, false, "", jsonrpc2.ID{}, false, ""}, // ſ folds to s in encoding/json
		{`{"method":"a","id":1.0}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a","id":{}}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a","id":99999999999999999999}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a","params":{"x":tru}}`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a"} x`, false, "", jsonrpc2.ID{}, false, ""},
		{`{"method":"a",}`, false, "", jsonrpc2.ID{}, false, ""},
		{`[{"method":"a"}]`, false, "", jsonrpc2.ID{}, false, ""},
		{`{}`, false, "", jsonrpc2.ID{}, false, ""},
		{``, false, "", jsonrpc2.ID{}, false, ""},
	} {
		m, ok := parsePush([]byte(tt.frame))
		if ok != tt.ok {
			t.Errorf("%s: ok %v, want %v", tt.frame, ok, tt.ok)
			continue
		}
		if ok && (m.method != tt.method || m.id != tt.id || m.notif != tt.notif || string(m.params) != tt.params) {
			t.Errorf("%s: got %+v", tt.frame, m)
		}
	}
}

// FuzzParsePush: the syntax check agrees with json.Valid, and every frame parsePush takes is one
// jsonrpc2 reads as the same request.
func FuzzParsePush(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":"a1","method":"assign","params":{"lease":{"id":"L"},"issue":{"t":"\u00e9\n"},"prompt":"p"}}`,
		`{"method":"cancel","params":[1,-2.5e+3,true,false,null,"x"]}`,
		`{"id":-7,"method":"m","params":{}}`, `{"id":null,"method":"e"}`, `{"id":"\ud800","method":"\\"}`,
		`{"jsonrpc":"2.0","id":1,"result":{}}`, `{"method":"a","id":01}`, `{"method":"a","params":{"a":1,"a":2}}`,
		`{"method":"a","params":"\x01"}`, `[[[]]]`, `-0`, `1e`, `"\u12"`, "{\"method\":\"\xff0\",\"id\":\"\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		end, ok := skipValue(frame, skipSpace(frame, 0), 0)
		if valid := ok && skipSpace(frame, end) == len(frame); valid != json.Valid(frame) {
			t.Fatalf("skipValue says %v, json.Valid %v", valid, json.Valid(frame))
		}
		m, ok := parsePush(frame)
		if !ok {
			return
		}
		if !json.Valid(frame) {
			t.Fatal("parsePush took invalid JSON")
		}
		var req jsonrpc2.Request
		if err := json.Unmarshal(frame, &req); err != nil {
			t.Fatalf("parsePush took a frame jsonrpc2 refuses: %v", err)
		}
		if req.Method != m.method || req.ID != m.id || req.Notif != m.notif {
			t.Fatalf("parsePush %+v, jsonrpc2 %+v", m, req)
		}
		if (m.params == nil) != (req.Params == nil) || m.params != nil && canonValue(decodeAny(t, m.params)) != canonValue(decodeAny(t, *req.Params)) {
			t.Fatalf("params %s, jsonrpc2 %v", m.params, req.Params)
		}
	})
}

func decodeAny(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
