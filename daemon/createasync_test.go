package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// createClient dials h's socket and says hello as a client.
func createClient(t *testing.T, h *harness) *rpc.Client {
	t.Helper()
	ctx := context.Background()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Hello(ctx, rpc.HelloParams{Name: "cli", Role: "client", Protocol: 1}); err != nil {
		t.Fatal(err)
	}
	return c
}

func createdID(t *testing.T, res *rpc.IssueResult) string {
	t.Helper()
	var is struct{ ID string }
	if err := json.Unmarshal(res.Issue, &is); err != nil || is.ID == "" {
		t.Fatalf("created record %s: %v", res.Issue, err)
	}
	return is.ID
}

// TestCreateRedrawsCollidingID: a generated id that names an existing issue is refused by the scheduler
// and the next candidate is drawn — the retry runs from the engine's callback of the asynchronous
// create, and the reply names the issue as created.
func TestCreateRedrawsCollidingID(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 1)}, nil)
	draws := make(chan int, 8)
	prev := candidateID
	candidateID = func(prefix string, n int) string {
		draws <- n
		if n < 2 {
			return fmt.Sprintf("t-%d", n+1) // both exist
		}
		return "t-new"
	}
	t.Cleanup(func() { candidateID = prev })
	c := createClient(t, h)
	res, err := c.IssueCreate(context.Background(), rpc.IssueCreateParams{Title: "third"})
	if err != nil {
		t.Fatal(err)
	}
	if id := createdID(t, res); id != "t-new" {
		t.Fatalf("created %s, want t-new", id)
	}
	if got := []int{<-draws, <-draws, <-draws}; fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("candidates drawn %v", got)
	}
	if recs, err := h.d.Store().Records(context.Background(), []string{"t-new"}); err != nil || len(recs) != 1 || recs[0].Issue.Title != "third" {
		t.Fatalf("stored t-new: %+v, %v", recs, err)
	}
	if ready := h.d.Engine().Ready(0); len(ready) != 3 {
		t.Fatalf("ready %v, want t-1, t-2 and t-new", ready)
	}
}

