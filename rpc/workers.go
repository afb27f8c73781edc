package rpc

import (
	"sync"
	"sync/atomic"
	"time"
)

// Parked handler goroutines: a connection's pool hands its next request to a goroutine that has just
// finished one (of any connection) instead of starting a fresh goroutine. A fresh goroutine starts on
// a small stack and copies it while a request's JSON decoding and engine call grow it; in a 30-agent
// drain, goroutine starts and stack copies were ~4 % of the coordinator's CPU.
const (
	// workerIdle is how long a finished handler goroutine waits for more work before it exits.
	workerIdle = time.Second
	// maxParked bounds the goroutines waiting for work (each holds its grown stack).
	maxParked = 64
)

// workers keeps finished handler goroutines parked for a while; the Server owns them and stop ends them.
type workers struct {
	hand   chan func()   // unbuffered: a send succeeds only when a parked goroutine takes the work
	quit   chan struct{} // closed by stop
	parked atomic.Int32
	wg     sync.WaitGroup
	once   sync.Once
}

func newWorkers() *workers {
	return &workers{hand: make(chan func()), quit: make(chan struct{})}
}

// run runs f on a parked goroutine if one is waiting, else on a new one.
func (w *workers) run(f func()) {
	select {
	case w.hand <- f:
		return
	default:
	}
	w.wg.Add(1)
	go w.loop(f)
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	var idle *time.Timer
	for {
		f()
		if w.parked.Add(1) > maxParked {
			w.parked.Add(-1)
			return
		}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case f = <-w.hand:
			w.parked.Add(-1)
			idle.Stop()
		case <-idle.C:
			w.parked.Add(-1)
			return
		case <-w.quit:
			w.parked.Add(-1)
			idle.Stop()
			return
		}
	}
}

// stop ends the parked goroutines and waits for every goroutine started by run to return.
func (w *workers) stop() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}
