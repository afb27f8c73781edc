package rpc

import (
	"bytes"
	"strings"
	"testing"
)

func TestBatchLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`[]`, 0},
		{` [ ] `, 0},
		{`[1]`, 1},
		{`[1,2]`, 2},
		{`[{"a":[1,2,3]},"x,y",[4,5]]`, 3},
		{`["a\"],[", {"b":"\\"}, 3]`, 3},
		{`[[],[],[]]`, 3},
		{`[0,0,0,0,0,0,0,0,0,0]`, 4}, // stops once past max (3)
	} {
		if got := batchLen([]byte(tc.in), 3); got != tc.want && !(tc.want > 3 && got > 3) {
			t.Errorf("batchLen(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestHugeBatchRefusedWhole: a batch longer than MaxBatch gets one small -32600 instead of one error
// entry per element — a 1 MiB message of tiny invalid values, sent before hello, made a reply ~60 times
// its size — and the connection keeps serving.
func TestHugeBatchRefusedWhole(t *testing.T) {
	ts := startServer(t, Options{Workers: 1}, nil) // one request at a time: replies in order (exchange)
	var b bytes.Buffer
	b.WriteByte('[')
	for b.Len() < (1<<20)-64 {
		b.WriteString("0,")
	}
	b.WriteString("0]")
	for _, tr := range []struct{ network, addr string }{{"unix", ts.unixPath}, {"tcp", ts.tcpAddr}} {
		p := dialRaw(t, tr.network, tr.addr, FramingNDJSON)
		r := p.exchange(b.String())
		if len(r) != 1 || len(r[0]) > 300 || !strings.Contains(r[0], `"code":-32600`) || !strings.Contains(r[0], "at most 256") {
			t.Fatalf("%s: reply to a %d-byte batch: %d replies, first %.300s", tr.network, b.Len(), len(r), r)
		}
		// at the cap it is served as usual: 256 invalid elements, 256 entries
		small := "[" + strings.Repeat("0,", 255) + "0]"
		if r := p.exchange(small); len(r) != 1 || strings.Count(r[0], `"code":-32600`) != 256 {
			t.Fatalf("%s: a batch of 256 got %d replies, %d error entries", tr.network, len(r), strings.Count(strings.Join(r, ""), `"code":-32600`))
		}
		if r := p.exchange(`{"jsonrpc":"2.0","id":7,"method":"nope"}`); len(r) != 1 || !strings.Contains(r[0], `"code":-32601`) {
			t.Fatalf("%s: a request after the refused batch: %q", tr.network, r)
		}
	}
}