// TestConcurrentCreatesOnOneConnection: creates sent together on one connection (served on its reader,
// none waiting for another's commit) all land, each once, with distinct ids, and a refused one (an id
// that exists) does not disturb the others.
func TestConcurrentCreatesOnOneConnection(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	c := createClient(t, h)
	const n = 64
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := rpc.IssueCreateParams{Title: fmt.Sprintf("issue %d", i)}
			if i == n/2 {
				p.ID = "t-1"
			}
			res, err := c.IssueCreate(context.Background(), p)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = createdID(t, res)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if i == n/2 {
			if coord.ErrorCode(errs[i]) != coord.EConflict {
				t.Fatalf("create with t-1's id: %v, want conflict", errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("id %s given twice", ids[i])
		}
		seen[ids[i]] = true
	}
	if ready := h.d.Engine().Ready(0); len(ready) != n {
		t.Fatalf("%d issues ready, want %d (t-1 and the %d created)", len(ready), n, n-1)
	}
}

// BenchmarkConcurrentCreates is issue.create from 64 goroutines sharing 4 client connections: creates
// in flight together share commits.
func BenchmarkConcurrentCreates(b *testing.B) {
	h := start(b, nil, nil)
	ctx := context.Background()
	clients := make([]*rpc.Client, 4)
	for i := range clients {
		c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Hello(ctx, rpc.HelloParams{Name: fmt.Sprintf("cli%d", i), Role: "client", Protocol: 1}); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	b.SetParallelism(32) // 64 goroutines on 2 CPUs
	var next sync.Mutex
	k := 0
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		c := clients[k%len(clients)]
		k++
		next.Unlock()
		for pb.Next() {
			if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "bulk"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// TestPipelinedDependentCreates: a create that depends on an issue created by the request just before
// it on the same connection (sent together, before either reply) succeeds — the scheduler checks the
// dependency when it applies the put, after the first one — whether or not either create carries an
// idempotency key (a keyed create keeps its place too), and one naming a missing issue is refused.
// Each case runs several rounds on fresh connections: a create out of its place loses a race.
func TestPipelinedDependentCreates(t *testing.T) {
	h := start(t, nil, nil)
	cases := []struct{ name, parentKey, childKey string }{
		{"no keys", "", ""},
		{"keyed parent", `,"idempotency_key":"kp%d"`, ""},
		{"keyed child", "", `,"idempotency_key":"kc%d"`},
	}
	for ci, tc := range cases {
		for round := range 10 {
			n := ci*100 + round
			nc, err := net.Dial("unix", h.d.SocketPath())
			if err != nil {
				t.Fatal(err)
			}
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(nc)
			send := func(s string) {
				if _, err := nc.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			send(`{"jsonrpc":"2.0","id":0,"method":"hello","params":{"name":"cli","role":"client","protocol":1}}` + "\n")
			if l, err := r.ReadString('\n'); err != nil || !strings.Contains(l, `"result"`) {
				t.Fatalf("hello: %q %v", l, err)
			}
			pk, ck := tc.parentKey, tc.childKey
			if pk != "" {
				pk = fmt.Sprintf(pk, n)
			}
			if ck != "" {
				ck = fmt.Sprintf(ck, n)
			}
			send(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"issue.create","params":{"id":"p-epic%d","title":"epic"%s}}`+"\n"+
				`{"jsonrpc":"2.0","id":2,"method":"issue.create","params":{"id":"p-child%d","title":"child","deps":[{"id":"p-epic%d"}]%s}}`+"\n"+
				`{"jsonrpc":"2.0","id":3,"method":"issue.create","params":{"title":"orphan","deps":[{"id":"p-none"}]}}`+"\n", n, pk, n, n, ck))
			replies := map[string]string{}
			for range 3 {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				var m struct{ ID json.RawMessage }
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("reply %q: %v", l, err)
				}
				replies[string(m.ID)] = l
			}
			nc.Close()
			if !strings.Contains(replies["1"], `"result"`) || !strings.Contains(replies["2"], `"result"`) {
				t.Fatalf("%s, round %d: creates: %v", tc.name, round, replies)
			}
			if !strings.Contains(replies["3"], `"not_found"`) || !strings.Contains(replies["3"], "p-none") {
				t.Fatalf("%s, round %d: create depending on a missing issue: %s", tc.name, round, replies["3"])
			}
		}
	}
	for _, id := range h.d.Engine().Ready(0) {
		if !strings.HasPrefix(id, "p-epic") {
			t.Fatalf("%s is ready: a child must wait for its epic", id)
		}
	}
}

// TestKeyedCreateOutlivesItsCaller: a create with an idempotency key whose caller goes away while the
// engine applies it still commits, and the idempotency cache learns that outcome: a retry with the key
// (on a new connection) gets the same issue instead of creating a second one. The synchronous form
// (HTTP) waits for the outcome the same way when its context ends.
func TestKeyedCreateOutlivesItsCaller(t *testing.T) {
	var armed atomic.Bool
	held, release := make(chan struct{}, 1), make(chan struct{})
	h := start(t, nil, func(c *Config) {
		c.Coord.OnStep = func(time.Duration, int) {
			if armed.CompareAndSwap(true, false) {
				held <- struct{}{}
				<-release
			}
		}
	})
	ctx := context.Background()
	c1 := createClient(t, h)
	armed.Store(true)
	p := rpc.IssueCreateParams{Title: "once", Idempotency: rpc.Idempotency{IdempotencyKey: "create-once"}}
	errc := make(chan error, 1)
	go func() { _, err := c1.IssueCreate(ctx, p); errc <- err }()
	<-held // the create is being applied
	c1.Close()
	time.Sleep(50 * time.Millisecond) // the server sees the connection end
	release <- struct{}{}
	<-errc
	c2 := createClient(t, h)
	res, err := c2.IssueCreate(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if ready := h.d.Engine().Ready(0); len(ready) != 1 || !strings.Contains(string(res.Issue), `"id":"`+ready[0]+`"`) {
		t.Fatalf("one keyed create, retried: ready %v, retry answered %s", ready, res.Issue)
	}

	// the synchronous form, its context cancelled while the engine applies the create
	armed.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	type outcome struct {
		r   *rpc.IssueResult
		err error
	}
	out := make(chan outcome, 1)
	go func() {
		r, err := h.d.issues.create(cctx, rpc.IssueCreateParams{ID: "sync-1", Title: "sync"})
		out <- outcome{r, err}
	}()
	<-held
	cancel()
	time.Sleep(20 * time.Millisecond)
	release <- struct{}{}
	if o := <-out; o.err != nil || o.r == nil || !strings.Contains(string(o.r.Issue), `"id":"sync-1"`) {
		t.Fatalf("synchronous create whose context ended while it was applied: %+v", o)
	}
}

// TestCreatePrefixWithCallerGone: the id prefix of a workspace without issue-prefix in config.yaml
// comes from its stored ids; a create whose caller has already gone still reads it (and a default
// taken on a failed read would not be kept for the next creates).
func TestCreatePrefixWithCallerGone(t *testing.T) {
	h := start(t, []string{`{"id":"bd-a1","title":"seed","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`}, nil)
	eventually(t, 5*time.Second, "the seed issue imported", func() bool {
		_, _, err := h.d.db.GetIssue(context.Background(), "bd-a1")
		return err == nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []context.Context{ctx, context.Background()} {
		r, err := h.d.issues.create(c, rpc.IssueCreateParams{Title: "generated id"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Issue), `"id":"bd-`) {
			t.Fatalf("created %s, want an id under the workspace's prefix bd", r.Issue)
		}
	}
}

// TestCreateNotBehindAnEdit: an edit holds the issue service's lock while its change commits; a create
// (served on its connection's reader, so everything behind it on that connection waits with it) hands
// its put to the engine without waiting for that lock.
func TestCreateNotBehindAnEdit(t *testing.T) {
	var armed atomic.Bool
	held, release := make(chan struct{}, 1), make(chan struct{})
	h := start(t, []string{`{"id":"bd-a1","title":"seed","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`}, func(c *Config) {
		c.Coord.OnStep = func(time.Duration, int) {
			if armed.CompareAndSwap(true, false) {
				held <- struct{}{}
				<-release
			}
		}
	})
	ctx := context.Background()
	eventually(t, 5*time.Second, "the seed issue imported", func() bool {
		_, _, err := h.d.db.GetIssue(ctx, "bd-a1")
		return err == nil
	})
	armed.Store(true)
	edited := make(chan error, 1)
	go func() {
		title := "edited"
		_, err := h.d.issues.update(ctx, "test", rpc.IssueUpdateParams{ID: "bd-a1", Title: &title})
		edited <- err
	}()
	<-held // the edit's put is being applied; the edit holds the service's lock until it is durable
	handed := make(chan struct{})
	created := make(chan error, 1)
	go func() {
		h.d.issues.createAsync(ctx, rpc.IssueCreateParams{Title: "meanwhile"}, func(_ *rpc.IssueResult, err error) { created <- err })
		close(handed)
	}()
	select {
	case <-handed:
	case <-time.After(2 * time.Second):
		t.Error("the create waited for the edit's commit before reaching the engine")
	}
	close(release)
	if err := <-edited; err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
}
