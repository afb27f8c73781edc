// Package store is the coordinator's SQLite durability layer: issues (raw record bytes plus the
// projection the scheduler needs), leases, workers, merge requests, the audit log and settings.
// Writes go through one writer connection with group commit; reads use a separate read-only pool.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver

	"github.com/gastown/gtc/coord"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Observer receives operation timings (for metrics); every method must be cheap and safe for concurrent use.
type Observer interface {
	// ObserveRead reports one read of the given kind ("issue", "list", "load", ...).
	ObserveRead(kind string, d time.Duration)
	// ObserveCommit reports one transaction and the number of changes it carried.
	ObserveCommit(d time.Duration, changes int)
	// ObserveWrite reports the statements of one committed transaction, from its BEGIN up to its COMMIT.
	ObserveWrite(d time.Duration)
}

// Options tune Open; the zero value is fine.
type Options struct {
	Observer    Observer      // optional timing hooks
	BusyTimeout time.Duration // how long a connection waits for a lock; default 5s
	ReadConns   int           // read-only pool size; default max(4, GOMAXPROCS)
	MaxBatch    int           // changes per group commit; default 1024
	// CheckpointInterval is how often a background connection copies the WAL back into the database file,
	// so commits do not pay for it; default 250ms; negative leaves checkpoints to SQLite (every 1000 pages).
	CheckpointInterval time.Duration
}

// DB is an open store; it is safe for concurrent use.
type DB struct {
	path    string
	file    *os.File // the database file, held to notice it deleted, moved or replaced (fileGone); closed last
	wal     *os.File // its write-ahead log, held for the same reason (nil: none when the store opened)
	tmpDir  string   // removed on Close when the store was opened as ":memory:"
	w       *sqlx.DB
	r       *sqlx.DB
	obs     Observer
	ws      writeStmts
	rs      readStmts
	lists   sync.Map // SQL text -> *sqlx.Stmt for ListIssues shapes
	dirty   *dirtySet
	nextSeq int64 // the next event's sequence number; the committer's alone after Open
	// migrated names the migrations this Open applied (an upgraded or a new store)
	migrated []string
	reqs     chan *commitReq
	mu       sync.RWMutex // guards closed against sends on reqs
	closed   bool
	done     chan struct{} // closed when the committer has exited
	batch    int
	ck       *sqlx.DB      // checkpoint connection; nil when checkpoints are left to SQLite
	ckStop   chan struct{} // closed to stop the checkpointer
	ckDone   chan struct{} // closed when the checkpointer has exited
	taken    atomic.Int64  // requests put into batches by the committer (tests wait on it)
	// lockWaited sums the time commits spent getting SQLite's write lock (BEGIN IMMEDIATE, nanoseconds)
	lockWaited atomic.Int64
	tx         wtx // the committer's transaction state, reused (runBatch)
	closeMu    sync.Mutex
	issueScan  issueScan // how IssueEvents pages its search (zero: defaultIssueScan); tests set it
}

// ErrOrphanWAL is Open's refusal of a missing database file whose WAL is still there.
var ErrOrphanWAL = errors.New("the database file is missing but its WAL is not")

// orphanWAL refuses to create a store where the file is gone but its WAL, holding commits, is left: SQLite
// would start a new database beside the old one's frames (gtc.db deleted or moved by hand, a restore of an
// older gtc interrupted), and those commits would be lost or mixed in.
func orphanWAL(path string) error {
	if path == ":memory:" {
		return nil
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("%w: %s-wal (%d bytes) holds commits of a gtc.db that is not there: put that gtc.db back "+
			"(with the WAL beside it), or move %s-wal away and start a new store from issues.jsonl, or restore a backup "+
			"with `gtc restore --force FILE` (the WAL is kept aside)", ErrOrphanWAL, path, st.Size(), path)
	}
	return nil
}

// walSizeLimit is the size gtc.db-wal is truncated to when SQLite resets it after a checkpoint.
const walSizeLimit = 16 << 20

