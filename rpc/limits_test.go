package rpc

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

func TestOversizedMessageClosesConnection(t *testing.T) {
	ts := startServer(t, Options{MaxMessageBytes: 1024}, nil)
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		t.Run(mode.String(), func(t *testing.T) {
			p := dialRaw(t, "unix", ts.unixPath, mode)
			// exactly at the cap is served
			pad := strings.Repeat("x", 1024-len(`{"jsonrpc":"2.0","id":1,"method":"nope","params":{"p":""}}`))
			at := `{"jsonrpc":"2.0","id":1,"method":"nope","params":{"p":"` + pad + `"}}`
			if len(at) != 1024 {
				t.Fatalf("len %d", len(at))
			}
			if r := p.call(at); !strings.Contains(r, "-32601") {
				t.Fatalf("message at the cap: %s", r)
			}
			p.send(`{"jsonrpc":"2.0","id":2,"method":"nope","params":{"p":"` + strings.Repeat("y", 2000) + `"}}`)
			r := p.recv()
			if canon(t, r) != canon(t, appErrReply("null", -32008, "too_large")) {
				t.Fatalf("oversized: %s", r)
			}
			p.expectClosed()
		})
	}
}

func TestOversizedHTTPBody(t *testing.T) {
	ts := startServer(t, Options{MaxMessageBytes: 512}, nil)
	url := newHTTPTestServer(t, ts.HTTPHandler())
	status, body := postRPC(t, url, testToken, `{"jsonrpc":"2.0","id":1,"method":"nope","params":"`+strings.Repeat("z", 600)+`"}`)
	if status != 413 || !strings.Contains(body, "-32008") {
		t.Fatalf("status %d body %s", status, body)
	}
}

func TestNonReadingPeerIsDisconnectedWithoutBlockingOthers(t *testing.T) {
	ts := startServer(t, Options{QueueLen: 4, WriteTimeout: 300 * time.Millisecond}, nil)
	slow := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	slow.call(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"slow"}}`)
	if r := slow.call(`{"jsonrpc":"2.0","id":2,"method":"events.subscribe"}`); !strings.Contains(r, `"subscribed":true`) {
		t.Fatalf("subscribe: %s", r)
	}
	fast := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
	ctx := context.Background()
	if _, err := fast.Hello(ctx, HelloParams{Name: "fast"}); err != nil {
		t.Fatal(err)
	}
	// slow stops reading; every Publish returns at once and the peer is cut off.
	detail := strings.Repeat("d", 64<<10)
	gone := false
	for i := 0; i < 1000 && !gone; i++ {
		ts.Publish(coord.Event{Seq: int64(i), Kind: "assigned", Detail: detail})
		select {
		case w := <-ts.b.disconnected:
			if w != "slow" {
				t.Fatalf("disconnected %s", w)
			}
			gone = true
		default:
		}
		if _, err := fast.CoordStatus(ctx); err != nil {
			t.Fatalf("other peer blocked: %v", err)
		}
	}
	if !gone {
		if w := wait(t, ts.b.disconnected, "slow peer disconnect"); w != "slow" {
			t.Fatalf("disconnected %s", w)
		}
	}
	if err := ts.Push("slow", ts.b.sessionOf(t, "slow"), Assignment{}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("push to a disconnected peer: %v", err)
	}
	if _, err := fast.CoordStatus(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, Options{MaxConns: 2}, nil)
	a := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	a.hello("")
	b := dialRaw(t, "tcp", ts.tcpAddr, FramingLSP)
	b.helloAs("w2", testToken) // another name: a hello as w1 would ping a, which does not answer, and close it
	c := dialRaw(t, "tcp", ts.tcpAddr, FramingLSP)
	c.send(sentinel)
	if r := c.recv(); canon(t, r) != canon(t, appErrReply("null", -32009, "busy")) {
		t.Fatalf("excess connection: %s", r)
	}
	c.expectClosed()
	a.nc.Close()
	wait(t, ts.b.disconnected, "disconnect of a")
	for i := 0; ; i++ {
		d := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
		if r := d.call(sentinel); strings.Contains(r, "-32601") {
			break
		}
		if i > 100 {
			t.Fatal("slot never freed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDisconnect(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	ts.Disconnect(ts.b.sessionOf(t, "w1"))
	p.expectClosed()
	if w := wait(t, ts.b.disconnected, "disconnect"); w != "w1" {
		t.Fatalf("disconnected %s", w)
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: 200 * time.Millisecond}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	p.expectClosed()
	if w := wait(t, ts.b.disconnected, "idle disconnect"); w != "w1" {
		t.Fatalf("disconnected %s", w)
	}
}

func TestSilenceBeforeHelloDisconnects(t *testing.T) {
	ts := startServer(t, Options{IdleTimeout: time.Minute, HelloTimeout: 200 * time.Millisecond}, nil)
	silent := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	talker := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	talker.hello("")
	start := time.Now()
	silent.expectClosed()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a peer that never said hello was kept %v", d)
	}
	time.Sleep(300 * time.Millisecond) // past the hello timeout: a peer that said hello stays
	if r := talker.call(`{"jsonrpc":"2.0","id":7,"method":"coord.status"}`); !strings.Contains(r, `"result"`) {
		t.Fatalf("the connection that said hello was dropped: %s", r)
	}
}

// TestSlowHelloIsNotCut: the hello timeout is the peer's time to say hello, not the server's time to
// answer it: a hello the backend takes longer than the timeout to serve (it waits for a hung commit) is
// answered, and a refused hello gives the peer the timeout again. Before, the connection was closed
// under the waiting hello and the CLI said the server was shutting down.
func TestSlowHelloIsNotCut(t *testing.T) {
	b := newFake()
	b.helloDelay = 400 * time.Millisecond
	ts := startServer(t, Options{IdleTimeout: time.Minute, HelloTimeout: 150 * time.Millisecond}, b)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	if r := p.hello(""); !strings.Contains(r, `"result"`) {
		t.Fatalf("a hello served in %v under a %v hello timeout: %s", b.helloDelay, 150*time.Millisecond, r)
	}
	if r := p.call(`{"jsonrpc":"2.0","id":7,"method":"coord.status"}`); !strings.Contains(r, `"result"`) {
		t.Fatalf("after the slow hello: %s", r)
	}
	denied := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	if r := denied.helloAs("deny", ""); !strings.Contains(r, `"error"`) {
		t.Fatalf("hello as deny: %s", r)
	}
	start := time.Now()
	denied.expectClosed() // refused and silent since: closed a hello timeout later
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a peer whose hello was refused was kept %v", d)
	}
}

func TestPerConnectionPendingLimit(t *testing.T) {
	b := newFake()
	b.claimBlock = make(chan struct{})
	ts := startServer(t, Options{Workers: 1, Pending: 1}, b)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	// The pool frees hello's slot just after queuing its reply: let it, so the three claims below
	// meet one free worker and one pending place, as the test means.
	time.Sleep(50 * time.Millisecond)
	for i := 1; i <= 3; i++ {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"claim"}`, i))
	}
	if r := p.recv(); canon(t, r) != canon(t, appErrReply("3", -32009, "busy")) {
		t.Fatalf("third claim: %s", r)
	}
	// the read loop is not stuck behind the blocked claim
	if r := p.call(`{"jsonrpc":"2.0","id":"x","method":"hello"}`); !strings.Contains(r, "-32600") && !strings.Contains(r, "-32009") {
		t.Fatalf("read loop blocked? %s", r)
	}
	close(b.claimBlock)
	got := map[string]bool{}
	for len(got) < 2 {
		got[p.recv()] = true
	}
	for r := range got {
		if !strings.Contains(r, `"assignment":null`) {
			t.Fatalf("claim reply %s", r)
		}
	}
}

