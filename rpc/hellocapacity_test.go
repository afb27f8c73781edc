package rpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// capacityBackend records the capacity each hello's session was opened with.
type capacityBackend struct {
	*fakeBackend
	caps chan int
}

func (b *capacityBackend) Hello(ctx context.Context, s *Session, p HelloParams) (*HelloResult, error) {
	b.caps <- s.Capacity
	return b.fakeBackend.Hello(ctx, s, p)
}

// TestHelloCapacityZero: an explicit "capacity":0 from a worker or refinery is refused (-32602 naming the
// field) instead of being read as 1 and pushed work; an absent (or null) capacity still defaults to 1, and a
// client's 0 stands. The Go client never sends a zero capacity (omitempty), so its hellos are unchanged.
func TestHelloCapacityZero(t *testing.T) {
	b := &capacityBackend{fakeBackend: newFake(), caps: make(chan int, 16)}
	_, addr := serveUnix(t, Options{}, b)
	for i, tc := range []struct {
		params  string
		wantCap int // -1: refused
	}{
		{`{"name":"w1","role":"worker","capacity":0}`, -1},
		{`{"name":"w2","capacity":0}`, -1}, // role defaults to worker
		{`{"name":"r1","role":"refinery","capacity":0}`, -1},
		{`{"name":"w3","role":"worker"}`, 1},
		{`{"name":"w4","role":"worker","capacity":null}`, 1},
		{`{"name":"w5","role":"worker","capacity":3}`, 3},
		{`{"name":"c1","role":"client","capacity":0}`, 0},
		{`{"name":"c2","role":"client"}`, 0},
	} {
		p := dialRaw(t, "unix", addr, FramingNDJSON)
		r := p.call(`{"jsonrpc":"2.0","id":1,"method":"hello","params":` + tc.params + `}`)
		var rep struct {
			Error  *wireError
			Result json.RawMessage
		}
		if err := json.Unmarshal([]byte(r), &rep); err != nil {
			t.Fatalf("%d: %s: %v", i, r, err)
		}
		if tc.wantCap < 0 {
			if rep.Error == nil || rep.Error.Code != CodeInvalidParams || !strings.Contains(rep.Error.Message, `"capacity"`) ||
				!strings.Contains(rep.Error.Message, "use role \"client\"") {
				t.Errorf("hello %s → %s, want -32602 naming capacity", tc.params, r)
				select {
				case <-b.caps: // it reached the backend: keep the next case's capacity in step
				default:
				}
			}
			continue
		}
		if rep.Error != nil {
			t.Errorf("hello %s → %s", tc.params, r)
			continue
		}
		if got := <-b.caps; got != tc.wantCap {
			t.Errorf("hello %s: session capacity %d, want %d", tc.params, got, tc.wantCap)
		}
	}
	// the Go client's hello without a capacity is a worker of capacity 1
	c := dialClient(t, DialOptions{Network: "unix", Addr: addr})
	if _, err := c.Hello(context.Background(), HelloParams{Name: "go-worker"}); err != nil {
		t.Fatal(err)
	}
	if got := <-b.caps; got != 1 {
		t.Errorf("Go client hello: capacity %d, want 1", got)
	}
}

// TestHelloName: a worker name longer than MaxNameBytes or holding control characters (a newline, an
// escape sequence that reaches operators' terminals in gtc workers) is refused with -32602 naming the
// field (adversarial trial: a 5,000-byte name widened every row of gtc workers).
func TestHelloName(t *testing.T) {
	_, addr := serveUnix(t, Options{}, newFake())
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"gastown/polecats/nux", true},
		{strings.Repeat("n", MaxNameBytes), true},
		{strings.Repeat("n", MaxNameBytes+1), false},
		{"w\n1", false},
		{"w\x1b]0;pwned\x07", false},
	} {
		p := dialRaw(t, "unix", addr, FramingNDJSON)
		name, _ := json.Marshal(tc.name)
		r := p.call(`{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":` + string(name) + `}}`)
		refused := strings.Contains(r, `"error"`)
		if refused == tc.ok || !tc.ok && (!strings.Contains(r, `-32602`) || !strings.Contains(r, `\"name\"`)) {
			t.Errorf("hello %q → %s", tc.name, r)
		}
	}
}