// Open opens (creating if needed) the store at path and applies pending migrations.
// The path ":memory:" opens a throwaway store in a temporary directory that Close removes.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 250 * time.Millisecond
	}
	if err := orphanWAL(path); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := &DB{path: path, obs: opts.Observer, batch: opts.MaxBatch, reqs: make(chan *commitReq, 256), done: make(chan struct{}),
		dirty: newDirtySet()}
	if path == ":memory:" {
		dir, err := os.MkdirTemp("", "gtc-store-")
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		db.tmpDir = dir
		db.path = filepath.Join(dir, "gtc.db")
	}
	if err := db.open(ctx, opts); err != nil {
		db.closeHandles()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Never closed while SQLite's connections are open: closing any descriptor of the file would drop
	// the process's POSIX locks on it, SQLite's included.
	f, err := os.Open(db.path)
	if err != nil {
		db.closeHandles()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.file = f
	// the WAL exists from the first write on (the migrations' check) until the last connection closes
	if db.wal, err = os.Open(db.path + "-wal"); err != nil {
		db.wal = nil
	}
	go db.committer()
	if db.ck != nil {
		db.ckStop, db.ckDone = make(chan struct{}), make(chan struct{})
		go db.checkpointer(opts.CheckpointInterval)
	}
	return db, nil
}

func (db *DB) open(ctx context.Context, opts Options) error {
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	wq := url.Values{}
	wq.Set("_txlock", "immediate")
	// SQLite's multi-thread mode instead of serialized: database/sql hands a connection (and its
	// statements, here and in conn.Raw) to one goroutine at a time, so the per-connection mutex every
	// SQLite call takes guards nothing (sqlite3_interrupt, used on cancel, needs no mutex).
	wq.Set("_mutex", "no")
	wq.Set("_journal_mode", "WAL")
	wq.Set("_synchronous", "NORMAL")
	wq.Set("_busy_timeout", busy)
	wq.Set("_foreign_keys", "1")
	// 2 MiB. Not more: SQLite scans its whole page-cache hash table at the end of a write transaction
	// after a b-tree balance has swapped pages (the swap parks a page at the pending-byte page number, so
	// the cache's largest key stays far past the end of the file). With 64 MiB that scan was ~7 % of
	// the CPU of the durable-cycle benchmark; 16 -> 8 MiB cut a 10,000-issue server's RSS by ~7 MB, and
	// 8 -> 4 MiB by ~3.5 MB more, with no loss of throughput at 10,000 or 100,000 issues (pages the cache
	// misses come from the OS page cache). 4 -> 2 MiB (with the readers' 512 -> 256 KiB): RSS 118.5-119.1
	// against 124.2-126.4 MB at 1,000 x 100,000 and the same CPU per durable cycle (52.2 / 53.8 against
	// 54.7 / 54.4 µs, BenchmarkDurableCycles/workers=1000, alternating; docs/benchmarks.md).
	wq.Set("_cache_size", "-2048")
	w, err := sqlx.Open("sqlite3", fileURI(db.path, wq))
	if err != nil {
		return err
	}
	db.w = w
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		return err
	}
	applied, err := migrate(ctx, w)
	db.migrated = applied
	if err != nil {
		return err
	}
	if err := db.dirty.fill(ctx, w); err != nil {
		return err
	}
	if err := db.loadNextSeq(ctx); err != nil {
		return err
	}
	// A WAL that a long read kept from being checkpointed grows (337 MB in a trial with 100,000-issue
	// lists); once checkpointed, the writer's next reset of it truncates the file to this size.
	if _, err := w.ExecContext(ctx, fmt.Sprintf("PRAGMA journal_size_limit = %d", walSizeLimit)); err != nil {
		return fmt.Errorf("set journal_size_limit: %w", err)
	}
	if opts.CheckpointInterval > 0 {
		// the background checkpointer does the work; SQLite's own checkpoint on commit is only a backstop.
		// The setting is per connection: if the writer connection is ever replaced, the default applies.
		if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 16384"); err != nil {
			return fmt.Errorf("set wal_autocheckpoint: %w", err)
		}
		cq := url.Values{}
		cq.Set("_busy_timeout", busy)
		ck, err := sqlx.Open("sqlite3", fileURI(db.path, cq))
		if err != nil {
			return err
		}
		db.ck = ck
		ck.SetMaxOpenConns(1)
		ck.SetMaxIdleConns(1)
		ck.SetConnMaxLifetime(0)
		ck.SetConnMaxIdleTime(0)
	}
	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Set("_mutex", "no") // as the writer's
	rq.Set("_busy_timeout", busy)
	rq.Set("_foreign_keys", "1")
	// 256 KiB: a reader's page cache is dropped whenever the WAL changed since its last read (every commit
	// on a busy coordinator), so a bigger one only holds memory. At 2 MiB the pool's caches filled during a
	// 100,000-issue drain and held ~8 MB more (RSS 146-157 against 143-144 MB at 512 KiB, same
	// throughput; gtc loadtest --agents 1000 --issues 100000, docs/benchmarks.md).
	rq.Set("_cache_size", "-256")
	r, err := sqlx.Open("sqlite3", fileURI(db.path, rq))
	if err != nil {
		return err
	}
	db.r = r
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		return err
	}
	if err := db.rs.prepare(ctx, r); err != nil {
		return fmt.Errorf("prepare reads: %w", err)
	}
	return nil
}

