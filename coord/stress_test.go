package coord

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The engine stress test: workers, a creator and a clock driver act at random, in real concurrency, on
// an engine whose Persister fails some commits; the Persister and Outbox check the invariants on every
// batch and push (one live lease per issue, lease identity fixed by its epoch and never rewritten once
// ended, changes unchanged while a commit runs, pushes and replies only after their changes are durable).
// STRESS_SEEDS=N runs more seeds (CI runs one); stress_store_test.go runs it on the real store.

// StressPersister is a fold that checks each batch and fails some commits.
type StressPersister struct {
	mu      sync.Mutex
	f       *fold
	rnd     *rand.Rand
	failPct int
	sleep   bool
	errs    []string
	// epoch -> identity of the lease (issue/worker/attempt/created); a lease id names one lease forever
	ident map[int64]string
	ended map[int64]bool
	// durable: epochs committed (any state); acked epochs; ended epochs
	acked   map[int64]bool
	events  int
	commits int
	fails   int
}

func newStressPersister(seed uint64, failPct int, sleep bool) *StressPersister {
	return &StressPersister{f: newFold(nil), rnd: rand.New(rand.NewPCG(seed, 7)), failPct: failPct, sleep: sleep,
		ident: map[int64]string{}, ended: map[int64]bool{}, acked: map[int64]bool{}}
}

func (s *StressPersister) bad(format string, args ...any) {
	if len(s.errs) < 20 {
		s.errs = append(s.errs, fmt.Sprintf(format, args...))
	}
}

func renderChange(ch Change) string {
	switch x := ch.(type) {
	case *IssueState:
		s := fmt.Sprintf("%+v", *x)
		if x.StartedAt != nil {
			s += " started " + x.StartedAt.String()
		}
		if x.ClosedAt != nil {
			s += " closed " + x.ClosedAt.String()
		}
		return s
	case *LeasePut:
		s := fmt.Sprintf("%+v", *x)
		if x.Lease.EndedAt != nil {
			s += " ended " + x.Lease.EndedAt.String()
		}
		return s
	case *EventAppend:
		e := *x
		e.Event.Seq = 0 // the store numbers the event as it commits it
		return fmt.Sprintf("%+v", e)
	default:
		return fmt.Sprintf("%T %+v", ch, ch)
	}
}

