package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// asyncFake is fakeBackend answering complete and fail through AsyncBackend: the callbacks wait in
// parked until the test releases them, the way the engine answers after its commit.
type asyncFake struct {
	*fakeBackend
	parked   chan func()
	syncUsed sync.Map // method → true when the synchronous form ran
}

func (f *asyncFake) CompleteAsync(_ context.Context, _ *Session, p CompleteParams, done func(*CompleteResult, error)) {
	f.parked <- func() { done(&CompleteResult{IssueID: p.LeaseID, Status: "closed", Outcome: p.Outcome}, nil) }
}

func (f *asyncFake) IssueCreateAsync(_ context.Context, _ *Session, p IssueCreateParams, done func(*IssueResult, error)) {
	f.parked <- func() {
		done(&IssueResult{Issue: json.RawMessage(`{"id":"` + p.ID + `","title":"` + p.Title + `"}`)}, nil)
	}
}

func (f *asyncFake) FailAsync(_ context.Context, _ *Session, p FailParams, done func(*FailResult, error)) {
	f.parked <- func() { done(&FailResult{IssueID: p.LeaseID, Status: "open", Attempt: 2}, nil) }
}

func (f *asyncFake) Complete(ctx context.Context, s *Session, p CompleteParams) (*CompleteResult, error) {
	f.syncUsed.Store("complete", true)
	return f.fakeBackend.Complete(ctx, s, p)
}

// decide releases the next parked decision; what names the request waited for.
func (f *asyncFake) decide(t *testing.T, what string) {
	t.Helper()
	select {
	case d := <-f.parked:
		d()
	case <-time.After(5 * time.Second):
		t.Fatal(what)
	}
}

// helloRaw dials addr and says hello as w1.
func helloRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	p := dialRaw(t, "unix", addr, FramingNDJSON)
	if r := p.hello(testToken); !strings.Contains(r, `"result"`) {
		t.Fatalf("hello: %s", r)
	}
	return p
}

// startAsyncServer serves an asyncFake on a Unix socket.
func startAsyncServer(t *testing.T, opts Options) (*asyncFake, *Server, string) {
	t.Helper()
	b := &asyncFake{fakeBackend: newFake(), parked: make(chan func(), 1024)}
	s, addr := serveUnix(t, opts, b)
	return b, s, addr
}

// serveUnix serves b on a Unix socket (test token, quiet log) until the test ends; done is closed
// when Serve has returned.
func serveUnix(t *testing.T, opts Options, b Backend) (s *Server, addr string) {
	t.Helper()
	opts.Token = testToken
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s = NewServer(b, opts)
	l, err := ListenUnix(filepath.Join(t.TempDir(), "gtc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx, "test over")
		<-done
	})
	return s, l.Addr().String()
}

