package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/jmoiron/sqlx"
)

// BackupInfo describes a gtc.db file: a backup, or the store a restore replaced.
type BackupInfo struct {
	Path       string `json:"path"`
	Bytes      int64  `json:"bytes"`
	Schema     string `json:"schema"` // the newest migration applied to it
	Issues     int    `json:"issues"`
	LiveLeases int    `json:"live_leases"`
	LastEvent  int64  `json:"last_event"` // the number of its newest audit event
}

// Backup writes a consistent copy of the store at src to dst, a new file, and checks the copy. A server
// may be running on src: the copy is one read snapshot taken through a read-only connection of this
// process (SQLite's VACUUM INTO), and the server's commits go on meanwhile. The copy is written to a
// temporary name beside dst and renamed once complete and checked.
func Backup(ctx context.Context, src, dst string) (BackupInfo, error) {
	if _, err := os.Stat(src); err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", src, err)
	}
	if st, err := os.Lstat(dst); err == nil {
		if st.IsDir() {
			return BackupInfo{}, fmt.Errorf("backup to %s: a directory (give the new file's name)", dst)
		}
		return BackupInfo{}, fmt.Errorf("backup to %s: the file exists (choose a new name)", dst)
	}
	if st, err := os.Stat(filepath.Dir(dst)); err != nil || !st.IsDir() {
		return BackupInfo{}, fmt.Errorf("backup to %s: no directory %s", dst, filepath.Dir(dst))
	}
	tmp := fmt.Sprintf("%s.partial-%d", dst, os.Getpid())
	_ = os.Remove(tmp)
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp)
		}
	}()
	if err := withReadOnly(ctx, src, func(db *sqlx.DB) error {
		_, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp)
		return err
	}); err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: copy: %w", src, err)
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: %w", src, err)
	}
	info, err := Inspect(ctx, tmp)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup %s: check the copy: %w", src, err)
	}
	// a link, not a rename: a file that appeared at dst meanwhile is refused, not replaced
	if err := os.Link(tmp, dst); err != nil {
		if _, serr := os.Lstat(dst); serr == nil {
			return BackupInfo{}, fmt.Errorf("backup to %s: the file appeared while the copy was made", dst)
		}
		if err := os.Rename(tmp, dst); err != nil { // a file system without hard links
			return BackupInfo{}, fmt.Errorf("backup %s: %w", src, err)
		}
	}
	_ = os.Remove(tmp)
	done = true
	_ = syncDir(filepath.Dir(dst))
	info.Path = dst
	return info, nil
}

