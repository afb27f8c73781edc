package rpc

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func errReply(id string, code int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d}}`, id, code)
}

func appErrReply(id string, code int, name string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"data":{"code":%q}}}`, id, code, name)
}

const unauth = -32005

type specCase struct {
	name       string
	in         string
	want       []string // replies after hello, in order (a batch reply is one array)
	wantBefore []string // replies before hello when they differ
	wantHTTP   []string // replies over HTTP when they differ (worker methods need a socket: -32010)
	msg        string   // the (single) error reply's message must contain it (sockets)
}

var specCases = []specCase{
	{name: "parse error", in: `{"jsonrpc":"2.0","id":1,"method":`, want: []string{errReply("null", -32700)}},
	{name: "parse error garbage", in: `hello there`, want: []string{errReply("null", -32700)}},
	{name: "not an object", in: `5`, want: []string{errReply("null", -32600)}},
	{name: "string value", in: `"x"`, want: []string{errReply("null", -32600)}},
	{name: "jsonrpc 1.0", in: `{"jsonrpc":"1.0","id":1,"method":"coord.status"}`, want: []string{errReply("1", -32600)}},
	{name: "jsonrpc missing", in: `{"id":1,"method":"coord.status"}`, want: []string{errReply("1", -32600)}},
	{name: "id object", in: `{"jsonrpc":"2.0","id":{},"method":"coord.status"}`, want: []string{errReply("null", -32600)}},
	{name: "id bool", in: `{"jsonrpc":"2.0","id":true,"method":"coord.status"}`, want: []string{errReply("null", -32600)}},
	{name: "method number", in: `{"jsonrpc":"2.0","id":1,"method":5}`, want: []string{errReply("1", -32600)}},
	{name: "no method no result", in: `{"jsonrpc":"2.0","id":1}`, want: []string{errReply("1", -32600)}},
	{name: "string id echoed", in: `{"jsonrpc":"2.0","id":"abc","method":"nope"}`, want: []string{errReply(`"abc"`, -32601)}, msg: "nope"},
	{name: "negative id echoed", in: `{"jsonrpc":"2.0","id":-3,"method":"nope"}`, want: []string{errReply("-3", -32601)}},
	{name: "huge id echoed", in: `{"jsonrpc":"2.0","id":18446744073709551617,"method":"nope"}`, want: []string{errReply("18446744073709551617", -32601)}},
	{name: "fraction id echoed", in: `{"jsonrpc":"2.0","id":1.5,"method":"nope"}`, want: []string{errReply("1.5", -32601)}},
	{name: "null id answered", in: `{"jsonrpc":"2.0","id":null,"method":"nope"}`, want: []string{errReply("null", -32601)}},
	{name: "notification unknown method", in: `{"jsonrpc":"2.0","method":"nope"}`, want: nil},
	{name: "notification known method", in: `{"jsonrpc":"2.0","method":"coord.status"}`, want: nil},
	{name: "empty batch", in: `[]`, want: []string{errReply("null", -32600)}},
	{name: "batch of scalars", in: `[1,2]`, want: []string{`[` + errReply("null", -32600) + `,` + errReply("null", -32600) + `]`}},
	{name: "batch invalid json", in: `[{"jsonrpc":"2.0","id":1,"method":"nope"},`, want: []string{errReply("null", -32700)}},
	{name: "batch all notifications", in: `[{"jsonrpc":"2.0","method":"nope"},{"jsonrpc":"2.0","method":"coord.status"}]`, want: nil},
	{name: "batch mixed", in: `[{"jsonrpc":"2.0","id":1,"method":"nope"},{"jsonrpc":"2.0","method":"nope"},5,{"jsonrpc":"2.0","id":"s","method":"coord.status"}]`,
		want:       []string{`[` + errReply("1", -32601) + `,` + errReply("null", -32600) + `,{"jsonrpc":"2.0","id":"s","result":{"issues":{"ready":3,"leased":0,"closed":0,"dead_lettered":0,"blocked":0,"other":0,"total":5},"workers":{"idle":0,"busy":0,"draining":0,"stalled":0,"gone":0},"refineries":{"idle":0,"busy":0,"draining":0,"stalled":0,"gone":0},"paused":false}}]`},
		wantBefore: []string{`[` + errReply("1", -32601) + `,` + errReply("null", -32600) + `,` + appErrReply(`"s"`, unauth, "unauthorized") + `]`}},
	{name: "params scalar", in: `{"jsonrpc":"2.0","id":2,"method":"issue.get","params":5}`, want: []string{errReply("2", -32602)},
		wantBefore: []string{appErrReply("2", unauth, "unauthorized")}},
	{name: "params array", in: `{"jsonrpc":"2.0","id":2,"method":"issue.get","params":["x"]}`, want: []string{errReply("2", -32602)},
		wantBefore: []string{appErrReply("2", unauth, "unauthorized")}},
	{name: "missing required field", in: `{"jsonrpc":"2.0","id":2,"method":"issue.get","params":{}}`, want: []string{errReply("2", -32602)},
		wantBefore: []string{appErrReply("2", unauth, "unauthorized")}, msg: `"id"`},
	{name: "wrong field type", in: `{"jsonrpc":"2.0","id":2,"method":"complete","params":{"lease_id":"L-1","epoch":"7"}}`, want: []string{errReply("2", -32602)},
		wantHTTP:   []string{appErrReply("2", -32010, "not_implemented")},
		wantBefore: []string{appErrReply("2", unauth, "unauthorized")}, msg: `"epoch"`},
	{name: "unknown fields allowed", in: `{"jsonrpc":"2.0","id":2,"method":"issue.get","params":{"id":"bd-9","zzz":1}}`,
		want:       []string{`{"jsonrpc":"2.0","id":2,"result":{"issue":{"id":"bd-9","title":"T","status":"open","x_unknown":{"k":[1,2.50,"z"]}}}}`},
		wantBefore: []string{appErrReply("2", unauth, "unauthorized")}},
	{name: "application error", in: `{"jsonrpc":"2.0","id":3,"method":"issue.get","params":{"id":"missing"}}`, want: []string{appErrReply("3", -32001, "not_found")},
		wantBefore: []string{appErrReply("3", unauth, "unauthorized")}},
	{name: "stale epoch", in: `{"jsonrpc":"2.0","id":3,"method":"complete","params":{"lease_id":"L-1","epoch":6}}`, want: []string{appErrReply("3", -32003, "stale_epoch")},
		wantHTTP:   []string{appErrReply("3", -32010, "not_implemented")},
		wantBefore: []string{appErrReply("3", unauth, "unauthorized")}},
	{name: "internal error", in: `{"jsonrpc":"2.0","id":4,"method":"issue.get","params":{"id":"boom"}}`, want: []string{errReply("4", -32603)},
		wantBefore: []string{appErrReply("4", unauth, "unauthorized")}},
	{name: "handler panic", in: `{"jsonrpc":"2.0","id":4,"method":"issue.get","params":{"id":"panic"}}`, want: []string{errReply("4", -32603)},
		wantBefore: []string{appErrReply("4", unauth, "unauthorized")}},
}