// TestAsyncCompleteHoldsNoHandler: with one handler per connection and a queue of one, 40 completes
// sent one after another all reach the backend while none is decided (the synchronous form holds the
// handler from the first: the second waits in the queue and the third is refused -32009), and each
// reply carries its own id and result once the decisions come, released in reverse order.
func TestAsyncCompleteHoldsNoHandler(t *testing.T) {
	b, _, addr := startAsyncServer(t, Options{Workers: 1, Pending: 1})
	p := helloRaw(t, addr)
	const n = 40
	var dones []func()
	for i := range n {
		p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"complete","params":{"lease_id":"L-%d","epoch":7,"outcome":"success"}}`, i, i))
		select {
		case d := <-b.parked:
			dones = append(dones, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("complete %d did not reach the backend: %d are waiting for their decision", i, len(dones))
		}
	}
	for i := len(dones) - 1; i >= 0; i-- {
		dones[i]()
	}
	seen := map[string]bool{}
	for range n {
		r := p.recv()
		var id int
		if _, err := fmt.Sscanf(r[strings.Index(r, `"id":`)+5:], "%d", &id); err != nil {
			t.Fatalf("reply without a numeric id: %s", r)
		}
		if want := fmt.Sprintf(`"issue_id":"L-%d"`, id); !strings.Contains(r, want) || !strings.Contains(r, `"status":"closed"`) {
			t.Fatalf("reply %s does not answer request %d", r, id)
		}
		seen[r] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct replies, want %d", len(seen), n)
	}
	if _, ok := b.syncUsed.Load("complete"); ok {
		t.Fatal("the synchronous Complete ran")
	}
}

// TestAsyncInBatchAndIdempotent: an asynchronous complete inside a batch is answered in the batch's one
// array reply; a complete with an idempotency key is asynchronous too, and its retry is answered from
// the idempotency cache without reaching the backend.
func TestAsyncInBatchAndIdempotent(t *testing.T) {
	b, _, addr := startAsyncServer(t, Options{})
	p := helloRaw(t, addr)
	p.send(`[{"jsonrpc":"2.0","id":1,"method":"fail","params":{"lease_id":"L-1","epoch":7,"error":"x"}},{"jsonrpc":"2.0","id":2,"method":"heartbeat","params":{}}]`)
	b.decide(t, "fail did not reach the backend")
	r := p.recv()
	if !strings.HasPrefix(r, "[") || !strings.Contains(r, `"id":1`) || !strings.Contains(r, `"attempt":2`) || !strings.Contains(r, `"id":2`) {
		t.Fatalf("batch reply %s", r)
	}
	keyed := `{"jsonrpc":"2.0","id":3,"method":"complete","params":{"lease_id":"L-3","epoch":7,"outcome":"success","idempotency_key":"k1"}}`
	p.send(keyed)
	b.decide(t, "the keyed complete did not reach CompleteAsync")
	if r := p.recv(); !strings.Contains(r, `"id":3`) || !strings.Contains(r, `"issue_id":"L-3"`) {
		t.Fatalf("keyed complete: %s", r)
	}
	retryFromCache(t, p, b, keyed, 3, 4, `"issue_id":"L-3"`)
	// the key reused for another lease's complete is refused at once, without reaching the backend
	other := strings.Replace(strings.Replace(keyed, `"L-3"`, `"L-9"`, 1), `"id":3`, `"id":5`, 1)
	if r := p.call(other); !strings.Contains(r, `"id":5`) || !strings.Contains(r, `"code":-32602`) || !strings.Contains(r, "used before with other params") {
		t.Fatalf("keyed complete of another lease: %s, want -32602", r)
	}
	select {
	case <-b.parked:
		t.Fatal("the reused key reached the backend")
	default:
	}
	if _, ok := b.syncUsed.Load("complete"); ok {
		t.Fatal("a keyed complete took the synchronous form")
	}
}

// TestAsyncNotificationInBatch: a complete sent as a notification inside a batch is decided without a
// reply, and the batch's array reply (the other entry's) still goes out once it is decided.
func TestAsyncNotificationInBatch(t *testing.T) {
	b, _, addr := startAsyncServer(t, Options{})
	p := helloRaw(t, addr)
	p.send(`[{"jsonrpc":"2.0","method":"complete","params":{"lease_id":"L-1","epoch":7,"outcome":"success"}},{"jsonrpc":"2.0","id":2,"method":"heartbeat","params":{}}]`)
	b.decide(t, "complete did not reach the backend")
	r := p.recv()
	if !strings.HasPrefix(r, "[") || !strings.Contains(r, `"id":2`) || strings.Contains(r, `"issue_id"`) {
		t.Fatalf("batch reply %s, want only the heartbeat's", r)
	}
}

// TestAsyncBackendAcks: with an AsyncBackend, acks and rejects reach Acked and Rejected (called on the
// connection's reader instead of the pool).
func TestAsyncBackendAcks(t *testing.T) {
	b, s, addr := startAsyncServer(t, Options{})
	c := dialClient(t, DialOptions{Network: "unix", Addr: addr, Token: testToken})
	c.OnAssign(func(_ context.Context, a Assignment) (bool, string) {
		return a.Lease.ID == "L-1", "busy"
	})
	if _, err := c.Hello(context.Background(), HelloParams{Name: "w1", Capacity: 2}); err != nil {
		t.Fatal(err)
	}
	sess := b.sessionOf(t, "w1")
	for _, id := range []string{"L-1", "L-2"} {
		if err := s.Push("w1", sess, Assignment{Lease: coord.Lease{ID: id, Epoch: 3, IssueID: "bd-7"}, Issue: issueJSON("bd-7")}); err != nil {
			t.Fatal(err)
		}
	}
	if v := wait(t, b.acked, "ack"); v != "w1/L-1" {
		t.Fatalf("acked %s", v)
	}
	if v := wait(t, b.rejected, "reject"); v != "w1/L-2/busy" {
		t.Fatalf("rejected %s", v)
	}
}

// TestAsyncCreateOnReader: issue.create is served on the connection's reader — it reaches the backend
// while the connection's one handler is blocked and its queue is full (where a pooled request is refused
// -32009) — and answered once decided (the reply, like every asynchronous one, leaves through the pool);
// a create with an idempotency key is served on the reader too, and its retry is answered from the
// idempotency cache.
func TestAsyncCreateOnReader(t *testing.T) {
	b, _, addr := startAsyncServer(t, Options{Workers: 1, Pending: 1})
	b.claimBlock = make(chan struct{})
	p := helloRaw(t, addr)
	time.Sleep(50 * time.Millisecond)                               // the pool frees hello's slot just after queuing its reply
	p.send(`{"jsonrpc":"2.0","id":1,"method":"claim","params":{}}`) // holds the handler
	p.send(`{"jsonrpc":"2.0","id":2,"method":"claim","params":{}}`) // fills the queue
	if r := p.call(`{"jsonrpc":"2.0","id":3,"method":"heartbeat","params":{}}`); !strings.Contains(r, `"code":-32009`) {
		t.Fatalf("heartbeat with the pool full: %s, want -32009", r)
	}
	p.send(`{"jsonrpc":"2.0","id":4,"method":"issue.create","params":{"id":"bd-9","title":"on the reader"}}`)
	b.decide(t, "create did not reach the backend while the pool was full")
	keyed := `{"jsonrpc":"2.0","id":5,"method":"issue.create","params":{"title":"keyed","idempotency_key":"k5"}}`
	p.send(keyed)
	b.decide(t, "keyed create did not reach the backend while the pool was full")
	close(b.claimBlock)
	got := map[string]string{}
	for range 4 {
		r := p.recv()
		got[r[strings.Index(r, `"id":`)+5:][:1]] = r
	}
	if r := got["4"]; !strings.Contains(r, `"title":"on the reader"`) {
		t.Fatalf("create reply %q (replies %v)", r, got)
	}
	if r := got["5"]; !strings.Contains(r, `"title":"keyed"`) {
		t.Fatalf("keyed create reply %q (replies %v)", r, got)
	}
	if got["1"] == "" || got["2"] == "" {
		t.Fatalf("claim replies missing: %v", got)
	}
	retryFromCache(t, p, b, keyed, 5, 6, `"title":"keyed"`)
	if n := b.creates.Load(); n != 0 {
		t.Fatalf("the synchronous IssueCreate ran %d times, want never", n)
	}
}

// retryFromCache sends keyed again under request id newID: the reply carries want and comes from the
// idempotency cache, without reaching the backend.
func retryFromCache(t *testing.T, p *rawPeer, b *asyncFake, keyed string, oldID, newID int, want string) {
	t.Helper()
	retry := strings.Replace(keyed, fmt.Sprintf(`"id":%d`, oldID), fmt.Sprintf(`"id":%d`, newID), 1)
	if r := p.call(retry); !strings.Contains(r, fmt.Sprintf(`"id":%d`, newID)) || !strings.Contains(r, want) {
		t.Fatalf("keyed request retried: %s, want %s", r, want)
	}
	select {
	case <-b.parked:
		t.Fatal("the keyed retry reached the backend again")
	default:
	}
}
