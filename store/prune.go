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
// requests (issues, workers and live state are never pruned). What numbering needs stays: the newest
// event batch (the next event's seq follows it), the lease of the highest epoch and the merge request
// of the highest epoch (epochs are never reused after a restart), and a finished merge request of an
// issue under a live lease (it decides that lease's outcome). Deleted pages are reused by later writes;
// the file does not shrink.
func (db *DB) Prune(ctx context.Context, before time.Time) (Pruned, error) {
	var p Pruned
	var err error
	if p.Events, err = db.pruneEvents(ctx, before); err != nil {
		return p, fmt.Errorf("prune events: %w", err)
	}
	if p.Leases, err = db.pruneLeases(ctx, before); err != nil {
		return p, fmt.Errorf("prune lease history: %w", err)
	}
	if p.MergeRequests, err = db.pruneMerges(ctx, before); err != nil {
		return p, fmt.Errorf("prune merge requests: %w", err)
	}
	return p, nil
}

// pruneEvents deletes the oldest event batches whose last event is older than before, up to the first
// that is not (seq order is time order, give or take a clock step) and never the newest.
func (db *DB) pruneEvents(ctx context.Context, before time.Time) (int, error) {
	deleted := 0
	for {
		var last int64
		if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(first_seq), 0) FROM event_batches`).Scan(&last); err != nil {
			return deleted, unavailable("read", err)
		}
		var keys []int64
		n := 0
		err := db.scan(ctx, func(rows *sql.Rows) (bool, error) {
			var seq int64
			var count int
			var t string
			if err := rows.Scan(&seq, &count, &t); err != nil {
				return false, err
			}
			if seq >= last || !olderThan(t, before) {
				return false, nil
			}
			keys = append(keys, seq)
			n += count
			return true, nil
		}, `SELECT first_seq, count, COALESCE(events ->> '$[#-1].t', '') FROM event_batches ORDER BY first_seq LIMIT ?`, pruneChunk)
		if err != nil {
			return deleted, err
		}
		if len(keys) == 0 {
			return deleted, nil
		}
		if err := deleteKeys(ctx, db, `DELETE FROM event_batches WHERE first_seq = ?`, keys); err != nil {
			return deleted, err
		}
		deleted += n
		if len(keys) < pruneChunk {
			return deleted, nil
		}
	}
}

// pruneLeases deletes the ended leases that ended before before, in epoch order up to the first lease
// started since (epoch order is start order, so none after it ended before), keeping the highest epoch.
func (db *DB) pruneLeases(ctx context.Context, before time.Time) (int, error) {
	deleted := 0
	from := int64(0)
	for {
		var top int64
		if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM lease_history`).Scan(&top); err != nil {
			return deleted, unavailable("read", err)
		}
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
			if epoch >= top || !olderThan(created, before) {
				done = true
				return false, nil
			}
			if ended != "" && olderThan(ended, before) {
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

// pruneMerges deletes the finished merge requests last changed before before, except the one of the
// highest epoch and those of issues under a live lease.
func (db *DB) pruneMerges(ctx context.Context, before time.Time) (int, error) {
	var keys []string
	err := db.scan(ctx, func(rows *sql.Rows) (bool, error) {
		var id, updated string
		if err := rows.Scan(&id, &updated); err != nil {
			return false, err
		}
		if olderThan(updated, before) {
			keys = append(keys, id)
		}
		return true, nil
	}, `SELECT id, updated_at FROM merge_requests WHERE NOT (`+openMerge+`)
		AND epoch < (SELECT MAX(epoch) FROM merge_requests)
		AND issue_id NOT IN (SELECT id FROM issues WHERE lease_epoch > 0) ORDER BY rowid`)
	if err != nil {
		return 0, err
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

// olderThan says whether a stored time is before t; an empty or unreadable one is not.
func olderThan(stored string, t time.Time) bool {
	tm, err := parseTime(stored)
	return err == nil && !tm.IsZero() && tm.Before(t)
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