func checkReplies(t *testing.T, c specCase, got, want []string, checkMsg bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d replies %q, want %d %q", c.in, len(got), got, len(want), want)
	}
	for i := range want {
		if g, w := canon(t, got[i]), canon(t, want[i]); g != w {
			t.Errorf("%s:\n got  %s\n want %s", c.in, got[i], w)
		}
	}
	if checkMsg && c.msg != "" && len(got) == 1 {
		var r struct {
			Error struct{ Message string }
		}
		json.Unmarshal([]byte(got[0]), &r)
		if !strings.Contains(r.Error.Message, c.msg) {
			t.Errorf("%s: reply %s does not mention %s", c.in, got[0], c.msg)
		}
	}
}

func TestSpecCasesOverSockets(t *testing.T) {
	ts := startServer(t, Options{Workers: 1}, nil)
	for _, tr := range []struct{ network, addr string }{{"unix", ts.unixPath}, {"tcp", ts.tcpAddr}} {
		for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
			for _, phase := range []string{"before-hello", "after-hello"} {
				t.Run(tr.network+"/"+mode.String()+"/"+phase, func(t *testing.T) {
					p := dialRaw(t, tr.network, tr.addr, mode)
					if phase == "after-hello" {
						// a name of its own: the server may not have seen the last subtest's connection close yet
						if r := p.helloAs("w-"+tr.network+"-"+mode.String(), testToken); !strings.Contains(r, `"result"`) {
							t.Fatalf("hello: %s", r)
						}
					}
					for _, c := range specCases {
						want := c.want
						if phase == "before-hello" && c.wantBefore != nil {
							want = c.wantBefore
						}
						checkReplies(t, c, p.exchange(c.in), want, phase == "after-hello")
					}
				})
			}
		}
	}
}

func TestSpecCasesOverHTTP(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	srv := newHTTPTestServer(t, ts.HTTPHandler())
	for _, c := range specCases {
		t.Run(c.name, func(t *testing.T) {
			status, body := postRPC(t, srv, testToken, c.in)
			var got []string
			if status == http.StatusNoContent {
				if body != "" {
					t.Fatalf("204 with body %q", body)
				}
			} else {
				if status != http.StatusOK {
					t.Fatalf("status %d body %s", status, body)
				}
				got = []string{body}
			}
			if c.wantHTTP != nil {
				c.want, c.msg = c.wantHTTP, ""
			}
			checkReplies(t, c, got, c.want, true)
		})
	}
}

func postRPC(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/rpc", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
