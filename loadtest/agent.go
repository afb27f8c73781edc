package loadtest

import (
	"context"
	"fmt"
	"github.com/gastown/gtc/coord"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gastown/gtc/rpc"
)

// agent is one simulated worker on its own connection: it acks every push, works for the configured
// time (heartbeating when that is long), then completes or, with the fail rate, fails.
type agent struct {
	d    *driver
	idx  int
	name string
	hb   atomic.Int64 // heartbeat interval from hello (ns); pushes can arrive before hello returns

	mu      sync.Mutex
	c       *rpc.Client              // its connection, a new one after the coordinator restarted (redial)
	freeAt  time.Time                // when the agent's slot last became free
	cancels map[string]chan struct{} // lease id → closed when the server cancels it
}

// client is the agent's current connection.
func (a *agent) client() *rpc.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.c
}

// connect dials the server and says hello as a worker of capacity 1.
func (a *agent) connect(ctx context.Context) error {
	c, err := rpc.Dial(ctx, a.d.dialOptions())
	if err != nil {
		return err
	}
	c.OnAssign(a.onAssign)
	c.OnCancel(a.onCancel)
	a.mu.Lock()
	first := a.c == nil
	if first { // a push may come before hello's reply; its session reports on this connection
		a.c = c
		a.cancels = map[string]chan struct{}{}
		a.freeAt = time.Now() // the slot is free from the moment hello is sent
	}
	a.mu.Unlock()
	hp := rpc.HelloParams{Name: a.name, Role: "worker", Capacity: 1}
	if a.d.cfg.OwnIssuesOnly {
		hp.Filters = &coord.Filters{Prefixes: []string{a.d.cfg.IDPrefix + "-"}}
	}
	h, err := c.Hello(ctx, hp)
	if err != nil {
		c.Close()
		return fmt.Errorf("agent %s: %w", a.name, err)
	}
	a.hb.Store(int64(time.Duration(h.HeartbeatMS) * time.Millisecond))
	if !first { // a redial: the sessions waiting in call may go on once hello is answered, not before
		a.mu.Lock()
		a.c = c
		a.mu.Unlock()
	}
	return nil
}

// redialFor is how long an agent whose connection was lost tries to reach the coordinator again (a
// variable for tests).
var redialFor = 30 * time.Second