// Inspect checks a gtc.db file (SQLite's quick_check, a schema this gtc can open) and counts what it
// holds; it opens the file read-only and changes nothing.
func Inspect(ctx context.Context, path string) (BackupInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{Path: path, Bytes: st.Size()}
	ms, err := migrations()
	if err != nil {
		return BackupInfo{}, err
	}
	err = withReadOnly(ctx, path, func(db *sqlx.DB) error {
		var check string
		if err := db.GetContext(ctx, &check, `PRAGMA quick_check`); err != nil {
			return fmt.Errorf("not a readable SQLite database: %w", err)
		}
		if check != "ok" {
			return fmt.Errorf("damaged: SQLite's quick_check says %q", check)
		}
		var newest struct {
			Version int    `db:"version"`
			Name    string `db:"name"`
		}
		if err := db.GetContext(ctx, &newest, `SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1`); err != nil {
			return fmt.Errorf("not a gtc store (no schema_migrations): %w", err)
		}
		if known := ms[len(ms)-1]; newest.Version > known.version {
			return fmt.Errorf("%w: its schema is at migration %s, this gtc knows up to %s", ErrNewerSchema, newest.Name, known.name)
		}
		info.Schema = strings.TrimSuffix(newest.Name, ".sql")
		if err := db.GetContext(ctx, &info.Issues, `SELECT COUNT(*) FROM issues`); err != nil {
			return fmt.Errorf("count issues: %w", err)
		}
		if err := db.GetContext(ctx, &info.LiveLeases, `SELECT COUNT(*) FROM leases WHERE state IN ('pushed', 'acked')`); err != nil {
			return fmt.Errorf("count live leases: %w", err)
		}
		h, err := readHighs(ctx, db)
		info.LastEvent = h.event
		return err
	})
	if err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

// RestoreInfo says what Restore did.
type RestoreInfo struct {
	Backup   BackupInfo `json:"backup"`
	Replaced string     `json:"replaced,omitempty"` // where the store it replaced was moved ("": there was none)
	// The counters the restored store continues after: the replaced store's, or (FromClock) the clock's
	// microseconds when it could not be read.
	LeaseEpoch int64 `json:"lease_epoch"`
	MergeEpoch int64 `json:"merge_epoch"`
	MergeSeq   int64 `json:"merge_seq"`
	EventSeq   int64 `json:"event_seq"` // the number of the restore's own audit event
	FromClock  bool  `json:"from_clock"`
	// Lost are the live leases of the replaced store the backup does not hold (made after it): their
	// workers drop them when they reconnect, and their issues stay claimed for them (in_progress in
	// issues.jsonl) until reopened.
	Lost []LostLease `json:"lost_leases,omitempty"`
}

// LostLease is a live lease of a replaced store that the restored one does not hold.
type LostLease struct {
	ID      string `json:"lease_id" db:"id"`
	IssueID string `json:"issue_id" db:"issue_id"`
	Worker  string `json:"worker" db:"worker"`
}

// ErrUnreadableStore is Restore's refusal when the store it would replace cannot be read and force is
// not set: the epochs that store handed out are unknown.
var ErrUnreadableStore = errors.New("the store to replace cannot be read")

// Restore replaces the store at path with a copy of backup (checked with Inspect first, then migrated
// to this gtc's schema) while no server runs on it: the caller holds the workspace lock. The store it
// replaces is kept beside it (path.replaced-<UTC time>, its WAL checkpointed into it; gtc.db is never
// missing on the way: the copy takes its name in one rename), and the restored one continues
// its lease epochs, merge epochs, merge request ids and audit-log numbers after those of the replaced
// store, so that nothing a worker or refinery may still hold from it is handed out again under the
// same epoch, and event subscribers resuming from a newer number miss nothing. A replaced store that
// cannot be read is refused (ErrUnreadableStore) unless force: the epochs then continue after the
// clock's microseconds (a store hands out at most one a microsecond) and the audit log's numbers after
// the backup's. The restore itself is recorded as a store_restored audit event.
func Restore(ctx context.Context, backup, path string, force bool) (RestoreInfo, error) {
	binfo, err := Inspect(ctx, backup)
	if err != nil {
		return RestoreInfo{}, fmt.Errorf("restore from %s: %w", backup, err)
	}
	if a, err := os.Stat(backup); err == nil {
		if b, err := os.Stat(path); err == nil && os.SameFile(a, b) {
			return RestoreInfo{}, fmt.Errorf("restore from %s: that is the store itself (%s)", backup, path)
		}
	}
	ri := RestoreInfo{Backup: binfo}
	var old highs
	if _, err := os.Stat(path); err == nil {
		err = withReadOnly(ctx, path, func(db *sqlx.DB) error {
			var e error
			if old, e = readHighs(ctx, db); e != nil {
				return e
			}
			if ri.Lost, e = liveLeases(ctx, db); e != nil {
				return e
			}
			return withReadOnly(ctx, backup, func(b *sqlx.DB) error {
				kept, e := liveLeases(ctx, b)
				held := map[string]bool{}
				for _, l := range kept {
					held[l.ID] = true
				}
				ri.Lost = slices.DeleteFunc(ri.Lost, func(l LostLease) bool { return held[l.ID] })
				return e
			})
		})
		if err != nil {
			if !force {
				return RestoreInfo{}, fmt.Errorf("restore %s: %w (%v): the lease and merge epochs it handed out are unknown",
					path, ErrUnreadableStore, err)
			}
			old, ri.FromClock, ri.Lost = highs{}, true, nil
		}
	} else if errors.Is(err, os.ErrNotExist) {
		ri.FromClock = true // a lost store may have handed out leases that workers still run
		if werr := orphanWAL(path); werr != nil && !force {
			return RestoreInfo{}, fmt.Errorf("restore %s: %w", path, werr)
		}
	} else {
		return RestoreInfo{}, fmt.Errorf("restore %s: %w", path, err)
	}
	if ri.FromClock {
		now := time.Now().UnixMicro()
		old.lease, old.merge = now, now
	}

	tmp := path + ".restoring"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return RestoreInfo{}, fmt.Errorf("restore %s: %w", path, err)
		}
	}
	placed := false
	defer func() {
		if !placed {
			for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
				_ = os.Remove(f)
			}
		}
	}()
	// a copy through SQLite, not of the file's bytes: a backup with a WAL beside it (a copy of a killed
	// store, a kept gtc.db.replaced-*) holds commits the file alone does not
	if err := withReadOnly(ctx, backup, func(db *sqlx.DB) error {
		_, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp)
		return err
	}); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore from %s: copy: %w", backup, err)
	}
	if err := continueAfter(ctx, tmp, backup, old, &ri); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore from %s: %w", backup, err)
	}
	if err := syncFile(tmp); err != nil {
		return RestoreInfo{}, fmt.Errorf("restore from %s: %w", backup, err)
	}
	if _, err := os.Stat(path); err == nil {
		ri.Replaced = freeName(path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z"))
		if err := setAside(ctx, path, ri.Replaced, !ri.FromClock); err != nil {
			return RestoreInfo{}, fmt.Errorf("restore %s: keep it as %s: %w", path, ri.Replaced, err)
		}
	} else if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		// forced over a WAL whose gtc.db is gone: kept aside, not left for SQLite to apply to the copy
		ri.Replaced = freeName(path + ".replaced-" + time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(path+"-wal", ri.Replaced+"-wal"); err != nil {
			return RestoreInfo{}, fmt.Errorf("restore %s: keep its WAL: %w", path, err)
		}
		ri.Replaced += "-wal"
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) { // an empty WAL or a stale index of no store
		_ = os.Remove(path + "-wal")
		_ = os.Remove(path + "-shm")
	}
	// one step: gtc.db is the replaced store up to here and the restored one after, never missing
	if err := os.Rename(tmp, path); err != nil {
		if ri.Replaced != "" { // the replaced store's WAL back beside it (a store that could not be read)
			_ = os.Rename(ri.Replaced+"-wal", path+"-wal")
		}
		return RestoreInfo{}, fmt.Errorf("restore %s: %w", path, err)
	}
	placed = true
	_ = syncDir(filepath.Dir(path))
	return ri, nil
}