func TestUnixSocketMode(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	fi, err := os.Stat(ts.unixPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v", fi.Mode().Perm())
	}
	if _, err := ListenUnix(ts.unixPath); err == nil {
		t.Fatal("second listener on a live socket succeeded")
	}
	var _ net.Listener
}

type countingObserver struct {
	mu    sync.Mutex
	rpcs  map[string]int
	conns int
	in    int
	out   int
}

func (o *countingObserver) RPC(method string, code int, _ time.Duration) {
	o.mu.Lock()
	o.rpcs[fmt.Sprintf("%s %d", method, code)]++
	o.mu.Unlock()
}
func (o *countingObserver) Conns(_ string, d int) { o.mu.Lock(); o.conns += d; o.mu.Unlock() }
func (o *countingObserver) Bytes(dir string, n int) {
	o.mu.Lock()
	if dir == "in" {
		o.in += n
	} else {
		o.out += n
	}
	o.mu.Unlock()
}

func TestObserver(t *testing.T) {
	obs := &countingObserver{rpcs: map[string]int{}}
	ts := startServer(t, Options{Observer: obs}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	p.call(`{"jsonrpc":"2.0","id":1,"method":"issue.get","params":{"id":"missing"}}`)
	p.call(`{"jsonrpc":"2.0","id":2,"method":`)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, k := range []string{"hello 0", "issue.get -32001", " -32700"} {
		if obs.rpcs[k] != 1 {
			t.Errorf("rpc %q counted %d times: %v", k, obs.rpcs[k], obs.rpcs)
		}
	}
	if obs.conns != 1 || obs.in == 0 || obs.out == 0 {
		t.Errorf("conns %d in %d out %d", obs.conns, obs.in, obs.out)
	}
}
