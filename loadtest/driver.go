package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// Config describes one load-test run against a gtc server.
type Config struct {
	Network string // "unix" (default) or "tcp"
	Addr    string // socket path or host:port
	Token   string // for TCP

	Agents int // simulated workers, each on its own connection

	// Throughput mode: these issues are drained by the agents. Preloaded says they already exist on the
	// server (written to its JSONL before it started); otherwise they are created with issue.create first.
	Issues    []IssueSpec
	Preloaded bool

	// Latency mode (Rate > 0): issues are created through issue.create at Rate per second for Duration
	// while the agents wait; Issues is ignored.
	Rate float64

	Duration     time.Duration // latency mode: create phase; throughput mode: cap on the run (0 = 10 min)
	DrainTimeout time.Duration // latency mode: wait after the last create (0 = 30 s)
	WorkTime     time.Duration // mean simulated session per issue (0 = complete at once)
	WorkVariance float64       // ± fraction of WorkTime, uniform
	FailRate     float64       // fraction of sessions that end in fail
	Ramp         time.Duration // agents connect spread over Ramp

	ServerPID  int                                   // when > 0, the server's RSS is sampled from /proc
	Stop       func() error                          // when set, stops the server before the final-state check (owned server)
	FinalState func() (map[string]FinalState, error) // when set, reads the final state (else issue.get)
	Progress   func(done, total int64)               // called every 200 ms with resolved issues
	IDPrefix   string                                // prefix of created issue ids (default "lt<unix time>")
	// OwnIssuesOnly makes the agents take only the run's issues (ids IDPrefix + "-…"): they say hello
	// with that prefix filter and refuse any other push. For a run against a live coordinator (--addr),
	// whose real issues must not be taken and closed by the load test.
	OwnIssuesOnly bool
	OnError       func(error) // when set, told the first agent error of the run
}

// FinalState is an issue's status in the server's final state.
type FinalState struct {
	Status string
	Failed bool // carries the dead-letter label gtc:failed
}

// FailedLabel is the label gtc puts on dead-lettered issues (coord.Config default).
const FailedLabel = "gtc:failed"

type driver struct {
	cfg       Config
	tr        *tracker
	work      sync.WaitGroup
	workCtx   context.Context
	cancelled atomic.Int64
	errMu     sync.Mutex
	firstErr  error

	ctlMu sync.Mutex
	ctl   *rpc.Client // the control connection: creates, the profile, the final check

	redials atomic.Int64 // agents' connections made again after a coordinator restart
	ended   atomic.Int64 // sessions ended so far (failsNext numbers them)

	goneOnce sync.Once
	gone     chan struct{} // closed when the coordinator went away for good (not back within redialFor)
	goneErr  error
	// outsiders is closed when the run stalled on issues that workers outside it took (outsiderWatch);
	// taken is how many were seen
	outsiders chan struct{}
	taken     atomic.Int64
}

// ErrCoordinatorGone is the error of a run whose coordinator went away and did not come back in time.
var ErrCoordinatorGone = errors.New("the coordinator went away during the run")

// coordinatorGone says the coordinator did not come back after its connections were lost: the run ends.
func (d *driver) coordinatorGone(err error) {
	d.goneOnce.Do(func() {
		d.goneErr = fmt.Errorf("%w and did not come back within %v (%v)", ErrCoordinatorGone, redialFor, err)
		close(d.gone)
	})
}

// control returns the control connection, a new one if the coordinator restarted under the last.
func (d *driver) control(ctx context.Context) (*rpc.Client, error) {
	d.ctlMu.Lock()
	defer d.ctlMu.Unlock()
	select {
	case <-d.gone: // checked under the lock: the callers queued behind a failed redial fail at once
		return nil, d.goneErr
	default:
	}
	c, err := d.liveControl(ctx, d.ctl, d.cfg.IDPrefix+"-ctl")
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller gave up (the health watch stopping): not the coordinator's doing
		}
		d.coordinatorGone(err)
		return nil, d.goneErr
	}
	if c != d.ctl {
		d.ctl.Close()
		d.ctl = c
	}
	return c, nil
}

