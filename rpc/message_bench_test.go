package rpc

import (
	"encoding/json"
	"reflect"
	"testing"
)

// benchFrames are the frames a worker sends per assignment cycle, as the Go client writes them.
var benchFrames = []struct{ name, frame string }{
	{"ack", `{"id":"a17","result":{"accepted":true},"jsonrpc":"2.0"}`},
	{"complete", `{"id":12,"jsonrpc":"2.0","method":"complete","params":{"lease_id":"L-17","epoch":17,"outcome":"success","summary":"done","git_commit":"abc123","idempotency_key":"k-17"}}`},
	{"heartbeat", `{"id":13,"jsonrpc":"2.0","method":"heartbeat","params":{"lease_id":"L-17","epoch":17,"progress":"half way"}}`},
}

// BenchmarkParseMessage compares the scanner with the encoding/json version it replaced.
func BenchmarkParseMessage(b *testing.B) {
	for _, f := range benchFrames {
		frame := []byte(f.frame)
		for _, impl := range []struct {
			name  string
			parse func([]byte) (*message, *wireError)
		}{{"std", parseMessageStd}, {"scan", parseMessage}} {
			b.Run(f.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(frame)))
				for b.Loop() {
					if _, werr := impl.parse(frame); werr != nil {
						b.Fatal(werr)
					}
				}
			})
		}
	}
}

// BenchmarkAssignParams compares the push's params encoding with the json.Marshal version it replaced.
func BenchmarkAssignParams(b *testing.B) {
	a := Assignment{Lease: benchLease, Issue: benchIssue, Prompt: "Make the scheduler fair across rigs\n\n" +
		"Workers on small rigs starve when a big rig floods the queue."}
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := assignParamsStd(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := assignParams(&a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchParams are the params of the requests a worker sends per assignment cycle.
var benchParams = []struct {
	name   string
	params string
	target func() any
}{
	{"complete", `{"lease_id":"L-17","epoch":17,"outcome":"success","summary":"done","git_commit":"abc123","idempotency_key":"k-17"}`,
		func() any { return new(CompleteParams) }},
	{"heartbeat", `{"lease_id":"L-17","epoch":17,"progress":"half way"}`, func() any { return new(HeartbeatParams) }},
}

// BenchmarkDecodeParams compares decodeParams with the encoding/json version it replaced, on the
// params of the per-cycle requests.
func BenchmarkDecodeParams(b *testing.B) {
	for _, bc := range benchParams {
		params := []byte(bc.params)
		req := requiredFields(reflect.TypeOf(bc.target()).Elem())
		for _, impl := range []struct {
			name   string
			decode func(json.RawMessage, any, []reqField) error
		}{{"std", decodeParamsStd}, {"fast", decodeParams}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := impl.decode(params, bc.target(), req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
