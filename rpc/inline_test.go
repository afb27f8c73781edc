package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestWriteFrameSkip: writeFrame less its first skip bytes writes the rest of the framed frame, for
// every skip and both framings (the rest of a frame its sender wrote in part).
func TestWriteFrameSkip(t *testing.T) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"result":{"x":"yz"}}`)
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		framed := appendFrame(nil, mode, body)
		for skip := 0; skip <= len(framed); skip++ {
			var out bytes.Buffer
			bw := bufio.NewWriter(&out)
			n, err := writeFrame(bw, mode, body, skip)
			if err != nil || bw.Flush() != nil {
				t.Fatal(err)
			}
			if n != len(framed)-skip || !bytes.Equal(out.Bytes(), framed[skip:]) {
				t.Fatalf("%v skip %d: wrote %d %q, want %q", mode, skip, n, out.Bytes(), framed[skip:])
			}
		}
		var hdr [40]byte
		a, b := frameParts(&hdr, mode, body)
		if got := append(append([]byte(nil), a...), b...); !bytes.Equal(got, framed) {
			t.Fatalf("%v: frameParts %q, appendFrame %q", mode, got, framed)
		}
	}
}

// TestOutQueueClaim: a sender takes the writer role for its frame only when nothing is queued and no
// writer runs; frames put meanwhile wait for it (release hands the role to a writer), and the rest of
// its frame goes out ahead of them (pushFront).
func TestOutQueueClaim(t *testing.T) {
	q := newOutQueue(2)
	if ok, start, mine, _ := q.putOrClaim(outItem{body: []byte("a")}, true); !ok || start || !mine {
		t.Fatalf("claim on an idle queue: ok %v start %v mine %v", ok, start, mine)
	}
	if len(q.items) != 0 {
		t.Fatal("a claimed frame was queued")
	}
	if ok, start, mine, _ := q.putOrClaim(outItem{body: []byte("b")}, true); !ok || start || mine {
		t.Fatalf("put while a sender writes: ok %v start %v mine %v", ok, start, mine)
	}
	if !q.release() {
		t.Fatal("release with a frame queued gave the role up")
	}
	q.pushFront(outItem{body: []byte("a"), skip: 1}) // as if a's write had been partial
	buf, more := q.takeOrIdle(nil)
	if !more || len(buf) != 2 || string(buf[0].body) != "a" || buf[0].skip != 1 || string(buf[1].body) != "b" {
		t.Fatalf("writer's take: %+v", buf)
	}
	if _, more = q.takeOrIdle(buf); more {
		t.Fatal("empty queue: the writer goes on")
	}
	q.writer.Done()
	if _, _, mine, _ := q.putOrClaim(outItem{body: []byte("c")}, true); !mine {
		t.Fatal("idle again: no claim")
	}
	if q.release() {
		t.Fatal("release with nothing queued kept the role")
	}
	q.writer.Done()
	if _, _, mine, _ := q.putOrClaim(outItem{body: []byte("d")}, false); mine {
		t.Fatal("claimed without asking")
	}
	q.take(nil)
	q.stop()
	q.writer.Done()
	q.close()
	if ok, _, mine, room := q.putOrClaim(outItem{body: []byte("e")}, true); ok || mine || room != nil {
		t.Fatalf("claim after close: ok %v mine %v", ok, mine)
	}
}

// TestBurstGoesToWriter: a frame that follows the connection's last direct write by less than
// burstGap is not written directly (its sender writing frame after frame would make a syscall for
// each; a writer goroutine writes what accumulates with one), one after it is.
func TestBurstGoesToWriter(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	c := connOf(ts, ts.b.sessionOf(t, "w1"))
	it := outItem{body: []byte(`{}`)}
	if !c.canInline(it) {
		t.Fatal("an idle connection's frame is not written by its sender")
	}
	c.inlineAt.Store(monoNow() + int64(time.Hour)) // a direct write just ended, whatever the clock does
	if c.canInline(it) {
		t.Fatal("a frame right after a direct write is written by its sender")
	}
	c.inlineAt.Store(monoNow() - int64(burstGap))
	if !c.canInline(it) {
		t.Fatal("a frame burstGap after a direct write is not written by its sender")
	}
}

// TestIdleConnWritesInline: on a connection that keeps up, every frame — replies written by the
// reader, pushes — is written by its sender: no writer goroutine starts (one started per frame before).
func TestIdleConnWritesInline(t *testing.T) {
	for _, tc := range []struct {
		network string
		mode    Framing
	}{{"unix", FramingNDJSON}, {"tcp", FramingLSP}} {
		t.Run(tc.network, func(t *testing.T) {
			ts := startServer(t, Options{}, nil)
			addr := ts.unixPath
			if tc.network == "tcp" {
				addr = ts.tcpAddr
			}
			p := dialRaw(t, tc.network, addr, tc.mode)
			if r := p.hello(testToken); !strings.Contains(r, `"result"`) {
				t.Fatalf("hello: %s", r)
			}
			sess := ts.b.sessionOf(t, "w1")
			c := connOf(ts, sess)
			for i := range 50 {
				// A frame's sender gives the writer role up just after its write: the peer may have the
				// frame before then, and a frame sent at that moment is queued for a writer goroutine.
				waitWriterIdle(t, c)
				if r := p.call(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"issue.get","params":{"id":"bd-%d"}}`, i, i)); !strings.Contains(r, fmt.Sprintf(`"id":"bd-%d"`, i)) {
					t.Fatalf("reply %d: %s", i, r)
				}
				l := benchLease
				l.ID = fmt.Sprint("L-", i)
				waitWriterIdle(t, c)
				if err := ts.Push("w1", sess, Assignment{Lease: l, Issue: issueJSON("bd-1")}); err != nil {
					t.Fatal(err)
				}
				if r := p.recv(); !strings.Contains(r, `"id":"L-`+fmt.Sprint(i)+`"`) {
					t.Fatalf("push %d: %s", i, r)
				}
			}
			if n := ts.writerStarts.Load(); n != 0 {
				t.Fatalf("%d writer goroutines started for 101 frames on an idle connection, want 0", n)
			}
		})
	}
}

