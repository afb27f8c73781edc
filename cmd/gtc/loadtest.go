package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gastown/gtc/loadtest"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
)

func targetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Usage: "load a running coordinator at this unix socket path or host:port (default: start one on a temp workspace); the run's issues are created in its workspace and stay there, closed: use a scratch workspace"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"GTC_TOKEN"}, Usage: "token for a TCP --addr"},
		&cli.StringFlag{Name: "server-cpuprofile", Usage: "own server only: write the server's CPU profile to this file"},
		&cli.StringFlag{Name: "server-memprofile", Usage: "own server only: write the server's heap profile at shutdown to this file"},
		&cli.BoolFlag{Name: "keep", Usage: "own server only: keep the temp workspace"},
		&cli.DurationFlag{Name: "settle", Value: 250 * time.Millisecond, Usage: "own server only: wait this long after it answers before the run starts (on this VM a load generator in its first ~100 ms drives a 30 x 500 run ~40% slower: docs/benchmarks.md)"},
		&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
	}
}

func loadtestCommand() *cli.Command {
	return &cli.Command{
		Name:  "loadtest",
		Usage: "drive N simulated agents against a coordinator and report latency, throughput, memory and correctness",
		Description: "Throughput mode (--issues M): M issues (random priorities, a fifth with dependencies) exist at the start and\n" +
			"the agents drain them. Latency mode (--rate R): issues are created at R/s for --duration while the agents wait.\n" +
			"--scenario runs one of the TypeScript harness's scenarios (smoke, light, medium, heavy, stress, or all) with its\n" +
			"pass criteria; --work-time scales its session time. Without --addr a coordinator (`gtc serve`) is started on a\n" +
			"temp workspace so its memory is measured apart from the load generator. The load generator runs its own\n" +
			"collector at GOGC=400 (its pauses would count as the coordinator's delay; GOGC in the environment wins and\n" +
			"reaches the server it starts too).",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "agents", Value: 10, Usage: "simulated agents, one connection each"},
			&cli.IntFlag{Name: "issues", Usage: "throughput mode: issues to drain"},
			&cli.Float64Flag{Name: "rate", Usage: "latency mode: issues created per second"},
			&cli.DurationFlag{Name: "duration", Usage: "latency mode: how long issues are created; throughput mode: cap on the run (default 10m)"},
			&cli.DurationFlag{Name: "work-time", Usage: "mean simulated session per issue (±30%); default 0 (complete at once)"},
			&cli.Float64Flag{Name: "fail-rate", Usage: "fraction of sessions that end in fail, an exact share spread evenly (retried, dead-lettered after 3 attempts; the own server retries after 10 ms, not serve's 5 s backoff)"},
			&cli.StringFlag{Name: "scenario", Usage: "smoke, light, medium, heavy, stress or all (harness scenarios with pass criteria)"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the generated issue graph"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write the load generator's own CPU profile to this file (make pgo)"},
			&cli.BoolFlag{Name: "baseline", Usage: "latency mode: first measure this machine's floor, a ping between two processes over a Unix socket at --rate (baseline_echo_rtt_ms)"},
		}, targetFlags()...),
		Action: func(c *cli.Context) error {
			if p := c.String("cpuprofile"); p != "" {
				stopProfile, err := startCPUProfile(p)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := checkLoadFlags(c); err != nil {
				return err
			}
			if name := c.String("scenario"); name != "" {
				return runScenarios(ctx, c, name)
			}
			o := runOptions{agents: c.Int("agents"), issues: c.Int("issues"), rate: c.Float64("rate"),
				duration: c.Duration("duration"), workTime: c.Duration("work-time"), variance: 0.3,
				failRate: c.Float64("fail-rate"), seed: c.Uint64("seed")}
			if o.issues == 0 && o.rate == 0 {
				o.issues = 10 * o.agents
			}
			var base *loadtest.Percentiles
			if c.Bool("baseline") {
				if o.rate == 0 {
					return usageError(fmt.Errorf("--baseline goes with --rate (latency mode)"))
				}
				p, err := echoBaseline(ctx, c, o)
				if err != nil {
					return err
				}
				base = &p
			}
			res, _, err := runLoad(ctx, c, o)
			if err != nil {
				return err
			}
			res.BaselineEchoRTTMs = base
			return printResult(c, res)
		},
	}
}