// fileURI builds an SQLite URI filename for path with the given parameters.
func fileURI(path string, q url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Migrated names the schema migrations Open applied, oldest first (none: the store was up to date).
func (db *DB) Migrated() []string { return db.migrated }

// Close waits for pending commits, then closes both pools; further calls return EUnavailable.
func (db *DB) Close() error {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.reqs)
	db.mu.Unlock()
	<-db.done
	if db.ck != nil {
		close(db.ckStop)
		<-db.ckDone
	}
	return db.closeHandles()
}

func (db *DB) closeHandles() error {
	var errs []error
	db.ws.close()
	db.rs.close()
	db.lists.Range(func(k, v any) bool {
		_ = v.(*sqlx.Stmt).Close()
		db.lists.Delete(k)
		return true
	})
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.ck != nil {
		errs = append(errs, db.ck.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.file != nil {
		errs = append(errs, db.file.Close())
	}
	if db.wal != nil {
		errs = append(errs, db.wal.Close())
	}
	if db.tmpDir != "" {
		errs = append(errs, os.RemoveAll(db.tmpDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store %s: %w", db.path, err)
	}
	return nil
}

// LockWaited returns the total time this store's commits have spent getting SQLite's write lock: a
// caller timing its own work subtracts what another process holding the lock cost it.
func (db *DB) LockWaited() time.Duration { return time.Duration(db.lockWaited.Load()) }

// fileGone returns an error when the database file gtc has open is no longer the file at its path
// (deleted, replaced by a rename over it, moved away, its directory renamed): SQLite would go on
// writing into it, and a restart at that path would lose everything written since. The same for its
// WAL (gtc.db-wal): commits would go into a file no restart reads. Every commit is refused then.
func (db *DB) fileGone() error {
	gone, err := notAt(db.file, db.path)
	if err != nil {
		return err
	}
	if gone {
		return fmt.Errorf("%s was deleted, moved or replaced while gtc runs: changes are refused (a restart there would not see them); stop gtc (SIGTERM still writes issues.jsonl) and start it again", db.path)
	}
	if gone, err = notAt(db.wal, db.path+"-wal"); err != nil || !gone {
		return err
	}
	return fmt.Errorf("%s-wal was deleted, moved or replaced while gtc runs: changes are refused (the commits it holds are in no file a restart would read); stop gtc with SIGTERM now: on exit SQLite copies them into %s (a kill -9 would lose them)", db.path, filepath.Base(db.path))
}

// notAt reports whether the open file f (nil: none, false) is no longer the file at path.
func notAt(f *os.File, path string) (bool, error) {
	if f == nil {
		return false, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink == 0 {
		return true, nil
	}
	cur, err := os.Stat(path)
	return err != nil || !os.SameFile(fi, cur), nil
}

// migration is one embedded schema step.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := filepath.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// ErrNewerSchema is the error of Open on a gtc.db a newer gtc migrated past the migrations this one has:
// its data may live where this gtc does not look, and what it writes would lose it.
var ErrNewerSchema = errors.New("gtc.db was written by a newer gtc")

// migrate applies every embedded migration not yet recorded in schema_migrations, one transaction each,
// and returns the names of those it applied. A store already past the newest embedded migration is
// refused (ErrNewerSchema) before anything is written.
func migrate(ctx context.Context, w *sqlx.DB) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var newest struct {
		Version int    `db:"version"`
		Name    string `db:"name"`
	}
	err = w.GetContext(ctx, &newest, `SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	if known := ms[len(ms)-1]; newest.Version > known.version {
		return nil, fmt.Errorf("%w: its schema is at migration %s, this gtc knows up to %s; run that gtc (or a newer one) on it, "+
			"or move gtc.db aside to start again from issues.jsonl (leases, workers and history stay behind)",
			ErrNewerSchema, newest.Name, known.name)
	}
	var applied []string
	for _, m := range ms {
		done, err := applyMigration(ctx, w, m)
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if done {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

// applyMigration applies m unless schema_migrations records it; done says it did.
func applyMigration(ctx context.Context, w *sqlx.DB, m migration) (done bool, err error) {
	tx, err := w.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// unavailable wraps a storage failure as EUnavailable.
func unavailable(what string, err error) error {
	if err == nil {
		return nil
	}
	var ce *coord.Error
	if errors.As(err, &ce) {
		return err
	}
	return &coord.Error{Code: coord.EUnavailable, Message: "storage " + what + " failed; retry later", Err: err}
}

func (db *DB) observeRead(kind string, start time.Time) {
	if db.obs != nil {
		db.obs.ObserveRead(kind, time.Since(start))
	}
}

// fmtTime renders t for a TEXT column; the zero time is "".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// fmtTimePtr renders *t; nil is "".
func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return fmtTime(*t)
}

// parseTime reads a TEXT column written by fmtTime.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// parseTimePtr reads a nullable time column.
func parseTimePtr(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := parseTime(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