// freeName is name, or name-2, name-3, … the first that neither it nor its WAL exists as (two restores
// within a second kept their stores under one name).
func freeName(name string) string {
	for i := 1; ; i++ {
		n := name
		if i > 1 {
			n = fmt.Sprintf("%s-%d", name, i)
		}
		_, err1 := os.Lstat(n)
		_, err2 := os.Lstat(n + "-wal")
		if errors.Is(err1, os.ErrNotExist) && errors.Is(err2, os.ErrNotExist) {
			return n
		}
	}
}

// setAside keeps the store at path under the name aside before the restored copy replaces it: its WAL
// is first checkpointed into it (readable: a clean open and close, which leaves no WAL behind), and the
// file is then hard-linked (copied where links fail) under the new name, so that path holds the whole
// old store until the rename that replaces it. A WAL left (a store that cannot be read) is moved along
// with it: left beside the restored gtc.db, SQLite would apply the old store's frames to it.
func setAside(ctx context.Context, path, aside string, readable bool) error {
	if readable {
		q := url.Values{}
		q.Set("_busy_timeout", "5000")
		db, err := sqlx.Open("sqlite3", fileURI(path, q))
		if err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("checkpoint its WAL: %w", err)
		}
	}
	if err := os.Link(path, aside); err != nil {
		if err := copyFile(path, aside); err != nil {
			return err
		}
	}
	if err := os.Rename(path+"-wal", aside+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("move its WAL: %w", err)
	}
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// continueAfter opens the copy at tmp (migrating it to this gtc's schema) and commits the floors of old
// and the restore's audit event into it.
func continueAfter(ctx context.Context, tmp, backup string, old highs, ri *RestoreInfo) error {
	db, err := Open(ctx, tmp, Options{CheckpointInterval: -1})
	if err != nil {
		return err
	}
	defer db.Close()
	var own highs
	if err := withConn(ctx, db.r, func(c *sqlx.Conn) error {
		var e error
		own, e = readHighs(ctx, c)
		return e
	}); err != nil {
		return fmt.Errorf("read the backup's counters: %w", err)
	}
	ri.LeaseEpoch, ri.MergeEpoch, ri.MergeSeq = max(own.lease, old.lease), max(own.merge, old.merge), max(own.mergeSeq, old.mergeSeq)
	// the restore's event takes the number after the newest of either store (the committer numbers from nextSeq)
	db.nextSeq = max(db.nextSeq, old.event+1)
	ri.EventSeq = db.nextSeq
	detail := fmt.Sprintf("from %s (%d issues, %d live leases, last event %d)", backup, ri.Backup.Issues, ri.Backup.LiveLeases, ri.Backup.LastEvent)
	if ri.FromClock {
		detail += "; lease and merge epochs continue after the clock's microseconds"
	} else {
		detail += fmt.Sprintf("; lease epochs continue after %d, merge epochs after %d", ri.LeaseEpoch, ri.MergeEpoch)
	}
	if len(ri.Lost) > 0 {
		detail += fmt.Sprintf("; %d live leases of the replaced store are not in the backup", len(ri.Lost))
	}
	changes := []coord.Change{
		coord.MetaPut{Key: coord.MetaLeaseEpochFloor, Value: strconv.FormatInt(ri.LeaseEpoch, 10)},
		coord.MetaPut{Key: coord.MetaMergeEpochFloor, Value: strconv.FormatInt(ri.MergeEpoch, 10)},
		coord.MetaPut{Key: coord.MetaMergeSeq, Value: strconv.FormatInt(ri.MergeSeq, 10)},
		coord.StoreRestored(time.Now(), detail),
	}
	if err := db.Commit(ctx, changes); err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint the copy: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	// the copy is renamed alone: what it holds must be in its file, not in a WAL left beside it
	if st, err := os.Stat(tmp + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("the copy's WAL was not checkpointed (%d bytes)", st.Size())
	}
	_ = os.Remove(tmp + "-wal")
	_ = os.Remove(tmp + "-shm")
	return nil
}

