package rpc

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// settleGoroutines waits (bounded) until ok(runtime.NumGoroutine()) holds and returns the last count.
func settleGoroutines(ok func(int) bool, within time.Duration) (int, bool) {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if ok(n) {
			return n, true
		}
		if time.Now().After(deadline) {
			return n, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnGoroutines: an idle connection that has said hello holds one goroutine, its reader — no
// writer of its own, no jsonrpc2.Conn (its reader and context watcher): N connections add N goroutines
// (3N before), and closing them gives them all back.
func TestIdleConnGoroutines(t *testing.T) {
	const n = 40
	ts := startServer(t, Options{MaxConns: 2 * n}, nil)
	base, _ := settleGoroutines(func(int) bool { return false }, 0)
	peers := make([]net.Conn, 0, n)
	buf := make([]byte, 4096)
	for i := range n {
		nc, err := net.Dial("unix", ts.unixPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		peers = append(peers, nc)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		hello := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"idle%d"}}`+"\n", i)
		if _, err := nc.Write([]byte(hello)); err != nil {
			t.Fatal(err)
		}
		if m, err := nc.Read(buf); err != nil || !strings.Contains(string(buf[:m]), `"result"`) {
			t.Fatalf("hello %d: %q %v", i, buf[:m], err)
		}
	}
	// Handler goroutines park for up to a second after the hellos: wait for them to go.
	const perConn = 1
	got, ok := settleGoroutines(func(g int) bool { return g-base <= perConn*n+4 }, 5*time.Second)
	if !ok {
		t.Fatalf("%d idle connections hold %d goroutines (%.2f each), want at most %d each", n, got-base, float64(got-base)/n, perConn)
	}
	for _, nc := range peers {
		nc.Close()
	}
	for range n {
		wait(t, ts.b.disconnected, "Disconnected")
	}
	if got, ok := settleGoroutines(func(g int) bool { return g <= base+2 }, 5*time.Second); !ok {
		t.Fatalf("after closing the peers: %d goroutines, %d before they connected", got, base)
	}
}

// orderPeer reads every frame a server sends to a raw peer on its own goroutine.
type orderPeer struct {
	*rawPeer
	frames chan string
}

func readAll(p *rawPeer) *orderPeer {
	op := &orderPeer{rawPeer: p, frames: make(chan string, 1<<16)}
	go func() {
		defer close(op.frames)
		for {
			p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := p.fr.next()
			if err != nil {
				return
			}
			op.frames <- string(b)
		}
	}()
	return op
}

// TestOnDemandWriterOrder: pushes from several goroutines and replies to the peer's requests, all
// interleaved with pauses so the connection's writer starts and stops many times, each arrive exactly
// once, and each pusher's frames arrive in the order it queued them.
func TestOnDemandWriterOrder(t *testing.T) {
	ts := startServer(t, Options{QueueLen: 1 << 16}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	if r := p.hello(""); !strings.Contains(r, `"result"`) {
		t.Fatalf("hello: %s", r)
	}
	sess := ts.b.sessionOf(t, "w1")
	op := readAll(p)
	const pushers, perPusher, requests = 4, 300, 300
	var wg sync.WaitGroup
	for g := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perPusher {
				l := benchLease
				l.ID = fmt.Sprintf("L-%d-%d", g, j)
				if err := ts.Push("w1", sess, Assignment{Lease: l, Issue: issueJSON("bd-1")}); err != nil {
					t.Errorf("push %s: %v", l.ID, err)
					return
				}
				if j%7 == 0 {
					time.Sleep(time.Duration(j%3) * 100 * time.Microsecond)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range requests {
			p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"r%d","method":"issue.get","params":{"id":"bd-%d"}}`, i, i))
			if i%5 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	next := make([]int, pushers)
	replies := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for len(replies) < requests || sum(next) < pushers*perPusher {
		var f string
		select {
		case f = <-op.frames:
		case <-timeout:
			t.Fatalf("timed out: %d replies, pushes seen %v", len(replies), next)
		}
		if f == "" {
			t.Fatalf("connection closed: %d replies, pushes seen %v", len(replies), next)
		}
		if strings.Contains(f, `"method":"assign"`) {
			var g, j int
			i := strings.Index(f, `"id":"L-`)
			if i < 0 {
				t.Fatalf("assign without a lease id: %s", f)
			}
			if _, err := fmt.Sscanf(f[i+len(`"id":"L-`):], "%d-%d", &g, &j); err != nil {
				t.Fatalf("lease id in %s: %v", f, err)
			}
			if j != next[g] {
				t.Fatalf("pusher %d: push %d arrived when %d was due", g, j, next[g])
			}
			next[g]++
			continue
		}
		i := strings.Index(f, `"id":"r`)
		if i < 0 {
			t.Fatalf("unexpected frame %s", f)
		}
		id := f[i+len(`"id":"`):]
		id = id[:strings.IndexByte(id, '"')]
		if replies[id] {
			t.Fatalf("reply %s twice", id)
		}
		replies[id] = true
	}
	wg.Wait()
}

