package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=..."; see buildVersion.
var version = "dev"

// buildVersion is version, or for a dev build the commit it was built from as Go records it
// (vcs.revision, "+modified" for a tree with changes): "dev (7891d10c4e2a)".
func buildVersion() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	if rev == "" {
		return version
	}
	return version + " (" + rev + modified + ")"
}

// minMaxMessage is the smallest --max-message: under it a server refuses its workers' hellos as too large.
const minMaxMessage = 1024

// maxMemoryTargetMiB bounds --memory-target-mib (1 PiB), so the value in bytes cannot overflow.
const maxMemoryTargetMiB = 1 << 30

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the coordinator for the workspace (--dir): unix socket .beads/gtc.sock, optional TCP and HTTP",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", EnvVars: []string{"GTC_SOCKET"}, Usage: "unix socket path (default .beads/gtc.sock; - disables it)"},
			&cli.StringFlag{Name: "listen", EnvVars: []string{"GTC_LISTEN"}, Usage: "TCP address for JSON-RPC workers, token required (e.g. 127.0.0.1:7420)"},
			&cli.StringFlag{Name: "http", EnvVars: []string{"GTC_HTTP"}, Usage: "HTTP address for POST /rpc, /metrics and /healthz (e.g. 127.0.0.1:7421)"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"GTC_TOKEN"}, Usage: "token for TCP and HTTP peers (default: .beads/gtc.token, created on first start)"},
			&cli.StringFlag{Name: "db", EnvVars: []string{"GTC_DB"}, Usage: "SQLite database (default .beads/gtc.db)"},
			&cli.DurationFlag{Name: "sync-interval", Value: 2 * time.Second, EnvVars: []string{"GTC_SYNC_INTERVAL"}, Usage: "JSONL import/export tick (a sync longer than a tenth of it stretches its tick to ten times its duration)"},
			&cli.DurationFlag{Name: "ack-timeout", Value: 10 * time.Second, EnvVars: []string{"GTC_ACK_TIMEOUT"}, Usage: "a pushed assignment not acked within it goes back to the queue"},
			&cli.DurationFlag{Name: "heartbeat-timeout", Value: 60 * time.Second, EnvVars: []string{"GTC_HEARTBEAT_TIMEOUT"}, Usage: "an acked lease without heartbeat for this long expires"},
			&cli.DurationFlag{Name: "grace", Value: 30 * time.Second, EnvVars: []string{"GTC_GRACE"}, Usage: "a disconnected worker keeps its leases this long"},
			&cli.DurationFlag{Name: "forget-gone", Value: 24 * time.Hour, EnvVars: []string{"GTC_FORGET_GONE"}, Usage: "a worker gone this long (no lease, no operator's drain) is forgotten: dropped from gtc workers and the store"},
			&cli.DurationFlag{Name: "retain", Value: daemon.DefaultRetain, EnvVars: []string{"GTC_RETAIN"}, Usage: "gtc.db keeps its history (audit-log events, ended leases, finished merge requests) this long, pruned every tenth of it (1m to 1h apart); issues are never pruned; 0 keeps everything"},
			&cli.IntFlag{Name: "max-attempts", Value: 3, EnvVars: []string{"GTC_MAX_ATTEMPTS"}, Usage: "failed attempts before an issue is dead-lettered (blocked + gtc:failed)"},
			&cli.DurationFlag{Name: "backoff", Value: 5 * time.Second, EnvVars: []string{"GTC_BACKOFF"}, Usage: "retry backoff after the first failed attempt (doubles after each; every wait is drawn from half of it to all of it)"},
			&cli.StringFlag{Name: "code-complete-status", EnvVars: []string{"GTC_CODE_COMPLETE_STATUS"}, Usage: "status a code_complete outcome leaves the issue in until the merge queue merges its branch (then closed) or sends it back (reopened); its dependents wait for the merge; default: code_complete closes the issue"},
			&cli.StringSliceFlag{Name: "custom-status", EnvVars: []string{"GTC_CUSTOM_STATUSES"}, Usage: "a status 'gtc issue update --status' accepts besides bd's own and those issues already have (bd's status.custom; repeat or comma-separate)"},
			&cli.StringSliceFlag{Name: "custom-type", EnvVars: []string{"GTC_CUSTOM_TYPES"}, Usage: "an issue type 'issue create/update --type' accepts besides bd's and Gas Town's own and those issues already have (bd's types.custom; repeat or comma-separate)"},
			&cli.IntFlag{Name: "max-message", Value: 1 << 20, EnvVars: []string{"GTC_MAX_MESSAGE"}, Usage: "largest JSON-RPC message in bytes"},
			&cli.IntFlag{Name: "max-conns", Value: 10000, EnvVars: []string{"GTC_MAX_CONNS"}, Usage: "most concurrent connections"},
			&cli.IntFlag{Name: "memory-target-mib", Value: 70, EnvVars: []string{"GTC_MEMORY_TARGET_MIB"}, Usage: "soft cap on the Go runtime's memory in MiB: the collector works harder to stay under it, but past it memory grows with the live heap; 0 disables (GOMEMLIMIT, if set, wins)"},
			&cli.IntFlag{Name: "gc-floor-mib", Value: 16, EnvVars: []string{"GTC_GC_FLOOR_MIB"}, Usage: "heap size in MiB before which the collector does not run (Go's own floor is 4 MiB, where a small server collects tens of times a second); 0 or under 4 leaves Go's pacing (GOGC, if set, wins)"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile of the whole run to this file (go tool pprof)"},
			&cli.StringFlag{Name: "trace", Hidden: true, Usage: "write a runtime execution trace of the whole run to this file (go tool trace)"},
			&cli.StringFlag{Name: "memprofile", Hidden: true, Usage: "write a heap profile to this file at shutdown (go tool pprof)"},
		},
		Action: func(c *cli.Context) error {
			if mib := c.Int("memory-target-mib"); mib < 0 || mib > maxMemoryTargetMiB {
				return usageError(fmt.Errorf("--memory-target-mib %d: want 0 (off) to %d", mib, maxMemoryTargetMiB))
			}
			if mib := c.Int("gc-floor-mib"); mib < 0 || mib > maxMemoryTargetMiB {
				return usageError(fmt.Errorf("--gc-floor-mib %d: want 0 (off) to %d", mib, maxMemoryTargetMiB))
			}
			// Zero or less would be taken for "the default" further down, silently: `--grace 0` ran with 30 s.
			for _, name := range []string{"ack-timeout", "heartbeat-timeout", "grace", "forget-gone", "backoff", "sync-interval"} {
				if v := c.Duration(name); v <= 0 {
					return usageError(fmt.Errorf("--%s %s: want more than 0", name, v))
				}
			}
			for _, name := range []string{"max-attempts", "max-conns"} {
				if v := c.Int(name); v < 1 {
					return usageError(fmt.Errorf("--%s %d: want 1 or more", name, v))
				}
			}
			if v := c.Int("max-message"); v < minMaxMessage {
				return usageError(fmt.Errorf("--max-message %d: want %d or more (a hello alone takes ~100 bytes)", v, minMaxMessage))
			}
			retain := c.Duration("retain")
			switch {
			case retain < 0 || (retain > 0 && retain < time.Minute):
				return usageError(fmt.Errorf("--retain %s: want a minute or more, or 0 to keep all history", retain))
			case retain == 0:
				retain = -1 // keep everything (the Config's zero would be its default)
			}
			cfg := daemon.Config{
				Dir: c.String("dir"), DB: c.String("db"), Socket: c.String("socket"), Listen: c.String("listen"),
				HTTP: c.String("http"), Token: c.String("token"), SyncInterval: c.Duration("sync-interval"),
				MaxMessageBytes: c.Int("max-message"), MaxConns: c.Int("max-conns"), Version: buildVersion(), Retain: retain,
				MemoryTarget: int64(c.Int("memory-target-mib")) << 20, GCFloor: int64(c.Int("gc-floor-mib")) << 20,
				CustomStatuses: c.StringSlice("custom-status"), CustomTypes: c.StringSlice("custom-type"),
				Coord: coord.Config{AckTimeout: c.Duration("ack-timeout"), HeartbeatTimeout: c.Duration("heartbeat-timeout"),
					Grace: c.Duration("grace"), ForgetGone: c.Duration("forget-gone"), MaxAttempts: c.Int("max-attempts"), BackoffBase: c.Duration("backoff"),
					CodeCompleteStatus: c.String("code-complete-status")},
			}
			ctx, stop := signalContext(os.Interrupt, syscall.SIGTERM)
			defer stop()
			if p := c.String("cpuprofile"); p != "" {
				stopProfile, err := startCPUProfile(p)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			if p := c.String("trace"); p != "" {
				stopTrace, err := startTrace(p)
				if err != nil {
					return err
				}
				defer stopTrace()
			}
			if p := c.String("memprofile"); p != "" {
				defer writeHeapProfile(p)
			}
			raiseProcs()
			d, err := daemon.Open(ctx, cfg)
			if err != nil {
				return err
			}
			if err := d.Listen(); err != nil {
				d.Close() // the workspace is left as it was
				return err
			}
			w := c.App.ErrWriter
			fmt.Fprintf(w, "gtc %s serving %s\n", cfg.Version, cfg.Dir)
			if p := d.SocketPath(); p != "" {
				fmt.Fprintf(w, "  socket: %s\n", p)
			}
			tcp, httpAddr := d.Addrs()
			if tcp != "" {
				fmt.Fprintf(w, "  tcp:    %s (token in %s)\n", tcp, cfgTokenFile(cfg))
			}
			if httpAddr != "" {
				fmt.Fprintf(w, "  http:   http://%s/rpc  /metrics  /healthz\n", httpAddr)
			}
			self := os.Args[0] // as the user invoked it (./bin/gtc after `make run`)
			fmt.Fprintf(w, "attach a worker:  %s --dir %s worker --name w1 --exec 'echo working on $GTC_ISSUE_ID'\n", self, cfg.Dir)
			fmt.Fprintf(w, "watch it:         %s --dir %s status   |   %s --dir %s watch\n", self, cfg.Dir, self, cfg.Dir)
			return d.Run(ctx)
		},
	}
}