func (s *StressPersister) Commit(_ context.Context, chs []Change) error {
	before := Render(chs)
	s.mu.Lock()
	fail := s.rnd.IntN(100) < s.failPct
	sl := s.sleep && s.rnd.IntN(4) == 0
	s.mu.Unlock()
	if sl {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
	for i, ch := range chs {
		if after := renderChange(ch); after != before[i] {
			s.mu.Lock()
			s.bad("change %d changed during commit: %s -> %s", i, before[i], after)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fail {
		s.fails++
		return errors.New("injected failure")
	}
	s.foldLocked(chs)
	return nil
}

// Decide says whether the next commit fails (for wrappers around another Persister).
func (s *StressPersister) Decide() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := s.rnd.IntN(100) < s.failPct
	if fail {
		s.fails++
	}
	return fail
}

// Render renders changes, time pointers included (to compare before and after a commit).
func Render(chs []Change) []string {
	out := make([]string, len(chs))
	for i, ch := range chs {
		out[i] = renderChange(ch)
	}
	return out
}

// Fold checks that chs still render as before and folds them in.
func (s *StressPersister) Fold(chs []Change, before []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ch := range chs {
		if after := renderChange(ch); after != before[i] {
			s.bad("change %d changed during commit: %s -> %s", i, before[i], after)
		}
	}
	s.foldLocked(chs)
}

func (s *StressPersister) foldLocked(chs []Change) {
	for _, ch := range chs {
		var l *Lease
		switch x := ch.(type) {
		case *LeasePut:
			l = &x.Lease
		case LeasePut:
			l = &x.Lease
		case *EventAppend:
			s.events++
		case EventAppend:
			s.events++
		}
		if l == nil {
			continue
		}
		id := fmt.Sprintf("%s/%s/%s/%d/%s", l.ID, l.IssueID, l.Worker, l.Attempt, l.CreatedAt)
		if l.ID != leaseID(l.Epoch) {
			s.bad("lease id %s with epoch %d", l.ID, l.Epoch)
		}
		if old, ok := s.ident[l.Epoch]; ok && old != id {
			s.bad("epoch %d was %s, now %s", l.Epoch, old, id)
		}
		s.ident[l.Epoch] = id
		if s.ended[l.Epoch] {
			s.bad("lease %d written again after it ended: %s", l.Epoch, renderChange(ch))
		}
		switch {
		case l.State == LeaseEnded:
			if l.EndedAt == nil || l.EndedAt.IsZero() {
				s.bad("ended lease %d without ended_at", l.Epoch)
			}
			s.ended[l.Epoch] = true
		case l.Live():
			if l.EndedAt != nil {
				s.bad("live lease %d with ended_at", l.Epoch)
			}
			if l.State == LeaseAcked {
				s.acked[l.Epoch] = true
			}
		default:
			s.bad("lease %d in state %q", l.Epoch, l.State)
		}
	}
	s.f.apply(chs)
	s.commits++
	// durable invariants: one live lease per issue; a hooked/in_progress issue has exactly its lease
	byIssue := map[string]Lease{}
	for _, l := range s.f.leases {
		if o, dup := byIssue[l.IssueID]; dup {
			s.bad("issue %s has two live leases %s and %s", l.IssueID, o.ID, l.ID)
		}
		byIssue[l.IssueID] = l
	}
	for id, m := range s.f.issues {
		l, leased := byIssue[id]
		busy := m.Status == "hooked" || m.Status == "in_progress"
		if busy != leased {
			s.bad("issue %s status %s assignee %s, live lease %v", id, m.Status, m.Assignee, leased)
		}
		if leased && m.Assignee != l.Worker {
			s.bad("issue %s assignee %s, lease holder %s", id, m.Assignee, l.Worker)
		}
		if leased && (m.Status == "hooked") != (l.State == LeasePushed) {
			s.bad("issue %s status %s, lease %s state %s", id, m.Status, l.ID, l.State)
		}
	}
}

func (s *StressPersister) Load(context.Context) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.snapshot(), nil
}

func (s *StressPersister) isEnded(epoch int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended[epoch]
}

func (s *StressPersister) known(epoch int64) (live, ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, live = s.f.leases[leaseID(epoch)]
	return live, s.ended[epoch]
}

func (s *StressPersister) isAcked(epoch int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[epoch] || s.ended[epoch]
}

// stressOutbox checks every push is durable when it leaves and hands it to its worker.
type stressOutbox struct {
	p      *StressPersister
	mu     sync.Mutex
	chans  map[string]chan Assignment
	errs   []string
	pushes atomic.Int64
}

func (o *stressOutbox) Push(w string, _ uint64, a Assignment) {
	o.pushes.Add(1)
	live, ended := o.p.known(a.Lease.Epoch)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !live && !ended {
		o.errs = append(o.errs, fmt.Sprintf("push of lease %s (epoch %d) before it is durable", a.Lease.ID, a.Lease.Epoch))
	}
	if a.Lease.Worker != w || a.Lease.EndedAt != nil || !a.Lease.Live() || a.Lease.ID != leaseID(a.Lease.Epoch) {
		o.errs = append(o.errs, fmt.Sprintf("push to %s of a bad lease %+v", w, a.Lease))
	}
	if ch := o.chans[w]; ch != nil {
		select {
		case ch <- a:
		default:
		}
	}
}
func (o *stressOutbox) Cancel(string, uint64, string, int64, string, string) {}
func (o *stressOutbox) Publish(ev Event) {
	if ev.Kind == "" || ev.Time.IsZero() {
		o.mu.Lock()
		o.errs = append(o.errs, fmt.Sprintf("published a blank event %+v", ev))
		o.mu.Unlock()
	}
}
func (o *stressOutbox) PushMerge(string, uint64, MergeRequest)   {}
func (o *stressOutbox) CancelMerge(string, uint64, MergeRequest) {}

// stressSeeds is how many seeds the stress tests run: 1, or STRESS_SEEDS.
func stressSeeds() int {
	if n, err := strconv.Atoi(os.Getenv("STRESS_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// StressSeeds is stressSeeds for the external test package.
func StressSeeds() int { return stressSeeds() }

func TestStressEngine(t *testing.T) {
	for seed := 1; seed <= stressSeeds(); seed++ {
		for _, failPct := range []int{0, 3, 20} {
			for _, loader := range []bool{true, false} {
				t.Run(fmt.Sprintf("seed%d/fail%d/loader%v", seed, failPct, loader), func(t *testing.T) {
					mk := func(sp *StressPersister) Persister { return sp }
					if !loader {
						mk = func(sp *StressPersister) Persister { return stressFailPersister{sp} }
					}
					RunStress(t, uint64(seed), failPct, mk, nil)
				})
			}
		}
	}
}

type stressFailPersister struct{ sp *StressPersister } // Commit only: the engine keeps the durable fold

func (s stressFailPersister) Commit(ctx context.Context, chs []Change) error {
	return s.sp.Commit(ctx, chs)
}

// RunStress drives an engine on mk's Persister; final, when set, checks the end state against the fold.
func RunStress(t *testing.T, seed uint64, failPct int, mk func(sp *StressPersister) Persister, final func(f *Snapshot, e *Engine) []string) {
	sp := newStressPersister(seed, failPct, true)
	out := &stressOutbox{p: sp, chans: map[string]chan Assignment{}}
	clk := NewFakeClock(t0)
	cfg := Config{Rand: rand.NewPCG(seed, 3), BatchMax: 16, MaxAttempts: 4}
	p := mk(sp)
	e, err := NewEngine(cfg, clk, p, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { stop(); <-done }()

	var lastSess sync.Map
	const nWorkers = 5
	workers := make([]string, nWorkers)
	for i := range workers {
		workers[i] = fmt.Sprintf("w%d", i)
		out.mu.Lock()
		out.chans[workers[i]] = make(chan Assignment, 256)
		out.mu.Unlock()
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		errs     []string
		deadline = time.Now().Add(1500 * time.Millisecond)
	)
	bad := func(format string, args ...any) {
		errMu.Lock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
		errMu.Unlock()
	}
	bg := context.Background()
	// issue creator
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 11))
		n := 0
		for time.Now().Before(deadline) {
			var ps []IssuePut
			for k := r.IntN(4) + 1; k > 0; k-- {
				n++
				is := iss(fmt.Sprintf("s-%04d", n), r.IntN(5))
				ps = append(ps, IssuePut{Issue: is, FromImport: r.IntN(2) == 0})
			}
			if n > 5 && r.IntN(3) == 0 {
				id := fmt.Sprintf("s-%04d", 1+r.IntN(n))
				is := iss(id, r.IntN(5))
				is.Status = []string{"open", "closed", "blocked", "open"}[r.IntN(4)]
				is.UpdatedAt = clk.Now().Add(time.Duration(r.IntN(3)-1) * time.Second)
				ps = append(ps, IssuePut{Issue: is, FromImport: r.IntN(2) == 0, KeepState: r.IntN(3) == 0})
			}
			if r.IntN(20) == 0 {
				ws := e.Workers()
				for _, w := range ws {
					for _, l := range w.Leases {
						if r.IntN(3) == 0 {
							_ = e.CancelLease(bg, l.ID, "op", "")
						}
					}
				}
			}
			if r.IntN(50) == 0 {
				_ = e.Pause(bg, "")
				time.Sleep(time.Millisecond)
				_ = e.Resume(bg, "")
			}
			_ = e.PutIssues(bg, ps)
			time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
		}
	}()
	// clock
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 13))
		for time.Now().Before(deadline) {
			time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
			clk.Advance(time.Duration(r.IntN(4000)) * time.Millisecond)
		}
	}()
	for wi, name := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(100+wi)))
			session := uint64(wi*1000 + 1)
			connect := func() {
				session++
				lastSess.Store(name, session)
				if _, err := e.Connect(bg, Hello{Name: name, Capacity: 1 + r.IntN(3)}, session); err != nil && ErrorCode(err) != EUnavailable {
					bad("connect %s: %v", name, err)
				}
			}
			connect()
			out.mu.Lock()
			ch := out.chans[name]
			out.mu.Unlock()
			var held []Lease
			for time.Now().Before(deadline) {
				select {
				case a := <-ch:
					held = append(held, a.Lease)
				case <-time.After(200 * time.Microsecond):
				}
				if len(held) == 0 {
					if r.IntN(10) == 0 {
						cctx, cancel := context.WithTimeout(bg, time.Duration(r.IntN(3000))*time.Microsecond)
						a, err := e.Claim(cctx, name, nil, time.Duration(r.IntN(3))*time.Second)
						cancel()
						if err == nil && a != nil {
							if a.Lease.Worker != name || !a.Lease.Live() || a.Lease.EndedAt != nil {
								bad("claim returned %+v", a.Lease)
							}
							if live, ended := sp.known(a.Lease.Epoch); !live && !ended {
								bad("claim reply before durable: %+v", a.Lease)
							}
							held = append(held, a.Lease)
						}
					}
					continue
				}
				i := r.IntN(len(held))
				l := held[i]
				drop := func() { held = append(held[:i], held[i+1:]...) }
				switch op := r.IntN(12); op {
				case 0, 1:
					if err := e.Ack(bg, name, l.ID, l.Epoch); err == nil {
						if !sp.isAcked(l.Epoch) {
							bad("ack %s answered before durable", l.ID)
						}
					}
				case 2:
					var wgA sync.WaitGroup
					wgA.Add(1)
					e.AckAsync(name, l.ID, l.Epoch, func(error) { wgA.Done() })
					wgA.Wait()
				case 3, 4:
					res, err := e.Complete(bg, name, l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess})
					if err == nil {
						if !sp.isEnded(l.Epoch) {
							bad("complete %s answered before durable", l.ID)
						}
						if res.IssueID != l.IssueID || res.Attempt != l.Attempt {
							bad("complete %s result %+v for lease %+v", l.ID, res, l)
						}
						if _, err2 := e.Complete(bg, name, l.ID, l.Epoch, SessionResult{}); err2 == nil {
							bad("second complete of %s accepted", l.ID)
						}
						drop()
					} else if c := ErrorCode(err); c == EStaleEpoch || c == ENotHolder || c == ENotFound {
						drop()
					}
				case 5:
					var (
						wgA  sync.WaitGroup
						res  Result
						rerr error
					)
					wgA.Add(1)
					e.CompleteAsync(name, l.ID, l.Epoch, SessionResult{Outcome: OutcomeSuccess}, func(r Result, err error) { res, rerr = r, err; wgA.Done() })
					wgA.Wait()
					if rerr == nil {
						if !sp.isEnded(l.Epoch) {
							bad("async complete %s answered before durable", l.ID)
						}
						if res.IssueID != l.IssueID {
							bad("async complete %s result %+v", l.ID, res)
						}
					}
					drop()
				case 6:
					var wgA sync.WaitGroup
					var rerr error
					var res Result
					wgA.Add(1)
					e.FailAsync(name, l.ID, l.Epoch, "boom", func(r Result, err error) { res, rerr = r, err; wgA.Done() })
					wgA.Wait()
					if rerr == nil && res.IssueID != l.IssueID {
						bad("async fail %s result %+v", l.ID, res)
					}
					drop()
				case 7:
					_, _ = e.Fail(bg, name, l.ID, l.Epoch, "boom")
					drop()
				case 8:
					if r.IntN(2) == 0 {
						_ = e.Reject(bg, name, l.ID, l.Epoch, "no")
					} else {
						var wgA sync.WaitGroup
						wgA.Add(1)
						e.RejectAsync(name, 0, l.ID, l.Epoch, "no", func(error) { wgA.Done() })
						wgA.Wait()
					}
					drop()
				case 9:
					if r.IntN(2) == 0 {
						_, _ = e.Heartbeat(bg, name, l.ID, l.Epoch, "p")
					} else {
						_, _ = e.Heartbeat(bg, name, "", 0, "all")
					}
				case 10:
					_, _ = e.Release(bg, name, l.ID, l.Epoch, "r")
					drop()
				case 11:
					if r.IntN(4) == 0 {
						_ = e.Disconnect(bg, name, session)
						held = held[:0]
						time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
						if r.IntN(3) == 0 {
							time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
						}
						if r.IntN(10) == 0 {
							_ = e.Drain(bg, name, "")
						}
						connect()
					}
				}
			}
		}()
	}
	wg.Wait()
	// liveness: every worker goes away; after grace and timeouts no lease may be left
	lastSess.Range(func(k, v any) bool {
		for i := 0; i < 50; i++ {
			if err := e.Disconnect(bg, k.(string), v.(uint64)); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // a failed commit: retried after the engine's 1 s
			clk.Advance(2 * time.Second)
		}
		return true
	})
	for i := 0; i < 40; i++ {
		clk.Advance(30 * time.Second)
		time.Sleep(2 * time.Millisecond)
	}
	for i := 0; i < 200; i++ {
		n := 0
		for _, w := range e.Workers() {
			n += len(w.Leases)
		}
		if n == 0 {
			break
		}
		if i == 199 {
			bad("%d leases still live 20 minutes after every worker left", n)
		}
		clk.Advance(30 * time.Second)
		time.Sleep(5 * time.Millisecond)
	}
	// quiesce: one more read, then compare the engine's live leases with the durable ones
	_ = e.Status()
	sp.mu.Lock()
	perrs := append([]string(nil), sp.errs...)
	commits, fails := sp.commits, sp.fails
	sp.mu.Unlock()
	out.mu.Lock()
	oerrs := append([]string(nil), out.errs...)
	out.mu.Unlock()
	all := append(append(perrs, oerrs...), errs...)
	if e.Health() == nil {
		live := map[string]Lease{}
		for _, w := range e.Workers() {
			for _, l := range w.Leases {
				live[l.ID] = l
			}
		}
		sp.mu.Lock()
		for id, l := range sp.f.leases {
			if el, ok := live[id]; !ok || el.Epoch != l.Epoch || el.IssueID != l.IssueID {
				all = append(all, fmt.Sprintf("durable live lease %s not live in the engine", id))
			}
		}
		for id := range live {
			if _, ok := sp.f.leases[id]; !ok {
				all = append(all, fmt.Sprintf("engine lease %s not durable", id))
			}
		}
		sp.mu.Unlock()
	}
	if final != nil {
		snap, _ := sp.Load(context.Background())
		all = append(all, final(snap, e)...)
	}
	t.Logf("commits %d, failed %d, pushes %d", commits, fails, out.pushes.Load())
	for _, s := range all {
		t.Error(s)
	}
}