// checkTargetFlags refuses stray arguments and the own-server flags with --addr (loadtest and profile).
func checkTargetFlags(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError(fmt.Errorf("%s takes no arguments (got %q): give everything as flags", c.Command.Name, c.Args().First()))
	}
	if c.String("addr") != "" {
		for _, f := range []string{"server-cpuprofile", "server-memprofile", "keep", "settle"} {
			if c.IsSet(f) {
				return usageError(fmt.Errorf("--%s is for the server the tool starts itself; it does not apply with --addr", f))
			}
		}
	}
	if c.Duration("settle") < 0 {
		return usageError(fmt.Errorf("--settle %s: want 0 or more", c.Duration("settle")))
	}
	return nil
}

// checkLoadFlags refuses what loadtest cannot run, before any server is started.
func checkLoadFlags(c *cli.Context) error {
	if err := checkTargetFlags(c); err != nil {
		return err
	}
	if c.String("scenario") != "" {
		for _, f := range []string{"agents", "issues", "rate", "duration", "fail-rate", "baseline"} {
			if c.IsSet(f) {
				return usageError(fmt.Errorf("--scenario sets its own agents, issues, session time and fail rate; --%s does not apply (--work-time scales the sessions)", f))
			}
		}
	}
	switch {
	case c.Int("agents") < 1:
		return usageError(fmt.Errorf("--agents %d: at least 1", c.Int("agents")))
	case c.Int("issues") < 0:
		return usageError(fmt.Errorf("--issues %d: not negative", c.Int("issues")))
	case c.Float64("rate") < 0:
		return usageError(fmt.Errorf("--rate %g: not negative", c.Float64("rate")))
	case c.Int("issues") > 0 && c.Float64("rate") > 0:
		return usageError(fmt.Errorf("give --issues (throughput) or --rate (latency), not both"))
	case c.Float64("rate") > 0 && c.Duration("duration") <= 0:
		return usageError(fmt.Errorf("--rate needs --duration (how long issues are created)"))
	case c.Duration("duration") < 0 || c.Duration("work-time") < 0:
		return usageError(fmt.Errorf("--duration and --work-time are not negative"))
	case c.Float64("fail-rate") < 0 || c.Float64("fail-rate") > 1:
		return usageError(fmt.Errorf("--fail-rate %g: a fraction from 0 to 1", c.Float64("fail-rate")))
	}
	return nil
}

// echoBaseline measures the machine's round trip between two processes at the run's rate (one ping per
// create, at most 1,000), with this binary's echo server (gtc loadtest-echo).
func echoBaseline(ctx context.Context, c *cli.Context, o runOptions) (loadtest.Percentiles, error) {
	exe, err := os.Executable()
	if err != nil {
		return loadtest.Percentiles{}, fmt.Errorf("find the gtc binary: %w", err)
	}
	n := min(loadtest.RateIssues(o.rate, o.duration), 1000)
	fmt.Fprintf(c.App.ErrWriter, "baseline: %d pings at %g/s to an echo server in another process...\n", n, o.rate)
	s, err := loadtest.EchoBaseline(ctx, func(socket string) *exec.Cmd {
		return exec.Command(exe, "loadtest-echo", "--socket", socket)
	}, o.rate, n)
	return s.Percentiles(), err
}