// supervise redials, under the same name, when the agent's connection is lost while the run goes on
// (a coordinator restarted under --addr): the server hands its live leases back, and the sessions
// running them report on the new connection. It returns when the run's work stops.
func (a *agent) supervise() {
	ctx := a.d.workCtx
	for {
		c := a.client()
		select {
		case <-ctx.Done():
			return
		case <-c.Done():
		}
		for deadline := time.Now().Add(redialFor); ; {
			if ctx.Err() != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := a.connect(cctx)
			cancel()
			if err == nil {
				a.d.redials.Add(1)
				break
			}
			if time.Now().After(deadline) {
				a.d.coordinatorGone(fmt.Errorf("agent %s: %w", a.name, err))
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// call runs f on the agent's connection and, when that connection was lost under it, again on the
// next one once the agent has redialed (the lease outlives a restart within the server's grace).
func (a *agent) call(ctx context.Context, f func(*rpc.Client) error) error {
	for try := 0; ; try++ {
		c := a.client()
		err := f(c)
		if err == nil || try == maxRetries || ctx.Err() != nil || !connectionLost(c, err) {
			return err
		}
		for a.client() == c { // wait for supervise's new connection
			select {
			case <-ctx.Done():
				return err
			case <-a.d.gone:
				return err
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// onAssign runs on the client's assign goroutine: record, start the work, ack.
func (a *agent) onAssign(_ context.Context, as rpc.Assignment) (bool, string) {
	now := time.Now()
	if a.d.cfg.OwnIssuesOnly && !strings.HasPrefix(as.Lease.IssueID, a.d.cfg.IDPrefix+"-") {
		return false, "not a load-test issue" // never work on (and close) a live workspace's own issues
	}
	a.mu.Lock()
	freeAt := a.freeAt
	cancel := make(chan struct{})
	a.cancels[as.Lease.ID] = cancel
	a.mu.Unlock()
	a.d.tr.pushed(a.idx, as.Lease.IssueID, as.Lease.ID, as.Lease.Attempt, now, freeAt)
	a.d.work.Add(1)
	go a.work(as, cancel)
	return true, ""
}

// onCancel runs on the reader: the lease is gone, stop working on it.
func (a *agent) onCancel(p rpc.CancelParams) {
	a.d.tr.releasing(p.IssueID, p.LeaseID)
	a.d.tr.revoked(p.IssueID, p.LeaseID)
	a.d.cancelled.Add(1)
	a.mu.Lock()
	if ch := a.cancels[p.LeaseID]; ch != nil {
		close(ch)
		delete(a.cancels, p.LeaseID)
	}
	a.mu.Unlock()
}

// work simulates one session and reports its end.
func (a *agent) work(as rpc.Assignment, cancel <-chan struct{}) {
	defer a.d.work.Done()
	end := a.d.tr.sessionStarted() // the session ends when its outcome is sent (the next push may come before this returns)
	defer end()
	ctx := a.d.workCtx
	l := as.Lease
	defer func() {
		a.mu.Lock()
		delete(a.cancels, l.ID)
		a.mu.Unlock()
	}()
	if dur := a.d.sessionTime(); dur > 0 {
		t := time.NewTimer(dur)
		defer t.Stop()
		var hbC <-chan time.Time
		if hb := time.Duration(a.hb.Load()); hb > 0 && dur > hb {
			tk := time.NewTicker(hb)
			defer tk.Stop()
			hbC = tk.C
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-cancel:
				return
			case <-t.C:
				break wait
			case <-hbC:
				start := time.Now()
				err := a.call(ctx, func(c *rpc.Client) error {
					_, err := c.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: l.ID, Epoch: l.Epoch})
					return err
				})
				a.d.tr.rpc.Since(start)
				if err != nil && ctx.Err() == nil {
					a.d.tr.errors.Add(1)
				}
			}
		}
	}
	select {
	case <-cancel:
		return
	default:
	}
	a.d.tr.releasing(l.IssueID, l.ID)
	end()
	start := time.Now()
	a.mu.Lock()
	a.freeAt = start
	a.mu.Unlock()
	if a.d.failsNext() {
		var r *rpc.FailResult
		err := a.call(ctx, func(c *rpc.Client) (err error) {
			r, err = c.Fail(ctx, rpc.FailParams{LeaseID: l.ID, Epoch: l.Epoch, Error: "simulated failure"})
			return err
		})
		a.d.tr.rpc.Since(start)
		a.outcome(l, err)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				a.d.tr.errors.Add(1)
				a.d.noteErr(err)
			}
		default:
			a.d.tr.fails.Add(1)
			if r.DeadLettered {
				a.d.tr.deadLettered(l.IssueID)
			}
		}
		return
	}
	a.d.tr.completing(l.IssueID, start)
	var r *rpc.CompleteResult
	err := a.call(ctx, func(c *rpc.Client) (err error) {
		r, err = c.Complete(ctx, rpc.CompleteParams{LeaseID: l.ID, Epoch: l.Epoch,
			SessionResult: rpc.SessionResult{Outcome: "success", Summary: "load test"}})
		return err
	})
	a.d.tr.rpc.Since(start)
	a.outcome(l, err)
	if err != nil {
		if ctx.Err() == nil {
			a.d.tr.errors.Add(1)
			a.d.noteErr(err)
		}
		return
	}
	if r.Status == "closed" {
		a.d.tr.completedOK(l.IssueID, start)
	}
}

// outcome tells the tracker how the server answered the lease's complete or fail: accepted, or
// refused because the lease had ended (which excuses a push of the issue that overlapped it).
func (a *agent) outcome(l coord.Lease, err error) {
	switch coord.ErrorCode(err) {
	case "":
		a.d.tr.accepted(l.IssueID, l.ID)
	case coord.EStaleEpoch, coord.ENotFound, coord.ENotHolder, coord.EConflict:
		a.d.tr.revoked(l.IssueID, l.ID)
	}
}
