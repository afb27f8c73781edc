package rpc

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkConnMemory reports the server's heap and stack bytes per idle worker connection (after
// hello) — the per-connection cost that dominates memory with thousands of agents. The peers are bare
// sockets, so nearly all of the difference is the server's.
func BenchmarkConnMemory(b *testing.B) {
	const n = 500
	s := startServer(b, Options{MaxConns: 2 * n}, nil)
	measure := func() (heap, stack uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse, ms.StackInuse
	}
	for b.Loop() {
		h0, s0 := measure()
		conns := make([]net.Conn, 0, n)
		buf := make([]byte, 4096)
		for i := range n {
			nc, err := net.Dial("unix", s.unixPath)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, nc)
			name := "w" + strings.Repeat("x", 3) + string(rune('a'+i%26)) + itoa(i)
			hello := `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"` + name + `","token":"` + testToken + `"}}` + "\n"
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := nc.Write([]byte(hello)); err != nil {
				b.Fatal(err)
			}
			if _, err := nc.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
		h1, s1 := measure()
		b.ReportMetric(float64(h1+s1-h0-s0)/n, "B/conn")
		b.ReportMetric(float64(s1-s0)/n, "stackB/conn")
		for _, nc := range conns {
			nc.Close()
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}