// loadtestEchoCommand is the echo server of loadtest --baseline (hidden: not for people).
func loadtestEchoCommand() *cli.Command {
	return &cli.Command{
		Name:   "loadtest-echo",
		Hidden: true,
		Usage:  "echo server of gtc loadtest --baseline",
		Flags:  []cli.Flag{&cli.StringFlag{Name: "socket", Required: true}},
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return loadtest.ServeEcho(ctx, c.String("socket"), c.App.Writer)
		},
	}
}

// runOptions is one run's workload.
type runOptions struct {
	agents, issues int
	rate           float64
	duration       time.Duration
	workTime       time.Duration
	variance       float64
	failRate       float64
	ramp           time.Duration
	seed           uint64
}

// runLoad starts (or reaches) the coordinator and runs the driver with a progress bar on stderr.
func runLoad(ctx context.Context, c *cli.Context, o runOptions) (loadtest.Result, loadtest.ProfileReport, error) {
	stderr := c.App.ErrWriter
	if note := raiseNoFile(o.agents); note != "" {
		fmt.Fprintln(stderr, note)
	}
	cfg := loadtest.Config{Agents: o.agents, Rate: o.rate, Duration: o.duration, WorkTime: o.workTime,
		WorkVariance: o.variance, FailRate: o.failRate, Ramp: o.ramp}
	var specs []loadtest.IssueSpec
	prefix := "lt"
	if c.String("addr") != "" {
		// a live coordinator: a fresh prefix (it may hold earlier runs' issues), and agents that take
		// only this run's issues, never the workspace's own
		prefix = fmt.Sprintf("lt%x", time.Now().UnixNano()&0xffffff)
		cfg.IDPrefix, cfg.OwnIssuesOnly = prefix, true
		fmt.Fprintf(stderr, "loading the coordinator at %s: this run's issues (%s-…) are created in its workspace and stay there, closed\n",
			c.String("addr"), prefix)
	}
	if o.rate == 0 {
		specs = loadtest.GenerateIssues(o.issues, prefix, o.seed)
		cfg.Issues = specs
	}
	if addr := c.String("addr"); addr != "" {
		cfg.Network, cfg.Addr, cfg.Token = addrNetwork(addr), addr, c.String("token")
	} else {
		exe, err := os.Executable()
		if err != nil {
			return loadtest.Result{}, loadtest.ProfileReport{}, fmt.Errorf("find the gtc binary: %w", err)
		}
		fmt.Fprintf(stderr, "starting gtc serve on a temp workspace with %d issues...\n", len(specs))
		srv, err := loadtest.StartServer(ctx, specs, loadtest.ServerOptions{Exe: exe, MaxConns: o.agents + 100,
			CPUProfile: c.String("server-cpuprofile"), MemProfile: c.String("server-memprofile"), KeepDir: c.Bool("keep"),
			Settle: c.Duration("settle")})
		if err != nil {
			return loadtest.Result{}, loadtest.ProfileReport{}, err
		}
		defer srv.Close()
		if c.Bool("keep") {
			fmt.Fprintf(stderr, "workspace: %s\n", srv.Dir)
		}
		cfg.Network, cfg.Addr, cfg.Preloaded = "unix", srv.Socket, true
		cfg.ServerPID, cfg.Stop, cfg.FinalState = srv.PID, srv.Stop, srv.FinalState
	}
	total := int64(o.issues)
	if o.rate > 0 {
		total = int64(loadtest.RateIssues(o.rate, o.duration))
	}
	bar := progressbar.NewOptions64(max(total, 1), progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription(fmt.Sprintf("%d agents", o.agents)), progressbar.OptionShowCount(),
		progressbar.OptionShowIts(), progressbar.OptionSetItsString("issues"), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		// the bar redraws itself with carriage returns: only for a terminal, not into a file or pipe
		progressbar.OptionSetVisibility(isTerminal(stderr)))
	_ = bar.RenderBlank() // starts the bar's clock now: its first rate is not issues over a few microseconds
	cfg.Progress = func(done, _ int64) { _ = bar.Set64(done) }
	cfg.OnError = func(err error) { fmt.Fprintln(stderr, "first agent error:", err) }
	res, rep, err := loadtest.Run(ctx, cfg)
	if c.String("addr") == "" {
		res.SettleMs = float64(c.Duration("settle").Milliseconds())
	}
	_ = bar.Finish()
	fmt.Fprintln(stderr)
	var oe *net.OpError
	if addr := c.String("addr"); addr != "" && errors.As(err, &oe) && oe.Op == "dial" && !errors.Is(err, loadtest.ErrCoordinatorGone) {
		err = noServerError(dialTarget{Network: cfg.Network, Addr: addr}, err) // exit 3, as every client command
	}
	if err == nil && res.StoppedBy != "drained" {
		fmt.Fprintf(stderr, "the run stopped at its %s with %d issues unfinished (the server still holds them: not lost); the figures cover the run so far\n",
			res.StoppedBy, res.Unfinished)
	}
	return res, rep, err
}