// create sends one issue.create, again on a new control connection when the coordinator went away
// under it (a restart); a retry refused because the issue exists means the first try created it.
func (d *driver) create(ctx context.Context, p rpc.IssueCreateParams) error {
	for try := 0; ; try++ {
		c, err := d.control(ctx)
		if err != nil {
			return err
		}
		_, err = c.IssueCreate(ctx, p)
		switch {
		case err == nil:
			return nil
		case try > 0 && coord.ErrorCode(err) == coord.EConflict:
			return nil
		case try < maxRetries && ctx.Err() == nil && connectionLost(c, err):
			continue
		}
		return err
	}
}

// connectionLost says whether a call on c failed because its connection ended (a write on a socket the
// peer closed fails before the client notices the close: that is waited for, up to a second), not
// because the server refused it.
func connectionLost(c *rpc.Client, err error) bool {
	var e *coord.Error
	if errors.As(err, &e) && e.Code != coord.EUnavailable {
		return false // the server answered
	}
	select {
	case <-c.Done():
		return true
	case <-time.After(time.Second):
		return false
	}
}

// maxRetries bounds the tries of a call whose connection was lost (a restart each).
const maxRetries = 3

func (d *driver) dialOptions() rpc.DialOptions {
	return rpc.DialOptions{Network: d.cfg.Network, Addr: d.cfg.Addr, Token: d.cfg.Token, MaxMessageBytes: 64 << 20}
}

func (d *driver) noteErr(err error) {
	d.errMu.Lock()
	if d.firstErr == nil {
		d.firstErr = err
	}
	d.errMu.Unlock()
}

// sessionTime draws one session length.
func (d *driver) sessionTime() time.Duration {
	w := d.cfg.WorkTime
	if w <= 0 {
		return 0
	}
	return time.Duration(float64(w) * (1 + d.cfg.WorkVariance*(2*rand.Float64()-1)))
}

