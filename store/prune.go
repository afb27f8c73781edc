package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// Pruned counts the rows one Prune deleted, by table.
type Pruned struct {
	Events        int // audit-log events (in whole batches: event_batches rows hold one transaction's events)
	Leases        int // ended leases (lease_history)
	MergeRequests int // finished merge requests
}

// Total is the number of rows deleted in all tables.
func (p Pruned) Total() int { return p.Events + p.Leases + p.MergeRequests }

// pruneChunk is how many rows one pruning transaction deletes: the committer serves the scheduler's
// commits between chunks, so a first prune of a long history does not hold them up (a var for tests).
var pruneChunk = 500

// Prune deletes the history older than before: the audit log's events, ended leases and finished merge
// requests (issues, workers and live state are never pruned). What numbering and the scheduler need
// stays: the newest event batch (the next event's seq follows it), the lease of the highest epoch (a
// restart issues epochs after it), the newest and the last written finished merge request of each issue
// (a restart takes one as the issue's last merge outcome), the merge request of the highest epoch, and
// the finished merge requests of an issue under a live lease. Rows stamped after now (a clock set back since) are kept
// until they are old. Deleted pages are reused by later writes; the file does not shrink.
func (db *DB) Prune(ctx context.Context, before, now time.Time) (Pruned, error) {
	var p Pruned
	var err error
	if p.Events, err = db.pruneEvents(ctx, before, now); err != nil {
		return p, fmt.Errorf("prune events: %w", err)
	}
	if p.Leases, err = db.pruneLeases(ctx, before, now); err != nil {
		return p, fmt.Errorf("prune lease history: %w", err)
	}
	if p.MergeRequests, err = db.pruneMerges(ctx, before); err != nil {
		return p, fmt.Errorf("prune merge requests: %w", err)
	}
	return p, nil
}

// stamp is where a stored time stands against a prune's cutoff.
type stamp int

const (
	stampOld    stamp = iota // before the cutoff: prune
	stampYoung               // since the cutoff: keep, and later rows are younger still
	stampFuture              // after now (the clock was set back since) or unreadable: keep, look further
)

func stampOf(stored string, before, now time.Time) stamp {
	tm, err := parseTime(stored)
	switch {
	case err != nil || tm.IsZero() || tm.After(now):
		return stampFuture
	case tm.Before(before):
		return stampOld
	default:
		return stampYoung
	}
}

// pruneEvents deletes, in seq order (time order, but for clock steps), the event batches whose last event
// is older than before, up to the first one that is younger but not in the future; never the newest.
func (db *DB) pruneEvents(ctx context.Context, before, now time.Time) (int, error) {
	var last int64
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(first_seq), 0) FROM event_batches`).Scan(&last); err != nil {
		return 0, unavailable("read", err)
	}
	deleted, from := 0, int64(-1)
	for {
		var keys []int64
		n, rowsSeen, done := 0, 0, false
		err := db.scan(ctx, func(rows *sql.Rows) (bool, error) {
			var seq int64
			var count int
			var t string
			if err := rows.Scan(&seq, &count, &t); err != nil {
				return false, err
			}
			rowsSeen++
			from = seq
			st := stampOf(t, before, now)
			if seq >= last || st == stampYoung {
				done = true
				return false, nil
			}
			if st == stampOld {
				keys = append(keys, seq)
				n += count
			}
			return true, nil
		}, `SELECT first_seq, count, COALESCE(events ->> '$[#-1].t', '') FROM event_batches WHERE first_seq > ?
			ORDER BY first_seq LIMIT ?`, from, pruneChunk)
		if err != nil {
			return deleted, err
		}
		if err := deleteKeys(ctx, db, `DELETE FROM event_batches WHERE first_seq = ?`, keys); err != nil {
			return deleted, err
		}
		deleted += n
		if done || rowsSeen < pruneChunk {
			return deleted, nil
		}
	}
}

// pruneLeases deletes the ended leases that ended before before, in epoch order (start order) up to the
// first lease started since that is not in the future (none after it ended before); never the highest
// epoch.
func (db *DB) pruneLeases(ctx context.Context, before, now time.Time) (int, error) {
	var top int64
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM lease_history`).Scan(&top); err != nil {
		return 0, unavailable("read", err)
	}
	deleted, from := 0, int64(-1)
	for {
		var keys []int64
		rowsSeen, done := 0, false
		err := db.scan(ctx, func(rows *sql.Rows) (bool, error) {
			var epoch int64
			var created, ended string
			if err := rows.Scan(&epoch, &created, &ended); err != nil {
				return false, err
			}
			rowsSeen++
			from = epoch
			if epoch >= top || stampOf(created, before, now) == stampYoung {
				done = true
				return false, nil
			}
			if stampOf(ended, before, now) == stampOld {
				keys = append(keys, epoch)
			}
			return true, nil
		}, `SELECT epoch, created_at, ended_at FROM lease_history WHERE epoch > ? ORDER BY epoch LIMIT ?`, from, pruneChunk)
		if err != nil {
			return deleted, err
		}
		if err := deleteKeys(ctx, db, `DELETE FROM lease_history WHERE epoch = ?`, keys); err != nil {
			return deleted, err
		}
		deleted += len(keys)
		if done || rowsSeen < pruneChunk {
			return deleted, nil
		}
	}
}

