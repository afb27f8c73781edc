package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// issueCols are the columns scanned by scanIssue: the stored body plus the scheduler-owned columns overlaid on it.
const issueCols = `issues.id, b.raw, b.body, issues.status, issues.assignee, issues.updated_at, issues.started_at,
	issues.closed_at, issues.close_reason, issues.dirty, issues.rev, issues.labels`

// issueFrom joins an issue's projection to its body for issueCols.
const issueFrom = `issues JOIN issue_bodies AS b ON b.id = issues.id`

const leaseCols = `id, issue_id, worker, epoch, state, attempt, created_at, ack_deadline, deadline, ended_at, outcome,
	error, progress, reserved`

const workerCols = `name, role, capacity, filters, state, first_seen, last_seen, draining`

const mergeCols = `id, issue_id, worker, branch, commit_id, target, files, state, attempts, refinery, epoch, deadline,
	created_at, updated_at, error, conflicts`

// Statements of the read pool, prepared once at Open.
const (
	rIssue = iota
	rLease
	rLeaseByID
	rLeasesByIssue
	rRecentLeases
	rEvents
	rIssueEvents
	rWorkers
	rMeta
	rIssuesByIDs
	rListByIDs
	rDirtyByIDs
	rBody
	nReadStmts
)

var readSQL = [nReadStmts]string{
	rIssue:         `SELECT ` + issueCols + ` FROM ` + issueFrom + ` WHERE issues.id = ?`,
	rLease:         `SELECT ` + leaseCols + ` FROM leases WHERE epoch = ? AND id = ?`,
	rLeaseByID:     `SELECT ` + leaseCols + ` FROM leases WHERE id = ?`, // an id not of the form L-<epoch>: a scan
	rLeasesByIssue: `SELECT ` + leaseCols + ` FROM leases WHERE issue_id = ? ORDER BY epoch`,
	// the newest ?2 in epoch order; the inner query names its columns so the outer can sort by epoch
	rRecentLeases: `SELECT * FROM (SELECT ` + leaseCols + ` FROM leases WHERE issue_id = ?1 ORDER BY epoch DESC LIMIT ?2)
		ORDER BY epoch`,
	// the batches from the one holding seq ?1 (or the last before it) on
	rEvents: `SELECT first_seq, count, events FROM event_batches WHERE first_seq >=
		COALESCE((SELECT MAX(first_seq) FROM event_batches WHERE first_seq <= ?1), 0) ORDER BY first_seq`,
	// the batches holding seqs ?1..?3 whose JSON holds ?2 (an issue's "i" member; '': every batch):
	// SQLite's byte search skips the others without decoding them
	rIssueEvents: `SELECT first_seq, count, events FROM event_batches WHERE first_seq >=
		COALESCE((SELECT MAX(first_seq) FROM event_batches WHERE first_seq <= ?1), 0) AND first_seq <= ?3
		AND (?2 = '' OR instr(events, ?2) > 0) ORDER BY first_seq`,
	rWorkers:     `SELECT ` + workerCols + ` FROM workers ORDER BY name`,
	rMeta:        `SELECT value FROM meta WHERE key = ?`,
	rIssuesByIDs: `SELECT ` + issueCols + ` FROM ` + issueFrom + ` WHERE issues.id IN (SELECT value FROM json_each(?)) ORDER BY issues.id`,
	// issueCols with the body left out (NULL) of a record whose line is its current state: not changed
	// since it was last imported or exported
	rListByIDs: `SELECT issues.id, b.raw, CASE WHEN issues.dirty = 0 AND b.raw IS NOT NULL THEN NULL ELSE b.body END,
		issues.status, issues.assignee, issues.updated_at, issues.started_at, issues.closed_at, issues.close_reason,
		issues.dirty, issues.rev, issues.labels FROM ` + issueFrom + ` WHERE issues.id IN (SELECT value FROM json_each(?)) ORDER BY issues.id`,
	rDirtyByIDs: `SELECT ` + issueCols + ` FROM ` + issueFrom +
		` WHERE issues.id IN (SELECT value FROM json_each(?)) AND issues.dirty = 1 ORDER BY issues.id`,
	rBody: `SELECT raw, body FROM issue_bodies WHERE id = ?`,
}