// Run drives one load test and returns its figures and the server's profile report of the run (with
// the server's RSS samples added when ServerPID was given). The server-side figures come from coord.profile.
func Run(ctx context.Context, cfg Config) (res Result, rep ProfileReport, err error) {
	if cfg.Network == "" {
		cfg.Network = "unix"
	}
	if cfg.Agents <= 0 {
		return Result{}, ProfileReport{}, errors.New("load test: agents must be positive")
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "lt" + strconv.FormatInt(time.Now().UnixNano()&0xffffffff, 36)
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	defer relaxCollector()()
	d := &driver{cfg: cfg, tr: newTracker(), gone: make(chan struct{}), outsiders: make(chan struct{})}
	rate := cfg.Rate > 0
	specs := cfg.Issues
	if rate {
		if cfg.Duration <= 0 {
			return Result{}, ProfileReport{}, errors.New("load test: --rate needs a --duration")
		}
		n := RateIssues(cfg.Rate, cfg.Duration)
		specs = make([]IssueSpec, n)
		for i := range specs {
			specs[i] = IssueSpec{ID: cfg.IDPrefix + "-" + strconv.Itoa(i+1), Priority: rand.IntN(5)}
		}
	}
	if len(specs) == 0 {
		return Result{}, ProfileReport{}, errors.New("load test: no issues (give issues or a rate)")
	}
	d.tr.add(specs, time.Time{})

	// The control connection: creates, the profile, the final check.
	ctl, err := rpc.Dial(ctx, d.dialOptions())
	if err != nil {
		return Result{}, ProfileReport{}, err
	}
	d.ctl = ctl
	defer func() { d.ctlMu.Lock(); d.ctl.Close(); d.ctlMu.Unlock() }()
	if _, err := ctl.Hello(ctx, rpc.HelloParams{Name: cfg.IDPrefix + "-ctl", Role: "client"}); err != nil {
		if coord.ErrorCode(err) == coord.EUnauthorized && cfg.Network == "tcp" {
			return Result{}, ProfileReport{}, fmt.Errorf("the coordinator at %s refused the token: pass the one in its .beads/gtc.token with --token or GTC_TOKEN", cfg.Addr)
		}
		return Result{}, ProfileReport{}, fmt.Errorf("control connection: %w", err)
	}

	if !rate && !cfg.Preloaded {
		if err := d.createAll(ctx, specs); err != nil {
			return Result{}, ProfileReport{}, err
		}
	}

	var rss *RSSTracker
	rssCtx, stopRSS := context.WithCancel(context.Background())
	rssDone := make(chan struct{})
	if cfg.ServerPID > 0 {
		rss = NewRSSTracker(cfg.ServerPID)
		go func() { defer close(rssDone); _ = rss.Run(rssCtx, 100*time.Millisecond) }()
	} else {
		close(rssDone)
	}
	defer func() { stopRSS(); <-rssDone }()

	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	d.workCtx = workCtx
	cpu0 := selfCPU()
	start := time.Now()
	runStart := start // the profile window: from the first agent's connect
	if !rate {
		d.tr.markReady(start)
	}
	agents, err := d.connectAgents(ctx)
	var supervisors sync.WaitGroup
	defer func() {
		stopWork()
		supervisors.Wait() // no redial after this: the connections closed next are the last
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); a.client().Close() }()
		}
		wg.Wait()
		d.work.Wait()
	}()
	if err != nil {
		return Result{}, ProfileReport{}, err
	}
	for _, a := range agents {
		supervisors.Add(1)
		go func() { defer supervisors.Done(); a.supervise() }()
	}

	progCtx, stopProg := context.WithCancel(ctx)
	progDone := make(chan struct{})
	hw := &healthWatch{prefix: cfg.IDPrefix + "-"}
	go func() {
		defer close(progDone)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); d.watchHealth(progCtx, hw) }()
		go func() { defer wg.Done(); d.outsiderWatch(progCtx) }()
		d.progress(progCtx)
		wg.Wait()
	}()

	var end time.Time
	stoppedBy := "drained"
	if rate {
		start = time.Now() // latency mode: time from the first create
		if err := d.createAtRate(ctx, specs); err != nil {
			stopProg()
			<-progDone
			return Result{}, ProfileReport{}, err
		}
		select {
		case <-d.tr.done:
		case <-time.After(cfg.DrainTimeout):
			stoppedBy = fmt.Sprintf("drain timeout (%v after the last create)", cfg.DrainTimeout)
		case <-d.outsiders:
			stoppedBy = d.outsiderStop()
		case <-d.gone:
		case <-ctx.Done():
		}
	} else {
		limit := cfg.Duration
		if limit <= 0 {
			limit = 10 * time.Minute
		}
		select {
		case <-d.tr.done:
		case <-time.After(limit):
			stoppedBy = fmt.Sprintf("duration cap (%v)", limit)
		case <-d.outsiders:
			stoppedBy = d.outsiderStop()
		case <-d.gone:
		case <-ctx.Done():
		}
	}
	end = time.Now()
	stopProg()
	<-progDone
	if err := ctx.Err(); err != nil {
		return Result{}, ProfileReport{}, err
	}
	select {
	case <-d.gone:
		return Result{}, ProfileReport{}, d.goneErr
	default:
	}
	elapsed := end.Sub(start)

	mode := "throughput"
	if rate {
		mode = "latency"
	}
	res = Result{Agents: cfg.Agents, Issues: len(specs), Mode: mode, StoppedBy: stoppedBy, DurationS: round3(elapsed.Seconds()),
		DriverCPUS: seconds(selfCPU() - cpu0), Completions: d.tr.completions.Load(), FailedSessions: d.tr.fails.Load()}
	if cfg.ServerPID > 0 {
		if c, err := ProcessCPU(cfg.ServerPID); err == nil {
			res.ServerCPUS = seconds(c)
		}
	}
	if elapsed > 0 {
		res.CompletionsPerSec = round3(float64(d.tr.completions.Load()) / elapsed.Seconds())
	}
	res.DispatchMs = d.tr.dispatch.Summary().Percentiles()
	res.CreateToPushMs = d.tr.createToPush.Summary().Percentiles()
	res.QueueWaitMs = d.tr.queueWait.Summary().Percentiles3()
	res.RPCMs = d.tr.rpc.Summary().Percentiles3()

	// A coordinator restarted during the run (--addr) closed the control connection: a new one reads
	// the figures, which then cover the restarted server only.
	if ctl, err = d.control(ctx); err != nil {
		return Result{}, ProfileReport{}, fmt.Errorf("server profile: the coordinator went away during the run: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	pr, err := ctl.CoordProfile(pctx, rpc.ProfileParams{WindowMS: time.Since(runStart).Milliseconds() + 100,
		TargetAgents: cfg.Agents, TargetIssues: len(specs)})
	cancel()
	if err != nil {
		return Result{}, ProfileReport{}, fmt.Errorf("server profile: %w", err)
	}
	if err := json.Unmarshal(pr.RawMessage, &rep); err != nil {
		return Result{}, ProfileReport{}, fmt.Errorf("decode server profile: %w", err)
	}
	res.FillServer(rep)
	res.CommitBatchAvg = round3(rep.CommitBatchAvg)
	d.checkHealth(ctx, hw) // the run's end, as the harness assesses it
	hw.fill(&res)

	// Stop the work, then read the final state (from the stopped server's JSONL, or over RPC).
	stopWork()
	var final map[string]FinalState
	if cfg.FinalState == nil {
		final, err = d.finalOverRPC(ctx, ctl, specs)
		if err != nil {
			return Result{}, ProfileReport{}, err
		}
	}
	stopRSS()
	<-rssDone
	if rss != nil && rss.Samples() > 0 {
		res.RSSPeakMB, res.RSSGrowthMB = rss.PeakMB(), rss.GrowthMB()
		rep.Metrics.RSS = mbSlice(rss.Bytes())
		rep.Render()
	} else if m := rep.Metrics.RSS; len(m) > 0 {
		// a running server (--addr): its own resident-size samples over the run, from coord.profile
		res.RSSPeakMB, res.RSSGrowthMB = round3(maxOr0(m)), round3(m[len(m)-1]-m[0])
	}
	if cfg.Stop != nil {
		for _, a := range agents {
			a.client().Close()
		}
		ctl.Close()
		if err := cfg.Stop(); err != nil {
			return Result{}, ProfileReport{}, fmt.Errorf("stop server: %w", err)
		}
	}
	if cfg.FinalState != nil {
		if final, err = cfg.FinalState(); err != nil {
			return Result{}, ProfileReport{}, fmt.Errorf("read final state: %w", err)
		}
	}
	o := d.tr.verify(final, stoppedBy == "drained")
	res.LostIssues, res.LostCompletions = o.lostIssues, o.lostCompletions
	res.DeadLettered, res.Unreachable, res.Unfinished = o.deadLettered, o.unreachable, o.unfinished
	res.Errors = d.tr.errors.Load()
	res.Reconnects = d.redials.Load()
	if d.firstErr != nil && cfg.OnError != nil {
		cfg.OnError(d.firstErr)
	}
	res.DoubleAssignments = d.tr.doubleAssignments()
	res.PeakConcurrency = int(d.tr.peak.Load())
	return res, rep, nil
}