func sum(xs []int) (n int) {
	for _, x := range xs {
		n += x
	}
	return n
}

// cleanupCounter counts, per session, the cleanups a connection gets: Disconnected from the backend
// (authenticated connections only) and Conns(-1) from the observer.
type cleanupCounter struct {
	*fakeBackend
	mu     sync.Mutex
	disc   map[uint64]int
	opened atomic.Int64
	closed atomic.Int64
}

func newCleanupCounter() *cleanupCounter {
	return &cleanupCounter{fakeBackend: newFake(), disc: map[uint64]int{}}
}

func (b *cleanupCounter) Disconnected(ctx context.Context, s *Session) {
	b.mu.Lock()
	b.disc[s.ID]++
	b.mu.Unlock()
	b.fakeBackend.Disconnected(ctx, s)
}
func (b *cleanupCounter) RPC(string, int, time.Duration) {}
func (b *cleanupCounter) Bytes(string, int)              {}
func (b *cleanupCounter) Conns(_ string, d int) {
	if d > 0 {
		b.opened.Add(1)
	} else {
		b.closed.Add(1)
	}
}

// check waits (bounded) for every opened connection to be cleaned up, then checks each authenticated
// session got exactly one Disconnected and the server holds no connection.
func (b *cleanupCounter) check(t *testing.T, s *Server, authed int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.closed.Load() < b.opened.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a second cleanup would show now
	if o, c := b.opened.Load(), b.closed.Load(); o != c {
		t.Fatalf("%d connections opened, %d closed", o, c)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.disc) != authed {
		t.Fatalf("Disconnected for %d sessions, want %d: %v", len(b.disc), authed, b.disc)
	}
	for id, n := range b.disc {
		if n != 1 {
			t.Fatalf("session %d: Disconnected %d times", id, n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) != 0 || s.nconns != 0 {
		t.Fatalf("server still holds %d connections (count %d)", len(s.conns), s.nconns)
	}
}

// busyPeer says hello and keeps the server writing to it (pushes and replies) from a goroutine until
// the connection fails; it reads everything.
func busyPeer(t *testing.T, s *Server, b *cleanupCounter, addr, name string) (*rawPeer, func()) {
	p := dialRaw(t, "unix", addr, FramingNDJSON)
	r := p.call(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"` + name + `"}}`)
	if !strings.Contains(r, `"result"`) {
		t.Fatalf("hello: %s", r)
	}
	sess := b.sessionOf(t, name)
	go func() {
		for {
			p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := p.fr.next(); err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l := benchLease
			l.ID = fmt.Sprint("L-", i)
			if s.Push(name, sess, Assignment{Lease: l, Issue: issueJSON("bd-1")}) != nil {
				return
			}
			p.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := p.nc.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"heartbeat","params":{"lease_id":"L","epoch":1}}` + "\n")); err != nil {
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()
	return p, func() { close(stop); <-done }
}

// TestCleanupOnce: a connection's cleanup (Disconnected for an authenticated one, Conns(-1), its
// slot) happens exactly once, whether the peer closes (while the server is writing to it), the hello
// timer fires, or the server shuts down.
func TestCleanupOnce(t *testing.T) {
	t.Run("peer closes", func(t *testing.T) {
		b := newCleanupCounter()
		s, addr := serveUnix(t, Options{Observer: b}, b)
		var stops []func()
		for i := range 8 {
			p, stop := busyPeer(t, s, b, addr, fmt.Sprint("w", i))
			stops = append(stops, stop)
			time.Sleep(time.Duration(i) * time.Millisecond)
			p.nc.Close()
		}
		for _, stop := range stops {
			stop()
		}
		b.check(t, s, 8)
	})
	t.Run("hello timer", func(t *testing.T) {
		b := newCleanupCounter()
		s, addr := serveUnix(t, Options{Observer: b, HelloTimeout: 100 * time.Millisecond}, b)
		var peers []*rawPeer
		for range 8 {
			p := dialRaw(t, "unix", addr, FramingNDJSON)
			// requests before hello: replies (errors) are being written when the timer fires
			for i := range 20 {
				p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"issue.get","params":{"id":"x"}}`, i))
			}
			peers = append(peers, p)
		}
		for _, p := range peers {
			p.expectClosed()
		}
		b.check(t, s, 0)
	})
	t.Run("shutdown", func(t *testing.T) {
		b := newCleanupCounter()
		s, addr := serveUnix(t, Options{Observer: b}, b)
		var stops []func()
		for i := range 8 {
			_, stop := busyPeer(t, s, b, addr, fmt.Sprint("w", i))
			stops = append(stops, stop)
		}
		time.Sleep(20 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx, "bye"); err != nil {
			t.Fatal(err)
		}
		// Shutdown waited for every cleanup: nothing is left to wait for.
		if o, c := b.opened.Load(), b.closed.Load(); o != c || o != 8 {
			t.Fatalf("Shutdown returned with %d connections opened, %d cleaned up", o, c)
		}
		for _, stop := range stops {
			stop()
		}
		b.check(t, s, 8)
	})
}