func cfgTokenFile(cfg daemon.Config) string {
	if cfg.TokenFile != "" {
		return cfg.TokenFile
	}
	return cfg.BeadsDir() + "/gtc.token"
}

// signalContext is signal.NotifyContext whose cause names the signal that ended it (the log's "shutting
// down" says why; a trial could not tell who stopped its server).
func signalContext(sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			name := s.String()
			switch s {
			case syscall.SIGTERM:
				name = "SIGTERM"
			case os.Interrupt:
				name = "SIGINT (Ctrl-C)"
			}
			cancel(fmt.Errorf("received %s", name))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		cancel(context.Canceled)
	}
}

// cgoProcs is how many processors (Go's Ps) gtc serve adds to GOMAXPROCS. A goroutine in a SQLite call
// (the committer, a pusher reading an issue body) keeps its P until the call returns or the runtime takes it
// back (after 20 µs at best), so with one P per core the server's other goroutines had one P fewer while
// SQLite ran, waiting runnable beside an idle core. With two more, sixteen alternating pairs of 30 x 500
// went 11,155 -> 11,611 completions/s and 1,000 x 100,000 three pairs 11,468 -> 11,810/s
// (docs/benchmarks.md, the dispatch section); the OS still runs as many threads at once as there are cores.
// Setting GOMAXPROCS stops Go following a container's CPU limit as it changes.
const cgoProcs = 2

// raiseProcs adds cgoProcs to GOMAXPROCS, unless GOMAXPROCS is set in the environment (an operator's
// choice wins).
func raiseProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + cgoProcs)
	}
}
