package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestParseReply: the fast reader of reply frames takes what it can read exactly as jsonrpc2 reads it
// and declines the rest, which the slow reader (encoding/json, as the library) then takes or not.
func TestParseReply(t *testing.T) {
	tests := []struct {
		frame      string
		fast, slow bool
		id         uint64
		result     string
		errRaw     string
	}{
		{frame: `{"id":7,"result":{"a":1},"jsonrpc":"2.0"}`, fast: true, slow: true, id: 7, result: `{"a":1}`},
		{frame: ` { "jsonrpc" : "2.0" , "id" : 12 , "result" : [1, "x"] } `, fast: true, slow: true, id: 12, result: `[1, "x"]`},
		{frame: `{"id":3,"result":null}`, fast: true, slow: true, id: 3, result: `null`},
		{frame: `{"id":3,"error":{"code":-32004,"message":"stale"}}`, fast: true, slow: true, id: 3, errRaw: `{"code":-32004,"message":"stale"}`},
		{frame: `{"id":18446744073709551615,"result":1}`, fast: true, slow: true, id: 18446744073709551615, result: `1`},
		{frame: `{"id":3,"result":1,"meta":{"x":1},"other":true}`, fast: true, slow: true, id: 3, result: `1`},
		{frame: `{"id":5,"result":1,"result":2}`, fast: true, slow: true, id: 5, result: `2`}, // the last wins
		{frame: `{"id":5,"id":6,"result":1}`, fast: true, slow: true, id: 6, result: `1`},
		{frame: `{"id":7,"result":1,"error":{"code":1,"message":"x"}}`, fast: true, slow: true, id: 7, errRaw: `{"code":1,"message":"x"}`},
		{frame: `{"id":7,"error":null,"result":1}`, fast: true, slow: true, id: 7, result: `1`},
		// declined by the fast reader, read by the slow one
		{frame: `{"ID":4,"Result":{"b":2}}`, slow: true, id: 4, result: `{"b":2}`},
		{frame: `{"id":4,"method":null,"result":1}`, slow: true, id: 4, result: `1`},
		{frame: `{"id":1e0,"result":1}`, slow: false},
		{frame: `{"id":"7","result":1}`}, // string ids are never ours
		{frame: `{"id":7}`},
		{frame: `{"id":7,"method":"assign","params":{}}`},
		{frame: `{"id":007,"result":1}`},
		{frame: `{"id":-1,"result":1}`},
		{frame: `{"id":18446744073709551616,"result":1}`},
		{frame: `[{"id":1,"result":1}]`},
		{frame: `{"id":1,"result":{]}`},
		{frame: `{"id":1,"result":1} x`},
		{frame: `{"id":1,"result":1,}`},
		{frame: ``},
	}
	for _, tt := range tests {
		id, result, errRaw, ok := parseReply([]byte(tt.frame))
		if ok != tt.fast {
			t.Errorf("parseReply(%s) ok = %v, want %v", tt.frame, ok, tt.fast)
			continue
		}
		if !ok {
			id, result, errRaw, ok = parseReplySlow([]byte(tt.frame))
			if ok != tt.slow {
				t.Errorf("parseReplySlow(%s) ok = %v, want %v", tt.frame, ok, tt.slow)
				continue
			}
		}
		if ok && (id != tt.id || string(result) != tt.result || string(errRaw) != tt.errRaw) {
			t.Errorf("%s: got id %d result %q error %q, want %d %q %q", tt.frame, id, result, errRaw, tt.id, tt.result, tt.errRaw)
		}
	}
}

