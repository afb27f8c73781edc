package rpc

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// closeWatch is an AsyncBackend that counts the creates handed to it, and those handed to it after
// Disconnected or after Server.Shutdown returned.
type closeWatch struct {
	*fakeBackend
	calls, afterDisc, afterShut atomic.Int64
	disconnected, shutDown      atomic.Bool
}

func (b *closeWatch) Acked(context.Context, *Session, string, int64)            {}
func (b *closeWatch) Rejected(context.Context, *Session, string, int64, string) {}
func (b *closeWatch) Disconnected(context.Context, *Session)                    { b.disconnected.Store(true) }
func (b *closeWatch) IssueCreateAsync(_ context.Context, _ *Session, p IssueCreateParams, done func(*IssueResult, error)) {
	b.calls.Add(1)
	if b.disconnected.Load() {
		b.afterDisc.Add(1)
	}
	if b.shutDown.Load() {
		b.afterShut.Add(1)
	}
	time.Sleep(2 * time.Millisecond) // the reader is busy in the backend, as with a store read
	done(&IssueResult{Issue: issueJSON(p.Title)}, nil)
}
func (b *closeWatch) CompleteAsync(context.Context, *Session, CompleteParams, func(*CompleteResult, error)) {
}
func (b *closeWatch) FailAsync(context.Context, *Session, FailParams, func(*FailResult, error)) {}

// TestReaderStopsAtClose: the reader serves issue.create itself, so a batch of creates it is going
// through when the connection closes (here by Shutdown) must stop there: nothing reaches the backend
// after Disconnected or after Shutdown has returned (Shutdown waits for the connections' goroutines), and the creates not served are not applied.
func TestReaderStopsAtClose(t *testing.T) {
	b := &closeWatch{fakeBackend: newFake()}
	s, addr := serveUnix(t, Options{}, b)
	p := helloRaw(t, addr)
	const n = 256 // the most one batch may hold
	var sb strings.Builder
	sb.WriteString("[")
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"jsonrpc":"2.0","id":%d,"method":"issue.create","params":{"title":"t%d"}}`, i, i)
	}
	sb.WriteString("]")
	p.send(sb.String())
	for i := 0; b.calls.Load() < 5; i++ {
		if i == 10000 {
			t.Fatalf("%d of %d creates reached the backend within 10s", b.calls.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, "bye"); err != nil {
		t.Fatal(err)
	}
	b.shutDown.Store(true)
	atShutdown := b.calls.Load()
	time.Sleep(200 * time.Millisecond)
	if b.afterDisc.Load() > 0 || b.afterShut.Load() > 0 || b.calls.Load() != atShutdown {
		t.Fatalf("creates handed to the backend: %d when Shutdown returned, %d in all; %d after Disconnected, %d after Shutdown returned",
			atShutdown, b.calls.Load(), b.afterDisc.Load(), b.afterShut.Load())
	}
	if atShutdown >= n {
		t.Fatalf("all %d creates were served: the connection was closed too late for the test to mean anything", n)
	}
}
