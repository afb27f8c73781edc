package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// BenchmarkCreateToPush measures, in one process over the Unix socket, the time from sending
// issue.create to an idle worker receiving the push of that issue (as gtc loadtest --rate does: the
// create's reply is not waited for).
func BenchmarkCreateToPush(b *testing.B) {
	t := &testing.T{}
	h := start(t, nil, func(c *Config) { c.SyncInterval = time.Hour; c.HTTP = ""; c.Listen = "" })
	defer h.shutdown()
	w := h.worker("w1", 1)
	ctx := context.Background()
	cl, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Hello(ctx, rpc.HelloParams{Name: "creator", Role: "client", Protocol: 1}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		created := make(chan error, 1)
		go func() {
			_, err := cl.IssueCreate(ctx, rpc.IssueCreateParams{Title: "latency probe"})
			created <- err
		}()
		a := w.next(t, 5*time.Second)
		lat = append(lat, time.Since(start)) // the push may arrive before the create's own reply
		if err := <-created; err != nil {
			b.Fatal(err)
		}
		w.complete(t, a)
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := append([]time.Duration(nil), lat...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	p := func(q float64) float64 {
		return float64(s[min(int(float64(len(s))*q), len(s)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.5), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
}