// pruneMerges deletes the finished merge requests last changed before before that a restart does not
// load as an issue's last outcome: each issue's newest finished request (by updated_at, then row order,
// as loadMerges picks it) stays, and its last written one (loadMerges picks among the last rows written:
// with a clock set back the two differ), as do the request of the highest epoch and the requests of
// issues under a live lease. It reads every finished request (one per merge attempt, fewer than events).
func (db *DB) pruneMerges(ctx context.Context, before time.Time) (int, error) {
	type finished struct {
		id, issue string
		updated   time.Time
		epoch     int64
		live      bool // its issue is under a live lease
	}
	var all []finished
	var top int64              // the highest epoch of any merge request
	newest := map[string]int{} // issue → index in all of its newest finished request (rowid order: a later row wins a tie)
	latest := map[string]int{} // issue → index in all of its last written finished request (the highest rowid)
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM merge_requests`).Scan(&top); err != nil {
		return 0, unavailable("read", err)
	}
	err := db.scan(ctx, func(rows *sql.Rows) (bool, error) {
		var f finished
		var updated string
		if err := rows.Scan(&f.id, &f.issue, &updated, &f.epoch, &f.live); err != nil {
			return false, err
		}
		f.updated, _ = parseTime(updated)
		if j, ok := newest[f.issue]; !ok || !f.updated.Before(all[j].updated) {
			newest[f.issue] = len(all)
		}
		latest[f.issue] = len(all)
		all = append(all, f)
		return true, nil
	}, `SELECT id, issue_id, updated_at, epoch, issue_id IN (SELECT id FROM issues WHERE lease_epoch > 0)
		FROM merge_requests WHERE NOT (`+openMerge+`) ORDER BY rowid`)
	if err != nil {
		return 0, err
	}
	var keys []string
	for i, f := range all {
		old := !f.updated.IsZero() && f.updated.Before(before)
		if old && newest[f.issue] != i && latest[f.issue] != i && !f.live && (f.epoch < top || top == 0) {
			keys = append(keys, f.id)
		}
	}
	deleted := 0
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), pruneChunk)]
		keys = keys[len(chunk):]
		if err := deleteKeys(ctx, db, `DELETE FROM merge_requests WHERE id = ? AND NOT (`+openMerge+`)`, chunk); err != nil {
			return deleted, err
		}
		deleted += len(chunk)
	}
	return deleted, nil
}

// scan runs a read query and hands each row to fn until fn returns false.
func (db *DB) scan(ctx context.Context, fn func(*sql.Rows) (bool, error), q string, args ...any) error {
	defer db.observeRead("prune", time.Now())
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return unavailable("read", err)
	}
	defer rows.Close()
	for rows.Next() {
		more, err := fn(rows)
		if err != nil {
			return unavailable("read", err)
		}
		if !more {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return unavailable("read", err)
	}
	return nil
}

// deleteKeys runs del (one ? for the key) for each key, in one write transaction (statements run to
// their end once the committer started them, as the scheduler's do).
func deleteKeys[K int64 | string](ctx context.Context, db *DB, del string, keys []K) error {
	if len(keys) == 0 {
		return nil
	}
	return db.write(ctx, func(t *wtx) error {
		st, err := t.c.Prepare(del)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", del, err)
		}
		defer st.Close()
		ex := st.(driver.StmtExecContext)
		for _, k := range keys {
			if _, err := ex.ExecContext(context.Background(), []driver.NamedValue{{Ordinal: 1, Value: k}}); err != nil {
				return fmt.Errorf("delete %v: %w", k, err)
			}
		}
		return nil
	})
}