// readStmts holds the read pool's prepared statements.
type readStmts [nReadStmts]*sqlx.Stmt

func (s *readStmts) prepare(ctx context.Context, r *sqlx.DB) error {
	for i, q := range readSQL {
		st, err := r.PreparexContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s[i] = st
	}
	return nil
}

func (s *readStmts) close() {
	if bs, ok := bodyStmtsOf.LoadAndDelete(s); ok {
		bs.(*bodyStmt).close()
	}
	for i, st := range s {
		if st != nil {
			_ = st.Close()
			s[i] = nil
		}
	}
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanIssue reads issueCols into a StoredRecord, overlaying the scheduler-owned columns on the stored body.
func scanIssue(sc scanner) (beads.StoredRecord, error) {
	var (
		rec                                            beads.StoredRecord
		raw, body                                      []byte
		status, assignee, updated, started, closed, cr string
		labels                                         string
		dirty                                          int
	)
	if err := sc.Scan(&rec.ID, &raw, &body, &status, &assignee, &updated, &started, &closed, &cr, &dirty, &rec.Rev, &labels); err != nil {
		return rec, err
	}
	if raw != nil {
		rec.Raw = raw
	}
	var err error
	if body == nil && raw != nil && dirty == 0 {
		return rec, nil // rListByIDs: the line is the record (Issue left empty)
	}
	if rec.Issue, err = beads.DecodeIssueJSON(body); err != nil { // json.Unmarshal's result, without its cost
		return rec, fmt.Errorf("decode stored issue %s: %w", rec.ID, err)
	}
	is := &rec.Issue
	is.Status, is.Assignee, is.CloseReason = status, assignee, cr
	if is.UpdatedAt, err = parseTime(updated); err != nil {
		return rec, err
	}
	if is.StartedAt, err = parseTimePtr(started); err != nil {
		return rec, err
	}
	if is.ClosedAt, err = parseTimePtr(closed); err != nil {
		return rec, err
	}
	is.Labels = nil
	if labels != "[]" {
		if err := json.Unmarshal([]byte(labels), &is.Labels); err != nil {
			return rec, fmt.Errorf("decode labels of %s: %w", rec.ID, err)
		}
	}
	rec.Dirty = dirty != 0
	return rec, nil
}

// GetIssue returns the current view of one issue and its raw record bytes (nil if never imported or exported;
// stale when the issue changed since, see Records for the dirty flag). A missing issue is ENotFound.
func (db *DB) GetIssue(ctx context.Context, id string) (beads.Issue, []byte, error) {
	defer db.observeRead("issue", time.Now())
	rec, err := scanIssue(db.rs[rIssue].QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return beads.Issue{}, nil, coord.Errorf(coord.ENotFound, "issue %s not found", id)
	}
	if err != nil {
		return beads.Issue{}, nil, unavailable("read", fmt.Errorf("get issue %s: %w", id, err))
	}
	return rec.Issue, rec.Raw, nil
}

// Body returns an issue's raw record bytes (nil if it was never imported or exported) and its stored
// view as JSON, without decoding either: the cheap read behind every push.
//
// It runs on a read-pool connection like the other reads (same busy timeout and read-only mode) but
// through the driver directly, with a statement prepared once per connection: database/sql's Row,
// argument conversion and second copy of every blob were ~2 µs of a ~7 µs read (BenchmarkBody).
func (db *DB) Body(ctx context.Context, id string) (raw, body []byte, err error) {
	defer db.observeRead("body", time.Now())
	raw, body, err = db.body(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, coord.Errorf(coord.ENotFound, "issue %s not found", id)
	}
	if err != nil {
		return nil, nil, unavailable("read", fmt.Errorf("get issue %s body: %w", id, err))
	}
	return raw, body, nil
}

func (db *DB) body(ctx context.Context, id string) (raw, body []byte, err error) {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	bs := db.bodyStmts()
	bs.mu.RLock() // held over the query: closing the store finalizes the statements only after it
	defer bs.mu.RUnlock()
	if bs.closed {
		return nil, nil, errors.New("store is closed")
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("read connection is a %T", dc)
		}
		st, err := bs.on(c)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: id}})
		if err != nil {
			return err
		}
		var dest [2]driver.Value
		err = rows.Next(dest[:])
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == io.EOF {
			return sql.ErrNoRows
		}
		if err != nil {
			return err
		}
		if raw, err = ownedBytes(dest[0]); err != nil {
			return fmt.Errorf("raw column: %w", err)
		}
		if body, err = ownedBytes(dest[1]); err != nil {
			return fmt.Errorf("body column: %w", err)
		}
		return nil
	})
	return raw, body, err
}