// highs are the counters of a store: the highest lease and merge epochs and merge request id it handed
// out (its floors included) and its newest audit event.
type highs struct{ lease, merge, mergeSeq, event int64 }

type querier interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
}

func readHighs(ctx context.Context, q querier) (highs, error) {
	var h highs
	for _, r := range []struct {
		dst *int64
		sql string
	}{
		{&h.lease, `SELECT MAX(COALESCE((SELECT MAX(epoch) FROM leases), 0),
			COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '` + coord.MetaLeaseEpochFloor + `'), 0))`},
		{&h.merge, `SELECT MAX(COALESCE((SELECT MAX(epoch) FROM merge_requests), 0),
			COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '` + coord.MetaMergeEpochFloor + `'), 0))`},
		{&h.mergeSeq, `SELECT COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '` + coord.MetaMergeSeq + `'), 0)`},
		{&h.event, `SELECT COALESCE((SELECT first_seq + count - 1 FROM event_batches ORDER BY first_seq DESC LIMIT 1), 0)`},
	} {
		if err := q.GetContext(ctx, r.dst, r.sql); err != nil {
			return highs{}, fmt.Errorf("read counters: %w", err)
		}
	}
	return h, nil
}

// liveLeases lists a store's live leases, oldest first.
func liveLeases(ctx context.Context, db *sqlx.DB) ([]LostLease, error) {
	var ls []LostLease
	err := db.SelectContext(ctx, &ls, `SELECT id, issue_id, worker FROM leases WHERE state IN ('pushed', 'acked') ORDER BY epoch`)
	if err != nil {
		return nil, fmt.Errorf("read live leases: %w", err)
	}
	return ls, nil
}

// withReadOnly runs fn on a read-only connection pool of the SQLite file at path.
func withReadOnly(ctx context.Context, path string, fn func(*sqlx.DB) error) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "5000")
	db, err := sqlx.Open("sqlite3", fileURI(path, q))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("not a readable SQLite database: %w", err)
	}
	return fn(db)
}

func withConn(ctx context.Context, db *sqlx.DB, fn func(*sqlx.Conn) error) error {
	c, err := db.Connx(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
