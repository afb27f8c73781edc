package rpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// benchIssue is a ~500-byte issue record, the size the performance notes planned with.
var benchIssue = json.RawMessage(`{"id":"bd-a1b2c","title":"Make the scheduler fair across rigs","description":"` +
	strings.Repeat("Workers on small rigs starve when a big rig floods the queue. ", 6) +
	`","status":"open","priority":1,"issue_type":"task","labels":["sched","rig:a"],"created_at":"2026-11-01T10:00:00Z","updated_at":"2026-11-02T10:00:00Z"}`)

var benchLease = coord.Lease{ID: "L-17", IssueID: "bd-a1b2c", Worker: "w1", Epoch: 17, State: coord.LeasePushed, Attempt: 1,
	CreatedAt: time.Unix(1700000000, 0).UTC(), AckDeadline: time.Unix(1700000010, 0).UTC(), Deadline: time.Unix(1700000060, 0).UTC()}

// BenchmarkAssignEncodeLibrary is the cost of an assign request built the jsonrpc2 way (params marshalled into a Request).
func BenchmarkAssignEncodeLibrary(b *testing.B) {
	a := Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "Make the scheduler fair across rigs"}
	b.ReportAllocs()
	for b.Loop() {
		req := &jsonrpc2.Request{Method: "assign", ID: jsonrpc2.ID{Num: 17}}
		if err := req.SetParams(a); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPush is Server.Push to a connected peer: frame built around the raw issue bytes and queued.
func BenchmarkPush(b *testing.B) {
	ts := startServer(b, Options{QueueLen: 1 << 16, AckTimeout: time.Hour}, nil)
	p := dialRaw(b, "unix", ts.unixPath, FramingNDJSON)
	p.hello("")
	sess := ts.b.sessionOf(b, "w1")
	done := make(chan struct{})
	go func() { // drain the socket
		defer close(done)
		buf := make([]byte, 1<<16)
		for {
			if _, err := p.nc.Read(buf); err != nil {
				return
			}
		}
	}()
	a := Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "Make the scheduler fair across rigs"}
	p.nc.SetReadDeadline(time.Time{})
	b.ReportAllocs()
	for b.Loop() {
		if err := ts.Push("w1", sess, a); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p.nc.Close()
	<-done
}

// BenchmarkRoundTrip is one coord.status call through the Go client over a Unix socket.
func BenchmarkRoundTrip(b *testing.B) {
	for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
		b.Run(mode.String(), func(b *testing.B) {
			ts := startServer(b, Options{}, nil)
			c := dialClient(b, DialOptions{Network: "unix", Addr: ts.unixPath, Framing: mode})
			ctx := context.Background()
			if _, err := c.Hello(ctx, HelloParams{Name: "w1"}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.IssueGet(ctx, IssueGetParams{ID: "bd-1"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPushAck is a full push → client OnAssign → ack → Backend.Acked cycle.
func BenchmarkPushAck(b *testing.B) {
	ts := startServer(b, Options{}, nil)
	c := dialClient(b, DialOptions{Network: "unix", Addr: ts.unixPath})
	c.OnAssign(func(context.Context, Assignment) (bool, string) { return true, "" })
	if _, err := c.Hello(context.Background(), HelloParams{Name: "w1"}); err != nil {
		b.Fatal(err)
	}
	sess := ts.b.sessionOf(b, "w1")
	a := Assignment{Lease: benchLease, Issue: benchIssue}
	b.ReportAllocs()
	for b.Loop() {
		if err := ts.Push("w1", sess, a); err != nil {
			b.Fatal(err)
		}
		<-ts.b.acked
	}
}

// BenchmarkDispatch is the server side of one request without sockets (parse, dispatch, encode).
func BenchmarkDispatch(b *testing.B) {
	c := fuzzConn()
	defer c.kill()
	c.handleFrame([]byte(`{"jsonrpc":"2.0","id":0,"method":"hello","params":{"name":"w"}}`))
	c.out.next()
	frame := []byte(`{"jsonrpc":"2.0","id":12,"method":"complete","params":{"lease_id":"L-17","epoch":7,"outcome":"success","summary":"done","git_commit":"abc123"}}`)
	b.ReportAllocs()
	for b.Loop() {
		c.handleFrame(frame)
		c.out.next()
	}
}
