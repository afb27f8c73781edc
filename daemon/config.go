// Package daemon wires the coordinator together: the SQLite store, the scheduler engine, the JSONL
// syncer, the JSON-RPC listeners, HTTP (/rpc, /metrics, /healthz) and metrics.
package daemon

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/prometheus/client_golang/prometheus"
)

// Config says where and how the coordinator runs; the zero value of every field means its default.
type Config struct {
	// Dir is the workspace holding .beads/. Defaults to ".".
	Dir string
	// DB is the SQLite database. Defaults to <Dir>/.beads/gtc.db (bd's own database is beads.db).
	DB string
	// Socket is the Unix socket workers and the CLI use. Defaults to <Dir>/.beads/gtc.sock; "-" disables it.
	Socket string
	// Listen is a TCP address for JSON-RPC streams (token required). Defaults to "" (none).
	Listen string
	// HTTP is the address serving POST /rpc, GET /metrics and GET /healthz. Defaults to "" (none).
	HTTP string
	// Token authorises TCP and HTTP peers. Defaults to the contents of TokenFile, created on first start.
	Token string
	// TokenFile holds the token (mode 0600). Defaults to <Dir>/.beads/gtc.token.
	TokenFile string
	// SyncInterval is the JSONL sync tick, from one sync's start to the next; a sync taking more than a
	// tenth of it stretches its tick to ten times its own duration (a sync uses at most a tenth of the
	// time), by at most 30 s or ten intervals; a failed sync is retried at the tick. Defaults to 2s.
	SyncInterval time.Duration
	// MaxMessageBytes caps one JSON-RPC message. Defaults to 1 MiB.
	MaxMessageBytes int
	// MaxConns caps concurrent connections. Defaults to 10,000.
	MaxConns int
	// HTTPMaxConns caps concurrent HTTP connections (the ones over it wait to be accepted). Defaults to 256.
	HTTPMaxConns int
	// HTTPIdleTimeout closes a kept-alive HTTP connection idle that long; a request (headers and body)
	// must arrive within HTTPReadTimeout. Default 60s and 30s.
	HTTPIdleTimeout, HTTPReadTimeout time.Duration
	// IdleTimeout disconnects a peer that sends nothing for that long. Defaults to 5m.
	IdleTimeout time.Duration
	// WriteTimeout disconnects a peer that does not read its messages for that long. Defaults to 10s.
	WriteTimeout time.Duration
	// MemoryTarget is a soft cap on the Go runtime's memory, in bytes, held with the runtime's memory
	// limit: the collector runs earlier and returns free pages sooner to stay under it, but always leaves
	// the heap two fifths of its live size to grow, so past the target memory grows with the live heap instead of
	// the collector running back to back. The limit is process-wide. Defaults to 0: left alone (gtc serve
	// sets 70 MiB); GOMEMLIMIT in the environment always wins.
	MemoryTarget int64
	// GCFloor is the heap size, in bytes, before which the collector does not run: after each collection
	// GOGC is set so the next comes at GCFloor while the live heap is under half of it (Go's own pacing
	// past that). Go's floor is 4 MiB, at which a small server collects tens of times a second. The
	// setting is process-wide. Defaults to 0: left alone (gtc serve sets 16 MiB); GOGC in the environment
	// always wins.
	GCFloor int64
	// Retain is how long gtc.db keeps its history: audit-log events, ended leases and finished merge
	// requests older than that are deleted (issues, workers and live state never are) every PruneEvery.
	// Defaults to 30 days (720h); negative keeps everything.
	Retain time.Duration
	// PruneEvery is how often the history older than Retain is deleted; the first time when the last
	// prune on record is PruneEvery old (10 s after the start if overdue, a minute with none on record).
	// Defaults to a tenth of Retain, between 1m and 1h.
	PruneEvery time.Duration
	// Pushers is the number of goroutines loading issue bodies for pushes. Defaults to 4.
	Pushers int
	// CustomStatuses are statuses issue.update accepts besides bd's own (open, in_progress, blocked, hooked,
	// deferred, pinned, closed, tombstone), the scheduler's (Coord.Status*, Coord.CodeCompleteStatus) and
	// any status an issue already has; bd's status.custom ("name" or HEAD's "name:category"). Defaults to none.
	CustomStatuses []string
	// CustomTypes are issue types issue.create and issue.update accept besides bd's own (task, bug, feature,
	// epic, chore, ...), Gas Town's, Coord.WorkflowTypes and any type an issue already has; bd's
	// types.custom. Defaults to none.
	CustomTypes []string
	// Coord tunes the scheduler (ack timeout, heartbeat timeout, grace, attempts, ...); see coord.Config.
	Coord coord.Config
	// Merge tunes the merge queue (slot lease timeout, attempts, default target); used unless Coord.MergeQueue is set.
	// Open refuses a MaxParallel above 1 (mergeq.Config.Validate: parallel merges of one target race).
	Merge mergeq.Config
	// Clock drives the scheduler. Defaults to the real clock.
	Clock coord.Clock
	// Registry receives the metrics. Defaults to a new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Logger receives the server's log. Defaults to slog.Default().
	Logger *slog.Logger
	// Version is reported by hello. Defaults to "dev".
	Version string
}

// DefaultRetain is Config.Retain's default: 30 days of history.
const DefaultRetain = 30 * 24 * time.Hour

// withDefaults fills every zero field.
func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = "."
	}
	bd := filepath.Join(c.Dir, ".beads")
	if c.DB == "" {
		c.DB = filepath.Join(bd, "gtc.db")
	}
	if c.Socket == "" {
		c.Socket = filepath.Join(bd, "gtc.sock")
	}
	if c.TokenFile == "" {
		c.TokenFile = filepath.Join(bd, "gtc.token")
	}
	if c.SyncInterval <= 0 {
		c.SyncInterval = 2 * time.Second
	}
	if c.Retain == 0 {
		c.Retain = DefaultRetain
	}
	if c.PruneEvery <= 0 {
		c.PruneEvery = min(max(c.Retain/10, time.Minute), time.Hour)
	}
	if c.Pushers <= 0 {
		c.Pushers = 4
	}
	if c.HTTPMaxConns <= 0 {
		c.HTTPMaxConns = 256
	}
	if c.HTTPIdleTimeout <= 0 {
		c.HTTPIdleTimeout = time.Minute
	}
	if c.HTTPReadTimeout <= 0 {
		c.HTTPReadTimeout = 30 * time.Second
	}
	if c.Clock == nil {
		c.Clock = coord.RealClock{}
	}
	if c.Coord.MergeQueue == nil {
		c.Coord.MergeQueue = mergeq.Factory(c.Merge)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.CustomStatuses) > 0 {
		names := make([]string, 0, len(c.CustomStatuses))
		for _, st := range c.CustomStatuses {
			name, _, _ := strings.Cut(st, ":") // HEAD's name:category
			if name = strings.TrimSpace(name); name != "" {
				names = append(names, name)
			}
		}
		c.CustomStatuses = names
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// BeadsDir is the workspace's .beads directory.
func (c Config) BeadsDir() string { return filepath.Join(c.withDefaults().Dir, ".beads") }

// JSONLPath is the workspace's issues.jsonl.
func (c Config) JSONLPath() string { return filepath.Join(c.BeadsDir(), "issues.jsonl") }
