package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

func TestAuth(t *testing.T) {
	ts := startServer(t, Options{AuthFailDelay: 50 * time.Millisecond}, nil)
	t.Run("tcp without token", func(t *testing.T) {
		p := dialRaw(t, "tcp", ts.tcpAddr, FramingNDJSON)
		if r := p.hello(""); canon(t, r) != canon(t, appErrReply(`"h"`, unauth, "unauthorized")) {
			t.Fatalf("hello: %s", r)
		}
		p.expectClosed()
	})
	t.Run("tcp wrong token", func(t *testing.T) {
		p := dialRaw(t, "tcp", ts.tcpAddr, FramingLSP)
		if r := p.hello("nope"); canon(t, r) != canon(t, appErrReply(`"h"`, unauth, "unauthorized")) {
			t.Fatalf("hello: %s", r)
		}
		p.expectClosed()
	})
	t.Run("before hello then hello", func(t *testing.T) {
		p := dialRaw(t, "tcp", ts.tcpAddr, FramingNDJSON)
		if r := p.call(`{"jsonrpc":"2.0","id":1,"method":"coord.status"}`); canon(t, r) != canon(t, appErrReply("1", unauth, "unauthorized")) {
			t.Fatalf("before hello: %s", r)
		}
		if r := p.hello(testToken); !strings.Contains(r, `"worker":"w1"`) || !strings.Contains(r, `"protocol":1`) {
			t.Fatalf("hello: %s", r)
		}
		if r := p.call(`{"jsonrpc":"2.0","id":2,"method":"coord.status"}`); !strings.Contains(r, `"result"`) {
			t.Fatalf("after hello: %s", r)
		}
		if r := p.hello(testToken); canon(t, r) != canon(t, appErrReply(`"h"`, -32002, "conflict")) {
			t.Fatalf("second hello: %s", r)
		}
	})
	t.Run("unix needs no token", func(t *testing.T) {
		p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		if r := p.helloAs("w-unix", ""); !strings.Contains(r, `"result"`) {
			t.Fatalf("hello: %s", r)
		}
	})
	t.Run("backend refuses hello", func(t *testing.T) {
		p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		if r := p.call(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"deny"}}`); canon(t, r) != canon(t, appErrReply("1", -32002, "conflict")) {
			t.Fatalf("hello: %s", r)
		}
		if r := p.call(`{"jsonrpc":"2.0","id":2,"method":"coord.status"}`); !strings.Contains(r, "-32005") {
			t.Fatalf("not authed after a refused hello: %s", r)
		}
	})
	t.Run("hello params", func(t *testing.T) {
		p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		for in, field := range map[string]string{
			`{"jsonrpc":"2.0","id":1,"method":"hello","params":{}}`:                            `"name"`,
			`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"a","role":"king"}}`:    `"role"`,
			`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"a","protocol":9}}`:     `"protocol"`,
			`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"a","capacity":"two"}}`: `"capacity"`,
		} {
			r := p.call(in)
			var rep struct{ Error wireError }
			json.Unmarshal([]byte(r), &rep)
			if rep.Error.Code != -32602 || !strings.Contains(rep.Error.Message, field) {
				t.Errorf("%s → %s", in, r)
			}
		}
	})
	t.Run("http", func(t *testing.T) {
		url := newHTTPTestServer(t, ts.HTTPHandler())
		req := `{"jsonrpc":"2.0","id":1,"method":"coord.status"}`
		for tok, want := range map[string]int{"": 401, "wrong": 401, testToken: 200} {
			status, body := postRPC(t, url, tok, req)
			if status != want {
				t.Errorf("token %q: status %d body %s", tok, status, body)
			}
			if want == 401 && canon(t, body) != canon(t, appErrReply("null", unauth, "unauthorized")) {
				t.Errorf("401 body %s", body)
			}
		}
		resp, err := http.Get(url + "/rpc")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET status %d", resp.StatusCode)
		}
		if _, body := postRPC(t, url, testToken, `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"x"}}`); !strings.Contains(body, "-32010") {
			t.Errorf("hello over HTTP: %s", body)
		}
	})
}

func TestPushAckAndReject(t *testing.T) {
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		t.Run(mode.String(), func(t *testing.T) {
			ts := startServer(t, Options{}, nil)
			c := dialClient(t, DialOptions{Network: "tcp", Addr: ts.tcpAddr, Token: testToken, Framing: mode})
			got := make(chan Assignment, 2)
			c.OnAssign(func(_ context.Context, a Assignment) (bool, string) {
				got <- a
				if a.Lease.ID == "L-2" {
					return false, "too busy"
				}
				return true, ""
			})
			if _, err := c.Hello(context.Background(), HelloParams{Name: "w1", Capacity: 2}); err != nil {
				t.Fatal(err)
			}
			sess := ts.b.sessionOf(t, "w1")
			issue := issueJSON("bd-7")
			if err := ts.Push("w1", sess, Assignment{Lease: coord.Lease{ID: "L-1", Epoch: 3, IssueID: "bd-7"}, Issue: issue, Prompt: "T\n\nD"}); err != nil {
				t.Fatal(err)
			}
			a := wait(t, got, "assignment")
			if a.Lease.ID != "L-1" || a.Lease.Epoch != 3 || a.Prompt != "T\n\nD" || canon(t, string(a.Issue)) != canon(t, string(issue)) {
				t.Fatalf("assignment %+v issue %s", a, a.Issue)
			}
			if v := wait(t, ts.b.acked, "ack"); v != "w1/L-1" {
				t.Fatalf("acked %s", v)
			}
			if err := ts.Push("w1", sess, Assignment{Lease: coord.Lease{ID: "L-2", Epoch: 4}, Issue: issue}); err != nil {
				t.Fatal(err)
			}
			wait(t, got, "assignment 2")
			if v := wait(t, ts.b.rejected, "reject"); v != "w1/L-2/too busy" {
				t.Fatalf("rejected %s", v)
			}
			if err := ts.Push("w2", sess, Assignment{}); coord.ErrorCode(err) != coord.ENotFound {
				t.Fatalf("push to the wrong worker: %v", err)
			}
		})
	}
}

func TestPushReplyErrorAndTimeoutAreNoAck(t *testing.T) {
	ts := startServer(t, Options{Workers: 1, AckTimeout: 100 * time.Millisecond}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	sess := ts.b.sessionOf(t, "w1")
	push := func(lease string) string {
		t.Helper()
		if err := ts.Push("w1", sess, Assignment{Lease: coord.Lease{ID: lease, Epoch: 1}, Issue: issueJSON("bd-1")}); err != nil {
			t.Fatal(err)
		}
		var req struct {
			ID     json.RawMessage
			Method string
		}
		json.Unmarshal([]byte(p.recv()), &req)
		if req.Method != "assign" {
			t.Fatalf("got %s", req.Method)
		}
		return string(req.ID)
	}
	id := push("L-err")
	p.exchange(`{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-1,"message":"no"}}`)
	id = push("L-late")
	for i := 0; ; i++ { // wait for the ack timeout to drop the push
		ts.mu.Lock()
		c := ts.conns[sess]
		ts.mu.Unlock()
		c.pmu.Lock()
		n := len(c.pending)
		c.pmu.Unlock()
		if n == 0 {
			break
		}
		if i > 500 {
			t.Fatal("push never timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.exchange(`{"jsonrpc":"2.0","id":` + id + `,"result":{"accepted":true}}`)
	select {
	case v := <-ts.b.acked:
		t.Fatalf("acked %s", v)
	case v := <-ts.b.rejected:
		t.Fatalf("rejected %s", v)
	default:
	}
}

func TestCancelEventShutdownReachClient(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	cancels := make(chan CancelParams, 1)
	events := make(chan coord.Event, 4)
	shut := make(chan string, 1)
	c.OnCancel(func(p CancelParams) { cancels <- p })
	c.OnEvent(func(e coord.Event) { events <- e })
	c.OnShutdown(func(r string) { shut <- r })
	ctx := context.Background()
	if _, err := c.Hello(ctx, HelloParams{Name: "w1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EventsSubscribe(ctx, SubscribeParams{Kinds: []string{"acked"}}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Cancel("w1", ts.b.sessionOf(t, "w1"), CancelParams{LeaseID: "L-1", Epoch: 2, IssueID: "bd-1", Reason: "closed"}); err != nil {
		t.Fatal(err)
	}
	if p := wait(t, cancels, "cancel"); p.LeaseID != "L-1" || p.Epoch != 2 || p.Reason != "closed" {
		t.Fatalf("cancel %+v", p)
	}
	ts.Publish(coord.Event{Seq: 1, Kind: "assigned"}) // filtered out
	ts.Publish(coord.Event{Seq: 2, Kind: "acked", IssueID: "bd-1"})
	if e := wait(t, events, "event"); e.Seq != 2 || e.IssueID != "bd-1" {
		t.Fatalf("event %+v", e)
	}
	ctx2, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ts.Shutdown(ctx2, "maintenance")
	if r := wait(t, shut, "shutdown"); r != "maintenance" {
		t.Fatalf("shutdown %q", r)
	}
	wait(t, c.Done(), "client disconnect")
}

func TestIdempotentRetry(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	ctx := context.Background()
	c1 := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	c1.Hello(ctx, HelloParams{Name: "w1"})
	first, err := c1.IssueCreate(ctx, IssueCreateParams{Title: "a", Idempotency: Idempotency{"k1"}})
	if err != nil {
		t.Fatal(err)
	}
	// a retry on a new connection of the same worker (the first one gone) returns the first result
	c1.Close()
	c1b := dialClient(t, DialOptions{Network: "tcp", Addr: ts.tcpAddr, Token: testToken, Framing: FramingLSP})
	for i := 0; ; i++ { // the server may not have seen the first connection end yet: refused meanwhile
		_, err := c1b.Hello(ctx, HelloParams{Name: "w1"})
		if err == nil {
			break
		}
		if coord.ErrorCode(err) != coord.EConflict || i == 100 {
			t.Fatalf("hello as w1 after its first connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	again, err := c1b.IssueCreate(ctx, IssueCreateParams{Title: "a", Idempotency: Idempotency{"k1"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(first.Issue) != string(again.Issue) || ts.b.creates.Load() != 1 {
		t.Fatalf("retry created again: %s vs %s (%d creates)", first.Issue, again.Issue, ts.b.creates.Load())
	}
	c2 := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	c2.Hello(ctx, HelloParams{Name: "w2"})
	if _, err := c2.IssueCreate(ctx, IssueCreateParams{Title: "a", Idempotency: Idempotency{"k1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1b.IssueCreate(ctx, IssueCreateParams{Title: "b"}); err != nil {
		t.Fatal(err)
	}
	if n := ts.b.creates.Load(); n != 3 {
		t.Fatalf("creates %d, want 3", n)
	}
	// application errors are remembered too
	for i := 0; i < 2; i++ {
		_, err := c1b.Complete(ctx, CompleteParams{LeaseID: "L-1", Epoch: 5, Idempotency: Idempotency{"k2"}})
		if coord.ErrorCode(err) != coord.EStaleEpoch {
			t.Fatalf("complete: %v", err)
		}
	}
	// a key reused for another request is refused, not answered with the first one's result
	_, err = c1b.IssueCreate(ctx, IssueCreateParams{Title: "another", Idempotency: Idempotency{"k1"}})
	if coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), `idempotency_key "k1" was used before with other params`) {
		t.Fatalf("create with k1 and another title: %v, want invalid", err)
	}
	_, err = c1b.Complete(ctx, CompleteParams{LeaseID: "L-2", Epoch: 6, Idempotency: Idempotency{"k2"}})
	if coord.ErrorCode(err) != coord.EInvalid {
		t.Fatalf("complete with k2 and another lease: %v, want invalid", err)
	}
	// the same params written otherwise (key order, spaces, an unknown key) are the same request
	var raw json.RawMessage
	if err := c1b.Call(ctx, "issue.create", json.RawMessage(`{ "idempotency_key": "k1", "x-extra": 1, "title": "a" }`), &raw); err != nil {
		t.Fatalf("create retry written otherwise: %v", err)
	}
	if n := ts.b.creates.Load(); n != 3 {
		t.Fatalf("creates %d after the refused and repeated keys, want 3", n)
	}
}

func TestIdemCacheBounded(t *testing.T) {
	c := newIdemCache(3)
	var runs atomic.Int64
	run := func() ([]byte, error) { runs.Add(1); return []byte(`1`), nil }
	for _, k := range []string{"a", "b", "c", "d", "a"} {
		c.do(context.Background(), k, 0, run)
	}
	if c.len() != 3 || runs.Load() != 5 {
		t.Fatalf("len %d runs %d (a was evicted, so it runs again)", c.len(), runs.Load())
	}
	c.do(context.Background(), "unavail", 0, func() ([]byte, error) { return nil, coord.Errorf(coord.EUnavailable, "x") })
	if _, err := c.do(context.Background(), "unavail", 0, run); err != nil {
		t.Fatalf("retryable error was remembered: %v", err)
	}
}

func TestClientMethods(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath, Framing: FramingLSP})
	ctx := context.Background()
	h, err := c.Hello(ctx, HelloParams{Name: "w9", Role: "refinery"})
	if err != nil || h.Server != "gtc" || h.Worker != "w9" || h.Leases == nil {
		t.Fatalf("hello %+v %v", h, err)
	}
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	hb, err := c.Heartbeat(ctx, HeartbeatParams{})
	check("heartbeat", err)
	if hb != nil && !hb.Deadline.Equal(time.Unix(100, 0)) {
		t.Errorf("deadline %v", hb.Deadline)
	}
	_, err = c.Complete(ctx, CompleteParams{LeaseID: "L", Epoch: 7, SessionResult: SessionResult{Outcome: "success"}})
	check("complete", err)
	_, err = c.Fail(ctx, FailParams{LeaseID: "L", Epoch: 7})
	check("fail", err)
	_, err = c.Release(ctx, ReleaseParams{LeaseID: "L", Epoch: 7})
	check("release", err)
	cl, err := c.Claim(ctx, ClaimParams{})
	check("claim", err)
	if cl != nil && cl.Assignment != nil {
		t.Errorf("claim %+v", cl)
	}
	g, err := c.IssueGet(ctx, IssueGetParams{ID: "bd-1"})
	check("issue.get", err)
	if g != nil && !strings.Contains(string(g.Issue), `"x_unknown"`) {
		t.Errorf("issue %s", g.Issue)
	}
	l, err := c.IssueList(ctx, IssueListParams{})
	check("issue.list", err)
	if l != nil && len(l.Issues) != 2 {
		t.Errorf("list %d", len(l.Issues))
	}
	_, err = c.IssueReady(ctx, IssueReadyParams{})
	check("issue.ready", err)
	_, err = c.IssueCreate(ctx, IssueCreateParams{Title: "x"})
	check("issue.create", err)
	title := "y"
	_, err = c.IssueUpdate(ctx, IssueUpdateParams{ID: "bd-1", Title: &title})
	check("issue.update", err)
	_, err = c.IssueClose(ctx, IssueCloseParams{ID: "bd-1"})
	check("issue.close", err)
	_, err = c.IssueDepAdd(ctx, IssueDepParams{ID: "bd-1", DependsOn: "bd-2"})
	check("issue.dep.add", err)
	_, err = c.IssueDepRemove(ctx, IssueDepParams{ID: "bd-1", DependsOn: "bd-2"})
	check("issue.dep.remove", err)
	_, err = c.IssueLabelAdd(ctx, IssueLabelParams{ID: "bd-1", Label: "x"})
	check("issue.label.add", err)
	_, err = c.IssueLabelRemove(ctx, IssueLabelParams{ID: "bd-1", Label: "x"})
	check("issue.label.remove", err)
	_, err = c.IssueComment(ctx, IssueCommentParams{ID: "bd-1", Text: "hi"})
	check("issue.comment", err)
	st, err := c.CoordStatus(ctx)
	check("coord.status", err)
	if st != nil && st.Issues.Ready != 3 {
		t.Errorf("status %+v", st)
	}
	w, err := c.CoordWorkers(ctx)
	check("coord.workers", err)
	if w != nil && (len(w.Workers) != 1 || w.Workers[0].Name != "w9" || w.Workers[0].Role != "refinery" || w.Workers[0].Capacity != 1) {
		t.Errorf("workers %+v", w)
	}
	p, err := c.CoordPause(ctx, PauseParams{})
	check("coord.pause", err)
	if p != nil && !p.Paused {
		t.Error("not paused")
	}
	_, err = c.CoordResume(ctx, PauseParams{})
	check("coord.resume", err)
	_, err = c.EventsSubscribe(ctx, SubscribeParams{})
	check("events.subscribe", err)
	_, err = c.IssueGet(ctx, IssueGetParams{ID: "missing"})
	if coord.ErrorCode(err) != coord.ENotFound {
		t.Errorf("missing issue: %v", err)
	}
	_, err = c.IssueGet(ctx, IssueGetParams{})
	if coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), `"id"`) {
		t.Errorf("missing id: %v", err)
	}
	c.Close()
	if _, err := c.CoordStatus(ctx); coord.ErrorCode(err) != coord.EUnavailable {
		t.Errorf("after close: %v", err)
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	path := t.TempDir() + "/token"
	tok, err := LoadOrCreateToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("%q %v", tok, err)
	}
	again, err := LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Fatalf("reload %q %v", again, err)
	}
	fi, err := osStat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".gtc-token-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// an empty file left by a crash of an earlier version: replaced once it is not brand new
	empty := t.TempDir() + "/token"
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateToken(empty); err == nil {
		t.Error("a brand-new empty token file (maybe being written) was taken as absent")
	}
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(empty, old, old); err != nil {
		t.Fatal(err)
	}
	if tok, err := LoadOrCreateToken(empty); err != nil || len(tok) != 64 {
		t.Fatalf("an old empty token file: %q %v, want a new token", tok, err)
	}
}

var osStat = os.Stat