// TestSlowPeerGetsPartlyWrittenFrames: a peer that stops reading fills its socket; the frames
// written in part by their senders, and those queued behind them, reach it whole and in order once
// it reads again, and the connection then goes back to direct writes.
func TestSlowPeerGetsPartlyWrittenFrames(t *testing.T) {
	for _, tc := range []struct {
		network string
		mode    Framing
	}{{"unix", FramingNDJSON}, {"tcp", FramingLSP}} {
		t.Run(tc.network, func(t *testing.T) {
			ts := startServer(t, Options{QueueLen: 1 << 12, WriteTimeout: time.Minute}, nil)
			addr := ts.unixPath
			if tc.network == "tcp" {
				addr = ts.tcpAddr
			}
			p := dialRaw(t, tc.network, addr, tc.mode)
			p.hello(testToken)
			sess := ts.b.sessionOf(t, "w1")
			shrinkSendBuffer(t, ts, sess)
			// Frames of 1 KiB to 257 KiB while the peer reads nothing, the second one of 2 MiB: more
			// than the socket takes at once, and it is the first frame it does not take whole (written
			// in part). Bounded: 40 frames, ~7 MiB.
			sizes := make([]int, 40)
			for i := range sizes {
				sizes[i] = 1<<10 + (i*i*7919)%(256<<10)
			}
			sizes[1] = 2 << 20
			c := connOf(ts, sess)
			for i, n := range sizes {
				if i == 1 {
					waitWriterIdle(t, c) // written by its sender
				}
				l := benchLease
				l.ID = fmt.Sprint("L-", i)
				issue := json.RawMessage(`{"id":"bd-1","pad":"` + strings.Repeat(string(rune('a'+i%26)), n) + `"}`)
				if err := ts.Push("w1", sess, Assignment{Lease: l, Issue: issue}); err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
			}
			if ts.partialWrites.Load() == 0 {
				t.Fatal("no frame was written in part")
			}
			if ts.writerStarts.Load() == 0 {
				t.Fatal("no writer goroutine took over from a partial write")
			}
			time.Sleep(50 * time.Millisecond) // the writer is blocked on the full socket
			for i, n := range sizes {
				r := p.recv()
				var m struct {
					Params struct {
						Lease coord.Lease
						Issue struct{ Pad string }
					}
				}
				if err := json.Unmarshal([]byte(r), &m); err != nil {
					t.Fatalf("frame %d (%d bytes): %v", i, len(r), err)
				}
				if m.Params.Lease.ID != fmt.Sprint("L-", i) {
					t.Fatalf("frame %d is lease %s", i, m.Params.Lease.ID)
				}
				if want := strings.Repeat(string(rune('a'+i%26)), n); m.Params.Issue.Pad != want {
					t.Fatalf("frame %d: pad of %d bytes, want %d", i, len(m.Params.Issue.Pad), n)
				}
			}
			// Drained: the writer stops, and the next frames are written directly again.
			waitWriterIdle(t, c)
			starts := ts.writerStarts.Load()
			if r := p.call(`{"jsonrpc":"2.0","id":"after","method":"issue.get","params":{"id":"bd-9"}}`); !strings.Contains(r, `"after"`) {
				t.Fatalf("reply after the drain: %s", r)
			}
			if got := ts.writerStarts.Load(); got != starts {
				t.Fatalf("a writer goroutine started for a reply on a drained connection (%d, then %d)", starts, got)
			}
		})
	}
}

