package e2e

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// completion is one completion the server acknowledged to a worker.
type completion struct {
	IssueID string
	LeaseID string
	Epoch   int64
	Worker  string
}

// ledger records what the server acknowledged to the simulated workers.
type ledger struct {
	mu    sync.Mutex
	acked map[string]completion // by issue id
	dups  []completion          // a second acknowledged completion of an issue: a bug
	// counters
	assigns, resumed, refused, reconnects atomic.Int64
}

func newLedger() *ledger { return &ledger{acked: map[string]completion{}} }

func (l *ledger) record(c completion) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.acked[c.IssueID]; ok {
		l.dups = append(l.dups, prev, c)
		return
	}
	l.acked[c.IssueID] = c
}

// snapshot copies the acknowledged completions.
func (l *ledger) snapshot() map[string]completion {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]completion, len(l.acked))
	for k, v := range l.acked {
		out[k] = v
	}
	return out
}

// simWorker is a worker client: hello, ack every push, complete after a short random time; it
// reconnects with backoff when the connection dies and resumes the leases hello hands back.
type simWorker struct {
	name    string
	sock    string
	minWork time.Duration
	maxWork time.Duration
	led     *ledger
	rng     *rand.Rand
}

// run works until ctx ends.
func (w *simWorker) run(ctx context.Context) {
	backoff := 10 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		if !first {
			w.led.reconnects.Add(1)
		}
		first = false
		if w.session(ctx) {
			backoff = 10 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(w.rng.Int64N(int64(backoff)))):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// session runs one connection; it reports whether hello succeeded.
func (w *simWorker) session(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	c, err := rpc.Dial(dctx, rpc.DialOptions{Network: "unix", Addr: w.sock})
	cancel()
	if err != nil {
		return false
	}
	defer c.Close()
	work := make(chan rpc.Assignment, 64)
	c.OnAssign(func(_ context.Context, a rpc.Assignment) (bool, string) {
		select {
		case work <- a:
			w.led.assigns.Add(1)
			return true, ""
		default:
			return false, "busy"
		}
	})
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	hr, err := c.Hello(hctx, rpc.HelloParams{Name: w.name, Role: "worker", Capacity: 1})
	cancel()
	if err != nil {
		return false
	}
	for _, a := range hr.Leases {
		w.led.resumed.Add(1)
		select {
		case work <- a:
		default:
		}
	}
	// an idle worker says it is alive every heartbeat_ms, as the protocol asks
	hb := time.NewTicker(time.Duration(max(hr.HeartbeatMS, 50)) * time.Millisecond)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-c.Done():
			return true
		case <-hb.C:
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := c.Heartbeat(hctx, rpc.HeartbeatParams{})
			cancel()
			if err != nil && coord.ErrorCode(err) == coord.EUnavailable {
				return true
			}
		case a := <-work:
			if !w.do(ctx, c, a) {
				return true
			}
		}
	}
}

// do works on one assignment and completes it; false when the connection is gone.
func (w *simWorker) do(ctx context.Context, c *rpc.Client, a rpc.Assignment) bool {
	d := w.minWork + time.Duration(w.rng.Int64N(int64(w.maxWork-w.minWork)+1))
	select {
	case <-ctx.Done():
		return false
	case <-c.Done():
		return false
	case <-time.After(d):
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r, err := c.Complete(cctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch,
		SessionResult: rpc.SessionResult{Outcome: "success", Summary: "done by " + w.name},
		Idempotency:   rpc.Idempotency{IdempotencyKey: "done-" + a.Lease.ID}})
	if err != nil {
		w.led.refused.Add(1)
		// unavailable: the server died or is failing; the lease comes back in the next hello.
		return coord.ErrorCode(err) != coord.EUnavailable
	}
	w.led.record(completion{IssueID: r.IssueID, LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, Worker: w.name})
	return true
}

// startWorkers runs n simulated workers until the returned stop is called.
func startWorkers(sock string, n int, minWork, maxWork time.Duration, led *ledger, seed uint64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		w := &simWorker{name: "w" + string(rune('a'+i)), sock: sock, minWork: minWork, maxWork: maxWork, led: led,
			rng: rand.New(rand.NewPCG(seed, uint64(i)))}
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}
