package daemon

import (
	"time"

	"github.com/gastown/gtc/metrics"
)

// storeObserver forwards store timings to the metrics.
type storeObserver struct{ m *metrics.Metrics }

func (o storeObserver) ObserveRead(_ string, d time.Duration) { o.m.ObserveRead(d) }
func (o storeObserver) ObserveCommit(d time.Duration, changes int) {
	o.m.ObserveCommit(d, changes)
}
func (o storeObserver) ObserveWrite(d time.Duration) { o.m.ObserveWrite(d) }

// rpcObserver forwards transport events to the metrics.
type rpcObserver struct{ m *metrics.Metrics }

func (o rpcObserver) RPC(method string, code int, d time.Duration) { o.m.ObserveRPC(method, code, d) }
func (o rpcObserver) Conns(_ string, delta int) {
	if delta > 0 {
		o.m.ConnOpened()
	} else {
		o.m.ConnClosed()
	}
}
func (o rpcObserver) Bytes(string, int) {}