// ownedBytes converts a column value to []byte as database/sql's Scan into *[]byte does: NULL is nil,
// a blob is kept (the driver's own copy), text is copied.
func ownedBytes(v driver.Value) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// bodyStmt is the read pool's body query prepared on each driver connection that ran it. The
// statements are finalized by readStmts.close, before the pool's connections close.
type bodyStmt struct {
	mu     sync.RWMutex // read-held by a running query; closed and st under the write lock
	st     sync.Map     // *sqlite3.SQLiteConn -> *sqlite3.SQLiteStmt
	closed bool
}

// bodyStmtsOf holds each open store's bodyStmt, keyed by the store's readStmts (&db.rs).
var bodyStmtsOf sync.Map

func (db *DB) bodyStmts() *bodyStmt {
	if bs, ok := bodyStmtsOf.Load(&db.rs); ok {
		return bs.(*bodyStmt)
	}
	bs, _ := bodyStmtsOf.LoadOrStore(&db.rs, &bodyStmt{})
	return bs.(*bodyStmt)
}

// on returns the statement prepared on c, preparing it on first use; the caller holds c exclusively.
func (bs *bodyStmt) on(c *sqlite3.SQLiteConn) (*sqlite3.SQLiteStmt, error) {
	if st, ok := bs.st.Load(c); ok {
		return st.(*sqlite3.SQLiteStmt), nil
	}
	st, err := c.Prepare(readSQL[rBody])
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", readSQL[rBody], err)
	}
	bs.st.Store(c, st)
	return st.(*sqlite3.SQLiteStmt), nil
}

// close finalizes the statements once no query runs; later reads fail.
func (bs *bodyStmt) close() {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.closed = true
	bs.st.Range(func(c, st any) bool {
		_ = st.(*sqlite3.SQLiteStmt).Close()
		bs.st.Delete(c)
		return true
	})
}

// ListRecords is Records for a listing: a record not changed since its line was last imported or
// exported (not dirty, with Raw) comes with Raw alone and Issue empty, its line being its current state
// as the file holds it; the others as Records has them. Decoding every stored body took about half of
// issue.list's time.
func (db *DB) ListRecords(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	return db.recordsBy(ctx, rListByIDs, ids)
}

// Records returns the stored records of the given issues, ordered by id; unknown ids are skipped.
func (db *DB) Records(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	return db.recordsBy(ctx, rIssuesByIDs, ids)
}

// recordsBy runs one of the records-by-ids statements.
func (db *DB) recordsBy(ctx context.Context, stmt int, ids []string) ([]beads.StoredRecord, error) {
	defer db.observeRead("records", time.Now())
	if len(ids) == 0 {
		return nil, nil
	}
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := db.rs[stmt].QueryContext(ctx, string(js))
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read records: %w", err))
	}
	return collectRecords(rows, len(ids))
}

// RawIssues returns the raw record bytes of the given issues that have them (never-written issues are absent).
func (db *DB) RawIssues(ctx context.Context, ids []string) (map[string][]byte, error) {
	recs, err := db.Records(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(recs))
	for _, r := range recs {
		if r.Raw != nil {
			out[r.ID] = r.Raw
		}
	}
	return out, nil
}

