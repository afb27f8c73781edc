package rpc

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// panicky is an AsyncBackend whose IssueCreateAsync panics, after calling back or before; a title
// "fine" is served normally.
type panicky struct {
	*fakeBackend
	afterDone bool
	creates   atomic.Int64
}

func (b *panicky) Acked(context.Context, *Session, string, int64)            {}
func (b *panicky) Rejected(context.Context, *Session, string, int64, string) {}
func (b *panicky) IssueCreateAsync(_ context.Context, _ *Session, p IssueCreateParams, done func(*IssueResult, error)) {
	b.creates.Add(1)
	if p.Title == "fine" {
		done(&IssueResult{Issue: issueJSON(p.Title)}, nil)
		return
	}
	if b.afterDone {
		done(&IssueResult{Issue: issueJSON(p.Title)}, nil)
	}
	panic("backend bug")
}
func (b *panicky) CompleteAsync(context.Context, *Session, CompleteParams, func(*CompleteResult, error)) {
}
func (b *panicky) FailAsync(context.Context, *Session, FailParams, func(*FailResult, error)) {}

// repliesFor reads frames until none comes for 300 ms and returns those answering id.
func repliesFor(p *rawPeer, id string) []string {
	var out []string
	for {
		p.nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b, err := p.fr.next()
		if err != nil {
			return out
		}
		if strings.Contains(string(b), `"id":`+id) {
			out = append(out, string(b))
		}
	}
}

// TestAsyncBackendPanicOneReply: a request served asynchronously gets exactly one reply when the
// backend panics — its result when it had called back first, an internal error otherwise — and a
// keyed request whose first attempt panicked is not left pending: its retry runs again.
func TestAsyncBackendPanicOneReply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		afterDone bool
		want      string
	}{
		{"panic after the callback", true, `"result"`},
		{"panic before the callback", false, `"code":-32603`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &panicky{fakeBackend: newFake(), afterDone: tc.afterDone}
			_, addr := serveUnix(t, Options{}, b)
			p := helloRaw(t, addr)
			p.send(`{"jsonrpc":"2.0","id":41,"method":"issue.create","params":{"title":"x"}}`)
			if got := repliesFor(p, "41"); len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("replies to id 41: %q, want one with %s", got, tc.want)
			}
			keyed := `{"jsonrpc":"2.0","id":42,"method":"issue.create","params":{"title":"x","idempotency_key":"k"}}`
			p.send(keyed)
			if got := repliesFor(p, "42"); len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("replies to keyed id 42: %q, want one with %s", got, tc.want)
			}
			n := b.creates.Load()
			p.send(strings.Replace(keyed, `"id":42`, `"id":43`, 1))
			got := repliesFor(p, "43")
			if len(got) != 1 {
				t.Fatalf("replies to the keyed retry: %q", got)
			}
			if tc.afterDone {
				if b.creates.Load() != n || !strings.Contains(got[0], `"result"`) {
					t.Fatalf("retry of a decided key: %q after %d backend calls (want the first result, no call)", got, b.creates.Load()-n)
				}
			} else if b.creates.Load() != n+1 {
				t.Fatalf("retry of a key whose first attempt panicked: %d backend calls, want 1 (it must run again)", b.creates.Load()-n)
			}
		})
	}
}