// TestInlineConcurrentSourcesOrder: pushes from several goroutines, events and replies, sent at once
// in rounds while the peer does not read (the socket fills: frames are written whole or in part by
// their senders, then queued for a writer goroutine) and then read, each arrive exactly once, whole,
// and pushes and events in the order they were sent.
func TestInlineConcurrentSourcesOrder(t *testing.T) {
	for _, tc := range []struct {
		network string
		mode    Framing
	}{{"unix", FramingNDJSON}, {"tcp", FramingLSP}} {
		t.Run(tc.network, func(t *testing.T) {
			ts := startServer(t, Options{QueueLen: 1 << 16, WriteTimeout: time.Minute}, nil)
			addr := ts.unixPath
			if tc.network == "tcp" {
				addr = ts.tcpAddr
			}
			p := dialRaw(t, tc.network, addr, tc.mode)
			p.hello(testToken)
			if r := p.call(`{"jsonrpc":"2.0","id":"s","method":"events.subscribe"}`); !strings.Contains(r, `"subscribed":true`) {
				t.Fatalf("subscribe: %s", r)
			}
			sess := ts.b.sessionOf(t, "w1")
			shrinkSendBuffer(t, ts, sess)
			const rounds, pushers, perPusher, events, requests = 12, 4, 24, 16, 16
			next := make([]int, pushers)
			nextEvent := 0
			replies := map[string]bool{}
			for round := range rounds {
				var wg sync.WaitGroup
				for g := range pushers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := range perPusher {
							j := round*perPusher + k
							l := benchLease
							l.ID = fmt.Sprintf("L-%d-%d", g, j)
							pad := strings.Repeat("p", (j*j*131+g*7)%(24<<10))
							issue := json.RawMessage(`{"id":"bd-1","pad":"` + pad + `"}`)
							if err := ts.Push("w1", sess, Assignment{Lease: l, Issue: issue}); err != nil {
								t.Errorf("push %s: %v", l.ID, err)
								return
							}
						}
					}()
				}
				wg.Add(2)
				go func() {
					defer wg.Done()
					for k := range events {
						i := round*events + k
						ts.Publish(coord.Event{Seq: int64(i), Kind: "assigned", Detail: strings.Repeat("e", (i*i*97)%(8<<10))})
					}
				}()
				go func() {
					defer wg.Done()
					for k := range requests {
						i := round*requests + k
						p.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"r%d","method":"issue.get","params":{"id":"bd-%d"}}`, i, i))
					}
				}()
				wg.Wait()
				if t.Failed() {
					return
				}
				// Read all but a few frames (all at the end): the next round starts on a socket that
				// is partly full, with no writer running.
				leave := round % 4
				if round == rounds-1 {
					leave = 0
				}
				for len(replies)+sum(next)+nextEvent < (round+1)*(requests+pushers*perPusher+events)-leave {
					p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
					b, err := p.fr.next()
					if err != nil {
						t.Fatalf("round %d: %v: %d replies, pushes seen %v, %d events", round, err, len(replies), next, nextEvent)
					}
					var m struct {
						ID     json.RawMessage
						Method string
						Params struct {
							Lease coord.Lease
							Seq   *int64
						}
					}
					if err := json.Unmarshal(b, &m); err != nil {
						t.Fatalf("frame is not JSON (%v): %.200s", err, b)
					}
					switch m.Method {
					case "assign":
						var g, j int
						if _, err := fmt.Sscanf(m.Params.Lease.ID, "L-%d-%d", &g, &j); err != nil {
							t.Fatalf("lease id %q: %v", m.Params.Lease.ID, err)
						}
						if j != next[g] {
							t.Fatalf("pusher %d: push %d arrived when %d was due", g, j, next[g])
						}
						next[g]++
					case "event":
						if m.Params.Seq == nil || *m.Params.Seq != int64(nextEvent) {
							t.Fatalf("event %v arrived when %d was due", m.Params.Seq, nextEvent)
						}
						nextEvent++
					default:
						id := strings.Trim(string(m.ID), `"`)
						if !strings.HasPrefix(id, "r") {
							t.Fatalf("unexpected frame %.200s", b)
						}
						if replies[id] {
							t.Fatalf("reply %s twice", id)
						}
						replies[id] = true
					}
				}
			}
			starts, partial := ts.writerStarts.Load(), ts.partialWrites.Load()
			t.Logf("writer goroutines started %d, frames written in part by their senders %d", starts, partial)
			if starts == 0 {
				t.Fatal("the socket never filled: no writer goroutine started")
			}
		})
	}
}

