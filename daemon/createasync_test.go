package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
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
// dependency when it applies the put, after the first one — and one naming a missing issue is refused.
func TestPipelinedDependentCreates(t *testing.T) {
	h := start(t, nil, nil)
	nc, err := net.Dial("unix", h.d.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
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
	send(`{"jsonrpc":"2.0","id":1,"method":"issue.create","params":{"id":"p-epic","title":"epic"}}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"issue.create","params":{"id":"p-child","title":"child","deps":[{"id":"p-epic"}]}}` + "\n" +
		`{"jsonrpc":"2.0","id":3,"method":"issue.create","params":{"title":"orphan","deps":[{"id":"p-none"}]}}` + "\n")
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
	if !strings.Contains(replies["1"], `"result"`) || !strings.Contains(replies["2"], `"result"`) {
		t.Fatalf("creates: %v", replies)
	}
	if !strings.Contains(replies["3"], `"not_found"`) || !strings.Contains(replies["3"], "p-none") {
		t.Fatalf("create depending on a missing issue: %s", replies["3"])
	}
	if ready := h.d.Engine().Ready(0); len(ready) != 1 || ready[0] != "p-epic" {
		t.Fatalf("ready %v, want only p-epic (p-child waits for it)", ready)
	}
}