// FuzzParseReply: whatever the fast reader takes, the slow one (encoding/json) takes the same way.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{`{"id":7,"result":{"a":1},"jsonrpc":"2.0"}`, `{"id":3,"error":{"code":-32004,"message":"stale"}}`,
		`{"id":3,"result":null}`, `{"ID":4,"Result":{"b":2}}`, `{"id":1,"result":"\u00e9\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		id, result, errRaw, ok := parseReply(frame)
		if !ok {
			return
		}
		sid, sresult, serr, sok := parseReplySlow(frame)
		if !sok || sid != id || !bytes.Equal(sresult, result) || !bytes.Equal(serr, errRaw) {
			t.Fatalf("%q: fast %d %q %q, slow %v %d %q %q", frame, id, result, errRaw, sok, sid, sresult, serr)
		}
	})
}

// TestClientReplyMatching: replies are matched by id whatever their order; a reply for a call that
// gave up is dropped and the connection keeps serving; a reply spelled differently still lands.
func TestClientReplyMatching(t *testing.T) {
	f := startFakeServer(t, FramingNDJSON)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type res struct {
		r   *CompleteResult
		err error
	}
	start := func(ctx context.Context) chan res {
		ch := make(chan res, 1)
		go func() { r, err := f.c.Complete(ctx, CompleteParams{LeaseID: "L", Epoch: 1}); ch <- res{r, err} }()
		return ch
	}
	a := start(ctx)
	if got := f.recv(); !strings.HasPrefix(got, `{"id":1,`) {
		t.Fatalf("first request: %s", got)
	}
	b := start(ctx)
	f.recv()
	f.send(`{"jsonrpc":"2.0","id":2,"result":{"issue_id":"b","status":"closed","outcome":"success"}}`)
	f.send(`{"jsonrpc":"2.0","id":1,"result":{"issue_id":"a","status":"closed","outcome":"success"}}`)
	if r := wait(t, a, "call 1"); r.err != nil || r.r.IssueID != "a" {
		t.Fatalf("call 1: %+v %v", r.r, r.err)
	}
	if r := wait(t, b, "call 2"); r.err != nil || r.r.IssueID != "b" {
		t.Fatalf("call 2: %+v %v", r.r, r.err)
	}

	short, stop := context.WithCancel(ctx)
	c := start(short)
	f.recv()
	stop()
	if r := wait(t, c, "cancelled call"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled call: %v", r.err)
	}
	f.send(`{"jsonrpc":"2.0","id":3,"result":{"issue_id":"late"}}`) // nobody waits: dropped

	d := start(ctx)
	f.recv()
	f.send(`{"ID":4,"Result":{"issue_id":"d","status":"closed","outcome":"success"}}`)
	if r := wait(t, d, "call 4"); r.err != nil || r.r.IssueID != "d" {
		t.Fatalf("call 4: %+v %v", r.r, r.err)
	}

	e := start(ctx)
	f.recv()
	f.send(`{"jsonrpc":"2.0","id":5,"error":{"code":-32004,"message":"stale epoch","data":{"code":"stale_epoch"}}}`)
	if r := wait(t, e, "call 5"); coord.ErrorCode(r.err) != coord.EStaleEpoch || !strings.Contains(r.err.Error(), "stale epoch") {
		t.Fatalf("call 5: %v (code %s)", r.err, coord.ErrorCode(r.err))
	}
}

// TestClientCallConnectionEnd: a call in flight when the connection ends fails as unavailable, and so
// does a call made afterwards.
func TestClientCallConnectionEnd(t *testing.T) {
	f := startFakeServer(t, FramingNDJSON)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := f.c.Complete(ctx, CompleteParams{LeaseID: "L", Epoch: 1}); errc <- err }()
	f.recv()
	f.nc.Close()
	if err := wait(t, errc, "call in flight"); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("call in flight: %v", err)
	}
	wait(t, f.c.Done(), "connection end")
	if _, err := f.c.Complete(ctx, CompleteParams{LeaseID: "L", Epoch: 1}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("call after the end: %v", err)
	}
}

// TestDecodeString: the client's string decoder gives encoding/json's string for every checked JSON
// string, through its plain, short-escape and fallback paths.
func TestDecodeString(t *testing.T) {
	for _, raw := range []string{`""`, `"plain"`, `"title\n\ndescription with \"quotes\" and a \\ and \/"`,
		`"\b\f\r\t"`, `"tab\tthen é ✓"`, `"\u00e9 and \n"`, `"\ud800 lone surrogate"`, "\"bad \xff utf-8 \\n\"",
		"\"bad \xc3 utf-8\"", `"\\u0041 is not an escape"`, `"ends with \\"`} {
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("%q: encoding/json: %v", raw, err)
		}
		got, ok := decodeString([]byte(raw))
		if !ok || got != want {
			t.Errorf("decodeString(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

// FuzzDecodeString: decodeString agrees with encoding/json on every string skipString accepts.
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{`"a\nb"`, `"\u00e9"`, "\"\xff\\n\"", `"\\\""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 2 || raw[0] != '"' {
			return
		}
		if end, ok := skipString(raw, 0); !ok || end != len(raw) {
			return
		}
		var want string
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%q: skipString accepted what encoding/json rejects: %v", raw, err)
		}
		if got, ok := decodeString(raw); !ok || got != want {
			t.Fatalf("decodeString(%q) = %q, %v; want %q", raw, got, ok, want)
		}
	})
}