// addrNetwork guesses the network of an --addr: host:port is TCP, anything else a unix socket path.
func addrNetwork(addr string) string {
	if strings.Contains(addr, "/") || strings.HasSuffix(addr, ".sock") || !strings.Contains(addr, ":") {
		return "unix"
	}
	return "tcp"
}

// raiseNoFile lifts the open-file limit when the agents need more descriptors than it allows, and says so.
func raiseNoFile(agents int) string {
	need := uint64(agents + 256) // one socket per agent; the server subprocess has its own limit (it inherits this one)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= need {
		return ""
	}
	old := lim.Cur
	lim.Cur = min(need, lim.Max)
	if need > lim.Max {
		lim.Max, lim.Cur = need, need // works with CAP_SYS_RESOURCE only
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
			return fmt.Sprintf("raised RLIMIT_NOFILE from %d to %d for %d agents", old, need, agents)
		}
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		lim.Cur = lim.Max
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Sprintf("warning: %d agents need %d open files; RLIMIT_NOFILE is %d and could not be raised: %v", agents, need, old, err)
	}
	if lim.Cur < need && lim.Cur == old {
		return fmt.Sprintf("warning: %d agents need %d open files; RLIMIT_NOFILE is already at its hard limit %d (raise ulimit -Hn)", agents, need, old)
	}
	if lim.Cur < need {
		return fmt.Sprintf("warning: raised RLIMIT_NOFILE from %d to its hard limit %d, below the %d that %d agents need (ulimit -Hn)", old, lim.Cur, need, agents)
	}
	return fmt.Sprintf("raised RLIMIT_NOFILE from %d to %d for %d agents", old, lim.Cur, agents)
}

func printResult(c *cli.Context, r loadtest.Result) error {
	if c.Bool("json") {
		return loadtest.WriteJSON(c.App.Writer, r)
	}
	loadtest.WriteTable(c.App.Writer, r)
	return nil
}