func collectRecords(rows *sql.Rows, hint int) ([]beads.StoredRecord, error) {
	defer rows.Close()
	// the hint is a caller's limit (issue.list's, from any peer): it sizes the first buffer at most
	out := make([]beads.StoredRecord, 0, min(max(hint, 0), maxHint))
	for rows.Next() {
		rec, err := scanIssue(rows)
		if err != nil {
			return nil, unavailable("read", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read", err)
	}
	return out, nil
}

// maxHint bounds the records a read allocates room for before it has them.
const maxHint = 1024

// IssueFilter selects issues for ListIssues; empty fields match everything.
type IssueFilter struct {
	Status   string
	Label    string
	Type     string
	Assignee string
	IDs      []string
	Limit    int // 0 means no limit
}

// ListIssues returns the issues matching f, ordered by priority, creation time and id.
func (db *DB) ListIssues(ctx context.Context, f IssueFilter) ([]beads.Issue, error) {
	defer db.observeRead("list", time.Now())
	q, args, err := listQuery(f)
	if err != nil {
		return nil, err
	}
	// filter and order on the projected columns first, so the body and labels are read only for the rows returned
	q = `SELECT ` + issueCols + ` FROM (` + q + `) AS f JOIN issues ON issues.id = f.fid
		JOIN issue_bodies AS b ON b.id = issues.id ORDER BY f.fp, f.fi, f.fid`
	st, err := db.listStmt(ctx, q)
	if err != nil {
		return nil, unavailable("read", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("list issues: %w", err))
	}
	recs, err := collectRecords(rows, max(f.Limit, 0))
	if err != nil {
		return nil, err
	}
	out := make([]beads.Issue, len(recs))
	for i := range recs {
		out[i] = recs[i].Issue
	}
	return out, nil
}

// ListIssueIDs returns the ids of the issues matching f in ListIssues' order, skipping the first offset:
// no record is read.
func (db *DB) ListIssueIDs(ctx context.Context, f IssueFilter, offset int) ([]string, error) {
	defer db.observeRead("list", time.Now())
	q, args, err := listQuery(f)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if f.Limit <= 0 {
			q += " LIMIT -1"
		}
		q += " OFFSET ?"
		args = append(args, offset)
	}
	q = `SELECT fid FROM (` + q + `) ORDER BY fp, fi, fid`
	st, err := db.listStmt(ctx, q)
	if err != nil {
		return nil, unavailable("read", err)
	}
	var ids []string
	if err := st.SelectContext(ctx, &ids, args...); err != nil {
		return nil, unavailable("read", fmt.Errorf("list issues: %w", err))
	}
	return ids, nil
}

// listQuery is the query of the ids (fid), priorities (fp) and creation instants (fi) of the issues
// matching f, in ListIssues' order, with f's limit.
func listQuery(f IssueFilter) (string, []any, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.Label != "" {
		where = append(where, "id IN (SELECT issue_id FROM labels WHERE label = ?)")
		args = append(args, f.Label)
	}
	if f.Type != "" {
		where, args = append(where, "issue_type = ?"), append(args, f.Type)
	}
	if f.Assignee != "" {
		where, args = append(where, "assignee = ?"), append(args, f.Assignee)
	}
	if f.IDs != nil {
		js, err := json.Marshal(f.IDs)
		if err != nil {
			return "", nil, err
		}
		where = append(where, "id IN (SELECT value FROM json_each(?))")
		args = append(args, string(js))
	}
	// created_at is ordered as an instant to the millisecond (its text keeps the offset it was written
	// with: 05:00-08:00 comes after 12:00Z), then by id
	q := `SELECT id AS fid, priority AS fp, unixepoch(created_at, 'subsec') AS fi FROM issues`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY priority, fi, id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args, nil
}

// listStmt prepares each ListIssues query shape once.
func (db *DB) listStmt(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if st, ok := db.lists.Load(q); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := db.r.PreparexContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare list query: %w", err)
	}
	if prev, loaded := db.lists.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

func scanLease(sc scanner) (coord.Lease, error) {
	var l coord.Lease
	var state, created, ack, dl, ended string
	if err := sc.Scan(&l.ID, &l.IssueID, &l.Worker, &l.Epoch, &state, &l.Attempt, &created, &ack, &dl, &ended,
		&l.Outcome, &l.Error, &l.Progress, &l.Reserved); err != nil {
		return l, err
	}
	l.State = coord.LeaseState(state)
	var err error
	if l.CreatedAt, err = parseTime(created); err != nil {
		return l, err
	}
	if l.AckDeadline, err = parseTime(ack); err != nil {
		return l, err
	}
	if l.Deadline, err = parseTime(dl); err != nil {
		return l, err
	}
	l.EndedAt, err = parseTimePtr(ended)
	return l, err
}

// Lease returns one lease (live or ended); a missing lease is ENotFound.
func (db *DB) Lease(ctx context.Context, id string) (coord.Lease, error) {
	defer db.observeRead("lease", time.Now())
	var row *sql.Row
	if epoch, ok := coord.LeaseEpoch(id); ok {
		row = db.rs[rLease].QueryRowContext(ctx, epoch, id)
	} else {
		row = db.rs[rLeaseByID].QueryRowContext(ctx, id)
	}
	l, err := scanLease(row)
	if errors.Is(err, sql.ErrNoRows) {
		return l, coord.Errorf(coord.ENotFound, "lease %s not found", id)
	}
	if err != nil {
		return l, unavailable("read", fmt.Errorf("get lease %s: %w", id, err))
	}
	return l, nil
}

// LeasesByIssue returns every lease of an issue (its attempt history), oldest epoch first.
func (db *DB) LeasesByIssue(ctx context.Context, issueID string) ([]coord.Lease, error) {
	defer db.observeRead("leases", time.Now())
	rows, err := db.rs[rLeasesByIssue].QueryContext(ctx, issueID)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("leases of %s: %w", issueID, err))
	}
	return collect(rows, scanLease)
}