// RateIssues is how many issues latency mode creates: rate × duration, rounded (10 issues over a
// duration derived from them as 10/7 s at 7/s are 10, not the 9 truncation gave), at least 1.
func RateIssues(rate float64, d time.Duration) int {
	return max(1, int(math.Round(rate*d.Seconds())))
}

// connectAgents connects every agent, spread over the ramp, at most 64 dials at a time.
func (d *driver) connectAgents(ctx context.Context) ([]*agent, error) {
	n := d.cfg.Agents
	agents := make([]*agent, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		a := &agent{d: d, idx: i, name: d.cfg.IDPrefix + "-agent-" + strconv.Itoa(i+1)}
		agents[i] = a
		if d.cfg.Ramp > 0 {
			at := t0.Add(time.Duration(int64(d.cfg.Ramp) * int64(i) / int64(n)))
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			errs[i] = a.connect(cctx)
		}()
	}
	wg.Wait()
	out := agents[:0]
	var first error
	for i, a := range agents {
		if errs[i] != nil {
			if first == nil {
				first = errs[i]
			}
			continue
		}
		out = append(out, a)
	}
	if first != nil {
		return out, fmt.Errorf("connect agents (%d of %d failed): %w", n-len(out), n, first)
	}
	return out, nil
}

// createAll creates the throughput-mode issues before the agents connect; an issue waits for its
// dependencies to exist, so 16 creators run in parallel.
func (d *driver) createAll(ctx context.Context, specs []IssueSpec) error {
	made := make([]chan struct{}, len(specs))
	idx := make(map[string]int, len(specs))
	for i, s := range specs {
		made[i] = make(chan struct{})
		idx[s.ID] = i
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errCh := make(chan error, 16)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(specs) {
					return
				}
				s := specs[i]
				p := rpc.IssueCreateParams{ID: s.ID, Title: "load test " + s.ID, Description: issueBody, Priority: &s.Priority, Type: "task"}
				for _, dep := range s.Deps {
					select {
					case <-made[idx[dep]]:
					case <-cctx.Done():
						return
					}
					p.Deps = append(p.Deps, rpc.DepSpec{ID: dep, Type: "blocks"})
				}
				if err := d.create(cctx, p); err != nil {
					errCh <- fmt.Errorf("create %s: %w", s.ID, err)
					cancel()
					return
				}
				close(made[i])
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errCh:
		return err
	default:
		return nil
	}
}