// shrinkSendBuffer fixes the server's send buffer of a connection at a small size, so that a peer
// that does not read fills it with a few frames (a Unix socket's frames wait in it). A TCP socket's
// is fixed larger (a buffer of less than a loopback segment, 64 KiB, stalls the connection), and
// its peer's receive buffer holds more.
func shrinkSendBuffer(t *testing.T, ts *testServer, sess uint64) {
	t.Helper()
	var err error
	switch nc := connOf(ts, sess).nc.(type) {
	case *net.UnixConn:
		err = nc.SetWriteBuffer(16 << 10)
	case *net.TCPConn:
		err = nc.SetWriteBuffer(256 << 10)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func connOf(ts *testServer, sess uint64) *conn {
	ts.Server.mu.Lock()
	defer ts.Server.mu.Unlock()
	return ts.conns[sess]
}

// waitWriterIdle waits (bounded) until nobody holds c's writer role and its last direct write ended
// burstGap ago or more: c's next frame is written by its sender.
func waitWriterIdle(t *testing.T, c *conn) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.out.mu.Lock()
		idle := !c.out.writing
		c.out.mu.Unlock()
		if idle && monoNow()-c.inlineAt.Load() >= int64(burstGap) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection's writer did not stop")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestDirectWritesResumeAfterIdle: a writer goroutine's write deadline does not outlive its batch, so
// frames sent after an idle time longer than WriteTimeout are still written by their sender (a passed
// deadline made every later direct write "not tried", each frame starting a writer goroutine).
func TestDirectWritesResumeAfterIdle(t *testing.T) {
	ts := startServer(t, Options{WriteTimeout: 100 * time.Millisecond}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	c := connOf(ts, ts.b.sessionOf(t, "w1"))
	c.inlineAt.Store(monoNow() + int64(time.Hour)) // the next frame goes through a writer goroutine
	p.call(`{"jsonrpc":"2.0","id":"a","method":"issue.get","params":{"id":"bd-1"}}`)
	c.inlineAt.Store(0)
	waitWriterIdle(t, c)
	base := ts.writerStarts.Load()
	for range 3 {
		time.Sleep(150 * time.Millisecond) // idle for longer than WriteTimeout
		p.call(`{"jsonrpc":"2.0","id":"b","method":"issue.get","params":{"id":"bd-1"}}`)
		waitWriterIdle(t, c)
	}
	if n := ts.writerStarts.Load() - base; n != 0 {
		t.Fatalf("%d of 3 replies after an idle time > WriteTimeout started a writer goroutine, want 0", n)
	}
}