// RecentLeases returns the newest n leases of an issue, oldest epoch first (issue.get's attempt history
// of an issue retried many times reads only what it shows).
func (db *DB) RecentLeases(ctx context.Context, issueID string, n int) ([]coord.Lease, error) {
	defer db.observeRead("leases", time.Now())
	rows, err := db.rs[rRecentLeases].QueryContext(ctx, issueID, n)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("recent leases of %s: %w", issueID, err))
	}
	return collect(rows, scanLease)
}

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, unavailable("read", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("read", err)
	}
	return out, nil
}

func scanWorker(sc scanner) (coord.WorkerRow, error) {
	var w coord.WorkerRow
	var filters, first, last string
	if err := sc.Scan(&w.Name, &w.Role, &w.Capacity, &filters, &w.State, &first, &last, &w.Draining); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(filters), &w.Filters); err != nil {
		return w, fmt.Errorf("decode filters of worker %s: %w", w.Name, err)
	}
	var err error
	if w.FirstSeen, err = parseTime(first); err != nil {
		return w, err
	}
	w.LastSeen, err = parseTime(last)
	return w, err
}

// Workers returns every known worker, by name.
func (db *DB) Workers(ctx context.Context) ([]coord.WorkerRow, error) {
	defer db.observeRead("workers", time.Now())
	rows, err := db.rs[rWorkers].QueryContext(ctx)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read workers: %w", err))
	}
	return collect(rows, scanWorker)
}

// Meta returns one setting and whether it is set.
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	defer db.observeRead("meta", time.Now())
	var v string
	err := db.rs[rMeta].QueryRowContext(ctx, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, unavailable("read", fmt.Errorf("read meta %s: %w", key, err))
	}
	return v, true, nil
}