// runScenarios runs one harness scenario (or all) and applies its pass criteria.
func runScenarios(ctx context.Context, c *cli.Context, name string) error {
	var list []loadtest.Scenario
	if name == "all" {
		list = loadtest.Scenarios()
	} else {
		s, ok := loadtest.LookupScenario(name)
		if !ok {
			return usageError(fmt.Errorf("--scenario %q: want smoke, light, medium, heavy, stress or all", name))
		}
		list = []loadtest.Scenario{s}
	}
	type outcome struct {
		Scenario string               `json:"scenario"`
		Pass     bool                 `json:"pass"`
		Reasons  []string             `json:"reasons"`
		Criteria []loadtest.Criterion `json:"criteria"`
		Result   loadtest.Result      `json:"result"`
	}
	var outs []outcome
	failed := 0
	for _, s := range list {
		if wt := c.Duration("work-time"); wt > 0 {
			s = s.Scaled(float64(wt) / float64(s.AvgSession))
		}
		fmt.Fprintf(c.App.ErrWriter, "scenario %s: %d agents, %d issues, session %v ±%.0f%%, ramp %v, fail %.0f%%\n",
			s.Name, s.Agents, s.Issues, s.AvgSession, s.Variance*100, s.Ramp, s.FailureRate*100)
		res, _, err := runLoad(ctx, c, runOptions{agents: s.Agents, issues: s.Issues, workTime: s.AvgSession,
			variance: s.Variance, failRate: s.FailureRate, ramp: s.Ramp, seed: c.Uint64("seed")})
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		pass, reasons := loadtest.Assess(res, s)
		if reasons == nil {
			reasons = []string{}
		}
		if !pass {
			failed++
		}
		criteria := loadtest.Criteria(res, s)
		outs = append(outs, outcome{Scenario: s.Name, Pass: pass, Reasons: reasons, Criteria: criteria, Result: res})
		if !c.Bool("json") {
			w := c.App.Writer
			loadtest.WriteTable(w, res)
			verdict := "PASS"
			if !pass {
				verdict = "FAIL"
			}
			fmt.Fprintf(w, "scenario %s: %s\n", s.Name, verdict)
			for _, cr := range criteria {
				fmt.Fprintf(w, "  %s\n", cr)
			}
			fmt.Fprintln(w)
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(outs); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d scenarios failed their pass criteria", failed, len(list))
	}
	return nil
}

func profileCommand() *cli.Command {
	return &cli.Command{
		Name:  "profile",
		Usage: "run the harness profiler's workload against a coordinator and print its profile report",
		Description: "The TypeScript harness's profiler (runProfileSession) run for real: --issues issues arrive one every\n" +
			"1000/--agents ms (or spread evenly over --duration when given) while --agents agents work on them; the report\n" +
			"(same fields, percentile formula, bottleneck rules and port score as the harness) is computed by the server\n" +
			"(coord.profile) over the run. The verdict says whether a plan threshold (loop P95 10 ms, SQLite read 5 ms,\n" +
			"write 10 ms, memory 50 MB) is crossed.",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "agents", Value: 25, Usage: "target agents (harness targetAgents)"},
			&cli.IntFlag{Name: "issues", Value: 100, Usage: "target issues (harness targetIssues)"},
			&cli.DurationFlag{Name: "duration", Usage: "harness durationMs: spread the issues over this window (default: 1000/agents ms apart)"},
			&cli.DurationFlag{Name: "work-time", Value: 50 * time.Millisecond, Usage: "simulated session per issue (the harness loop averaged ~57 ms)"},
		}, targetFlags()...),
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := checkTargetFlags(c); err != nil {
				return err
			}
			agents, issues := c.Int("agents"), c.Int("issues")
			if agents <= 0 || issues <= 0 {
				return usageError(fmt.Errorf("--agents and --issues must be positive"))
			}
			if c.Duration("duration") < 0 || c.Duration("work-time") < 0 {
				return usageError(fmt.Errorf("--duration and --work-time are not negative"))
			}
			rate := float64(agents) // harness: sleep(1000/targetAgents) between issues
			dur := time.Duration(float64(issues) / rate * float64(time.Second))
			if d := c.Duration("duration"); d > 0 {
				dur, rate = d, float64(issues)/d.Seconds()
			}
			_, rep, err := runLoad(ctx, c, runOptions{agents: agents, rate: rate, duration: dur,
				workTime: c.Duration("work-time"), variance: 0.3})
			if err != nil {
				return err
			}
			rep.Config.TargetAgents, rep.Config.TargetIssues = agents, issues
			rep.Config.DurationMs = c.Duration("duration").Milliseconds() // as given: the harness's default is 0
			rep.Render()
			return printProfile(c.App.Writer, rep, c.Bool("json"))
		},
	}
}

func printProfile(w io.Writer, rep loadtest.ProfileReport, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	_, err := io.WriteString(w, rep.Report)
	return err
}

// isTerminal reports whether w is a terminal (a character device), where a progress bar may redraw itself.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