// createAtRate sends issue.create at the configured rate (each on its own goroutine, so a slow reply
// does not delay the next create); it returns when every create has been answered.
func (d *driver) createAtRate(ctx context.Context, specs []IssueSpec) error {
	interval := time.Duration(float64(time.Second) / d.cfg.Rate)
	t0 := time.Now()
	var wg sync.WaitGroup
	for i, s := range specs {
		at := t0.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			select {
			case <-time.After(w):
			case <-d.gone: // the run ends: the rest is never created
				wg.Wait()
				return nil
			case <-ctx.Done():
				wg.Wait()
				return ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := rpc.IssueCreateParams{ID: s.ID, Title: "load test " + s.ID, Description: issueBody, Priority: &s.Priority, Type: "task"}
			start := time.Now()
			d.tr.created(s.ID, start)
			if err := d.create(ctx, p); err != nil {
				d.tr.errors.Add(1)
				d.noteErr(err)
				d.tr.createFailed(s.ID) // maybe never created: resolve it so the run does not wait for it
				return
			}
			d.tr.rpc.Since(start)
		}()
	}
	wg.Wait()
	return nil
}

// progress reports resolved issues every 200 ms until ctx ends (and once more at the end).
func (d *driver) progress(ctx context.Context) {
	if d.cfg.Progress == nil {
		return
	}
	total := int64(d.tr.total())
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.cfg.Progress(min(d.tr.resolved.Load(), total), total)
			return
		case <-t.C:
			d.cfg.Progress(min(d.tr.resolved.Load(), total), total)
		}
	}
}

// outsiderStall is how long the run may make no progress before outsiderWatch looks at its unresolved
// issues, and outsiderLook how many of them it reads.
const (
	outsiderStall = 5 * time.Second
	outsiderLook  = 256
)