func scanMerge(sc scanner) (coord.MergeRequest, error) {
	var m coord.MergeRequest
	var files, conflicts, deadline, created, updated string
	if err := sc.Scan(&m.ID, &m.IssueID, &m.Worker, &m.Branch, &m.Commit, &m.Target, &files, &m.State, &m.Attempts,
		&m.Refinery, &m.Epoch, &deadline, &created, &updated, &m.Error, &conflicts); err != nil {
		return m, err
	}
	if files != "[]" {
		if err := json.Unmarshal([]byte(files), &m.Files); err != nil {
			return m, fmt.Errorf("decode files of merge request %s: %w", m.ID, err)
		}
	}
	if conflicts != "[]" {
		if err := json.Unmarshal([]byte(conflicts), &m.Conflicts); err != nil {
			return m, fmt.Errorf("decode conflicts of merge request %s: %w", m.ID, err)
		}
	}
	var err error
	if m.Deadline, err = parseTimePtr(deadline); err != nil {
		return m, err
	}
	if m.CreatedAt, err = parseTime(created); err != nil {
		return m, err
	}
	m.UpdatedAt, err = parseTime(updated)
	return m, err
}

// MergeFilter selects merge requests; empty fields match everything.
type MergeFilter struct {
	State   string
	IssueID string
	Worker  string
	Open    bool // only requests not yet merged, failed or cancelled
	Limit   int  // 0 means no limit
}

// openMerge is the SQL condition for a merge request still in the queue.
const openMerge = "state NOT IN ('merged', 'failed', 'cancelled')"

// MergeRequests returns the merge requests matching f, oldest first.
func (db *DB) MergeRequests(ctx context.Context, f MergeFilter) ([]coord.MergeRequest, error) {
	defer db.observeRead("merges", time.Now())
	var where []string
	var args []any
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	if f.IssueID != "" {
		where, args = append(where, "issue_id = ?"), append(args, f.IssueID)
	}
	if f.Worker != "" {
		where, args = append(where, "worker = ?"), append(args, f.Worker)
	}
	if f.Open {
		where = append(where, openMerge)
	}
	q := `SELECT ` + mergeCols + ` FROM merge_requests`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read merge requests: %w", err))
	}
	return collect(rows, scanMerge)
}

// LastChild returns the highest n among the stored ids parent.n (n decimal, no further dot), 0 when
// there is none: bd numbers a new child of parent n+1.
func (db *DB) LastChild(ctx context.Context, parent string) (int, error) {
	defer db.observeRead("children", time.Now())
	// parent.… sorts between parent+"." and parent+"/" ('/' follows '.'), so the primary key's range
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM issues WHERE id > ? AND id < ?`, parent+".", parent+"/")
	if err != nil {
		return 0, unavailable("read", fmt.Errorf("read children of %s: %w", parent, err))
	}
	defer rows.Close()
	last := 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return 0, unavailable("read", fmt.Errorf("read children of %s: %w", parent, err))
		}
		if n, ok := childNumber(id[len(parent)+1:]); ok && n > last {
			last = n
		}
	}
	if err := rows.Err(); err != nil {
		return 0, unavailable("read", fmt.Errorf("read children of %s: %w", parent, err))
	}
	return last, nil
}

// childNumber reads a child id's suffix: 1 to 9 decimal digits.
func childNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// Dependents returns the issues that depend on id (any dependency type), by id, at most n, and how many
// there are in all.
func (db *DB) Dependents(ctx context.Context, id string, n int) ([]coord.Dependent, int, error) {
	defer db.observeRead("dependents", time.Now())
	rows, err := db.r.QueryContext(ctx, `SELECT d.issue_id, d.type, i.status, json_extract(b.body, '$.title')
		FROM dependencies AS d JOIN issues AS i ON i.id = d.issue_id JOIN issue_bodies AS b ON b.id = d.issue_id
		WHERE d.depends_on_id = ? ORDER BY d.issue_id, d.type`, id)
	if err != nil {
		return nil, 0, unavailable("read", fmt.Errorf("read dependents of %s: %w", id, err))
	}
	defer rows.Close()
	var out []coord.Dependent
	total := 0
	for rows.Next() {
		total++
		if len(out) == n {
			continue
		}
		var d coord.Dependent
		var title sql.NullString
		if err := rows.Scan(&d.ID, &d.Type, &d.Status, &title); err != nil {
			return nil, 0, unavailable("read", fmt.Errorf("read dependents of %s: %w", id, err))
		}
		d.Title = title.String
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, unavailable("read", fmt.Errorf("read dependents of %s: %w", id, err))
	}
	return out, total, nil
}