// outsiderWatch ends a run that waits on issues workers outside it took. Against a running coordinator
// (--addr) other workers may take the run's issues: the agents then wait for completions that never
// reach them, until the duration cap (10 minutes by default). When no issue resolved for outsiderStall,
// it reads up to outsiderLook unresolved issues that no agent holds; one closed without the run's doing,
// or held by a worker whose name is not the run's, closes d.outsiders.
func (d *driver) outsiderWatch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, since := d.tr.resolved.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := d.tr.resolved.Load(); n != last {
			last, since = n, time.Now()
			continue
		}
		if time.Since(since) < outsiderStall {
			continue
		}
		since = time.Now() // look again only after another stall
		ids := d.tr.unheld(outsiderLook)
		c, err := d.control(ctx)
		if err != nil {
			return
		}
		taken := 0
		for _, id := range ids {
			r, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: id})
			if err != nil {
				continue
			}
			var is struct{ Status, Assignee string }
			if json.Unmarshal(r.Issue, &is) != nil {
				continue
			}
			if is.Status == "closed" || is.Assignee != "" && !strings.HasPrefix(is.Assignee, d.cfg.IDPrefix+"-agent-") {
				taken++
			}
		}
		if taken > 0 {
			d.taken.Store(int64(taken))
			close(d.outsiders)
			return
		}
	}
}

// outsiderStop is the stop reason of a run outsiderWatch ended.
func (d *driver) outsiderStop() string {
	return fmt.Sprintf("issues taken by workers outside the run (%d of the unresolved ones it read were closed or held by "+
		"other workers: not waited for)", d.taken.Load())
}

// finalOverRPC reads every issue's status with issue.get (32 at a time).
func (d *driver) finalOverRPC(ctx context.Context, c *rpc.Client, specs []IssueSpec) (map[string]FinalState, error) {
	out := make(map[string]FinalState, len(specs))
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(specs) {
					return
				}
				r, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: specs[i].ID})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue // a missing issue counts as lost
				}
				st, err := decodeFinal(r.Issue)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mu.Lock()
				out[specs[i].ID] = st
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil && ctx.Err() != nil {
		return nil, err
	}
	return out, nil
}

// decodeFinal reads status and labels from one issue record.
func decodeFinal(raw []byte) (FinalState, error) {
	var r struct {
		Status string   `json:"status"`
		Labels []string `json:"labels"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return FinalState{}, fmt.Errorf("decode issue record: %w", err)
	}
	st := FinalState{Status: r.Status}
	for _, l := range r.Labels {
		if l == FailedLabel {
			st.Failed = true
		}
	}
	return st, nil
}

// liveControl returns ctl while its connection holds, else a new control connection (hello as name),
// trying for up to redialFor while the coordinator restarts.
func (d *driver) liveControl(ctx context.Context, ctl *rpc.Client, name string) (*rpc.Client, error) {
	select {
	case <-ctl.Done():
	default:
		return ctl, nil
	}
	deadline := time.Now().Add(redialFor)
	for {
		c, err := rpc.Dial(ctx, d.dialOptions())
		if err == nil {
			if _, err = c.Hello(ctx, rpc.HelloParams{Name: name, Role: "client"}); err == nil {
				return c, nil
			}
			c.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-d.gone:
			return nil, d.goneErr
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// failsNext says whether the session ending now fails: an exact share FailRate of the sessions, spread
// evenly over them (the k-th fails when k·FailRate passes a whole number), not a draw per session. Each
// session fails as often as under a draw, but a 10-issue scenario cannot fail its success-rate criterion
// on the dice alone (at 10 % a draw per session missed 80 % in ~1 run of 9).
func (d *driver) failsNext() bool {
	r := d.cfg.FailRate
	if r <= 0 {
		return false
	}
	k := float64(d.ended.Add(1) - 1)
	return math.Floor((k+1)*r) > math.Floor(k*r)
}
