package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unsafe"

	"github.com/mattn/go-sqlite3"

	"github.com/gastown/gtc/coord"
)

// Statements of the writer connection, prepared once at Open.
const (
	wIssuePut = iota
	wBodyPut
	wIssueState
	wIssueStateLease
	wIssueStateClear
	wIssueLease
	wIssueLeaseClear
	wLabelsClear
	wLabelAdd
	wLabelDel
	wLabelsCopy
	wDepsClear
	wDepAdd
	wLeasePut
	wWorkerPut
	wWorkerDelete
	wEventBatch
	wMetaPut
	wMergePut
	wMarkExported
	wMarkClean
	wMarkDirty
	wSavepoint
	wRollbackTo
	wRelease
	nWriteStmts
)

// issueStateSQL sets the scheduler-owned columns of an issue (IssueState) and marks it for export.
const issueStateSQL = `UPDATE issues SET status = ?, assignee = ?, updated_at = ?,
		started_at = CASE WHEN ? THEN ? ELSE started_at END, closed_at = ?, close_reason = ?,
		attempts = ?, not_before = ?, dirty = 1, rev = rev + 1`

var writeSQL = [nWriteStmts]string{
	wIssuePut: `INSERT INTO issues (id, status, priority, issue_type, assignee, created_at, updated_at,
		started_at, closed_at, close_reason, labels, defer_until, pinned, ephemeral, dirty, rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, priority = excluded.priority, issue_type = excluded.issue_type,
		assignee = excluded.assignee, created_at = excluded.created_at, updated_at = excluded.updated_at,
		started_at = excluded.started_at, closed_at = excluded.closed_at, close_reason = excluded.close_reason,
		labels = excluded.labels, defer_until = excluded.defer_until, pinned = excluded.pinned, ephemeral = excluded.ephemeral,
		dirty = excluded.dirty, rev = issues.rev + 1`,
	wBodyPut: `INSERT INTO issue_bodies (id, raw, body, raw_has_body) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET raw = COALESCE(excluded.raw, issue_bodies.raw), body = excluded.body,
		raw_has_body = excluded.raw_has_body`,
	wIssueState:      issueStateSQL + ` WHERE id = ?`,
	wIssueStateLease: issueStateSQL + `, lease_epoch = ?, lease = CAST(? AS TEXT) WHERE id = ?`,
	// ?10 is the ended lease's epoch (after the nine of issueStateSQL); the id becomes ?11
	wIssueStateClear: issueStateSQL + `, lease_epoch = CASE WHEN lease_epoch = ?10 THEN 0 ELSE lease_epoch END,
		lease = CASE WHEN lease_epoch = ?10 THEN '' ELSE lease END WHERE id = ?`,
	// a live lease lives in its issue's row; changing only the lease does not mark the issue for export.
	// Its JSON is bound as bytes (the scratch buffer, not a string copy) and stored as TEXT by the CAST.
	wIssueLease:      `UPDATE issues SET lease_epoch = ?, lease = CAST(? AS TEXT) WHERE id = ?`,
	wIssueLeaseClear: `UPDATE issues SET lease_epoch = 0, lease = '' WHERE id = ? AND lease_epoch = ?`,
	wLabelsClear:     `DELETE FROM labels WHERE issue_id = ?`,
	wLabelAdd:        `INSERT OR IGNORE INTO labels (issue_id, label) VALUES (?, ?)`,
	wLabelDel:        `DELETE FROM labels WHERE issue_id = ? AND label = ?`,
	wLabelsCopy: `UPDATE issues SET labels = (SELECT json_group_array(label ORDER BY rowid) FROM labels WHERE issue_id = ?1)
		WHERE id = ?1`,
	wDepsClear: `DELETE FROM dependencies WHERE issue_id = ?`,
	wDepAdd:    `INSERT INTO dependencies (issue_id, depends_on_id, type, metadata) VALUES (?, ?, ?, ?)`,
	// Upserts update rows in place (INSERT OR REPLACE would delete and re-insert every index entry).
	// Ended leases are kept by epoch (the rowid).
	wLeasePut: `INSERT INTO lease_history (id, issue_id, worker, epoch, state, attempt, created_at,
		ack_deadline, deadline, ended_at, outcome, error, progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (epoch) DO UPDATE SET state = excluded.state, ack_deadline = excluded.ack_deadline,
		deadline = excluded.deadline, ended_at = excluded.ended_at, outcome = excluded.outcome, error = excluded.error,
		progress = excluded.progress`, // a lease's id, issue, worker, attempt and start never change: not rewritten
	wWorkerPut: `INSERT INTO workers (name, role, capacity, filters, state, first_seen, last_seen, draining)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET role = excluded.role, capacity = excluded.capacity, filters = excluded.filters,
		state = excluded.state, first_seen = excluded.first_seen, last_seen = excluded.last_seen, draining = excluded.draining`,
	wWorkerDelete: `DELETE FROM workers WHERE name = ?`,
	wEventBatch:   `INSERT INTO event_batches (first_seq, count, events) VALUES (?, ?, ?)`,
	wMetaPut:      `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`,
	wMergePut: `INSERT OR REPLACE INTO merge_requests (id, issue_id, worker, branch, commit_id, target, files, state,
		attempts, refinery, epoch, deadline, created_at, updated_at, error, conflicts)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	wMarkExported: `UPDATE issue_bodies SET raw = ?, raw_has_body = ? WHERE id = ?`,
	wMarkClean:    `UPDATE issues SET dirty = 0 WHERE id = ? AND rev = ? AND dirty = 1`,
	wMarkDirty:    `UPDATE issues SET dirty = 1, rev = rev + 1 WHERE id = ? AND dirty = 0`,
	wSavepoint:    `SAVEPOINT req`,
	wRollbackTo:   `ROLLBACK TO req`,
	wRelease:      `RELEASE req`,
}

// writeStmts holds the writer's statements, prepared on the writer's driver connection. The committer
// runs them through the driver directly: database/sql would allocate and convert every argument of every
// statement again, which was a quarter of the bytes allocated per assignment cycle.
type writeStmts struct {
	conn *sqlite3.SQLiteConn // the connection the statements belong to
	st   [nWriteStmts]*sqlite3.SQLiteStmt
}

// on returns the statements prepared on c, preparing them again if the pool replaced the connection.
func (s *writeStmts) on(c *sqlite3.SQLiteConn) error {
	if s.conn == c {
		return nil
	}
	s.close()
	for i, q := range writeSQL {
		st, err := c.Prepare(q)
		if err != nil {
			s.close()
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		s.st[i] = st.(*sqlite3.SQLiteStmt)
	}
	s.conn = c
	return nil
}

func (s *writeStmts) close() {
	for i, st := range s.st {
		if st != nil {
			_ = st.Close()
			s.st[i] = nil
		}
	}
	s.conn = nil
}

// wtx is one write transaction on the writer's driver connection.
type wtx struct {
	c      *sqlite3.SQLiteConn
	st     *[nWriteStmts]*sqlite3.SQLiteStmt
	args   []driver.NamedValue // reused for every statement
	marks  []dirtyMark         // dirty flag changes, for db.dirty once the transaction commits
	events eventBuf            // the audit-log entries, written as one row before the commit
	// live-lease writes waiting for their issue's state change in the same request, so both go in one
	// UPDATE; what is left is written at the end of the request (flushLeases)
	leases map[string]leaseSlot
	// scratch builds a value the statement copies (a live lease's JSON)
	scratch []byte
	// argv is the reused argument list of issueState
	argv []any
	// times and texts hold the statement arguments made in this transaction, boxed once: a batch's changes
	// share the engine's clock readings (its now, the deadlines after it) and repeat statuses, worker
	// names and issue ids, and each formatted time and each boxed string was an allocation
	times map[time.Time]any
	texts map[string]any
	// timeText holds the text of the times formatted in this transaction; the strings in times point
	// into it (see timeArg)
	timeText []byte
}

// timeArg returns tm formatted as a statement argument (fmtTime), from the transaction's cache.
func (t *wtx) timeArg(tm time.Time) any {
	if tm.IsZero() {
		return ""
	}
	if v, ok := t.times[tm]; ok {
		return v
	}
	if t.times == nil {
		t.times = make(map[time.Time]any)
	}
	// The text is formatted into the transaction's buffer and used in place: SQLite copies a bound text
	// (SQLITE_TRANSIENT), and the only other holders, times and the argument lists, are cleared with the
	// buffer when the transaction is reused. Bytes already handed out are never written again: when the
	// buffer grows, the earlier strings keep the array they point into.
	start := len(t.timeText)
	t.timeText = tm.AppendFormat(t.timeText, time.RFC3339Nano)
	v := any(unsafe.String(&t.timeText[start], len(t.timeText)-start))
	t.times[tm] = v
	return v
}

// timePtrArg is timeArg for fmtTimePtr.
func (t *wtx) timePtrArg(tm *time.Time) any {
	if tm == nil {
		return ""
	}
	return t.timeArg(*tm)
}

// textArg returns s as a statement argument, boxed once per transaction.
func (t *wtx) textArg(s string) any {
	if s == "" {
		return ""
	}
	if v, ok := t.texts[s]; ok {
		return v
	}
	if t.texts == nil {
		t.texts = make(map[string]any)
	}
	v := any(s)
	t.texts[s] = v
	return v
}

// leaseSlot is what the issue row's lease columns become: a live lease, or empty if they still hold
// the lease of epoch clear (it ended).
type leaseSlot struct {
	lease *coord.Lease
	clear int64
}

// reuse readies the committer's transaction state for the next transaction on c, keeping the buffers
// of the last one (an event batch, the dirty marks, the live-lease slots, the statement arguments):
// a fresh wtx per transaction grew them again every time, ~1.2 KB per assignment cycle. Buffers a large
// transaction (an import) grew past reuseCap are dropped instead of kept for good.
func (t *wtx) reuse(c *sqlite3.SQLiteConn, st *[nWriteStmts]*sqlite3.SQLiteStmt) *wtx {
	t.c, t.st = c, st
	if cap(t.events.b) > reuseCap {
		t.events.b = nil
	}
	t.events.b, t.events.n = t.events.b[:0], 0
	if cap(t.events.numb) > reuseCap/16 {
		t.events.numb = nil
	}
	clear(t.events.numb[:cap(t.events.numb)]) // no event of a past batch stays reachable
	t.events.numb = t.events.numb[:0]
	if cap(t.marks) > reuseCap/16 {
		t.marks = nil
	}
	clear(t.marks[:cap(t.marks)]) // no id string stays reachable from a past transaction
	t.marks = t.marks[:0]
	if len(t.leases) > reuseCap/64 {
		t.leases = nil
	} else {
		clear(t.leases)
	}
	clear(t.args[:cap(t.args)])
	t.args = t.args[:0]
	clear(t.argv[:cap(t.argv)])
	if len(t.times) > reuseCap/256 {
		t.times = nil
	} else {
		clear(t.times)
	}
	if cap(t.timeText) > reuseCap/4 { // a transaction of 1,024 changes formats up to ~180 KB
		t.timeText = nil
	}
	t.timeText = t.timeText[:0]
	if len(t.texts) > reuseCap/256 {
		t.texts = nil
	} else {
		clear(t.texts)
	}
	return t
}

// reuseCap bounds the event buffer (bytes) the committer keeps between transactions.
const reuseCap = 1 << 20

// exec runs write statement i with args (nil, string, []byte, bool, int, int64, float64 or time.Time).
func (t *wtx) exec(i int, args ...any) (driver.Result, error) {
	t.args = t.args[:0]
	for n, a := range args {
		if v, ok := a.(int); ok {
			a = int64(v)
		}
		t.args = append(t.args, driver.NamedValue{Ordinal: n + 1, Value: a})
	}
	return t.st[i].ExecContext(context.Background(), t.args)
}

// run executes one statement without arguments (BEGIN, COMMIT, ROLLBACK).
func (t *wtx) run(q string) error {
	_, err := t.c.ExecContext(context.Background(), q, nil)
	return err
}

// commitReq is one caller's work, answered on done after its transaction ends.
type commitReq struct {
	ctx     context.Context
	changes []coord.Change
	fn      func(*wtx) error // alternative to changes, for non-Change writes
	done    chan<- error
}

func (r *commitReq) size() int { return max(1, len(r.changes)) }

func (r *commitReq) apply(t *wtx) error {
	clear(t.leases) // left over only by a request that failed
	if r.fn != nil {
		return r.fn(t)
	}
	for _, c := range r.changes {
		if err := t.apply(c); err != nil {
			return err
		}
	}
	return t.flushLeases()
}

// Commit makes changes durable in one transaction, grouped with other callers' pending changes (coord.Persister).
// It returns nil only after that transaction committed; on error none of the changes was kept: EUnavailable
// for a storage failure or a closed store, ENotFound for an IssueState of an unknown issue, or the context's
// error if it ended before the batch started. Once queued, Commit waits for the outcome whatever ctx does.
func (db *DB) Commit(ctx context.Context, changes []coord.Change) error {
	if len(changes) == 0 {
		return nil
	}
	return db.submit(ctx, &commitReq{ctx: ctx, changes: changes})
}

// write runs fn in a write transaction through the committer.
func (db *DB) write(ctx context.Context, fn func(*wtx) error) error {
	return db.submit(ctx, &commitReq{ctx: ctx, fn: fn})
}

func (db *DB) submit(ctx context.Context, req *commitReq) error {
	done := make(chan error, 1)
	req.done = done
	if err := db.enqueue(ctx, req); err != nil {
		return err
	}
	return <-done
}

// CommitAsync is Commit without the wait (coord.AsyncPersister): the outcome is sent on done, which
// must have room for one value.
func (db *DB) CommitAsync(ctx context.Context, changes []coord.Change, done chan<- error) {
	if len(changes) == 0 {
		done <- nil
		return
	}
	if err := db.enqueue(ctx, &commitReq{ctx: ctx, changes: changes, done: done}); err != nil {
		done <- err
	}
}

// enqueue hands req to the committer.
func (db *DB) enqueue(ctx context.Context, req *commitReq) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.closed {
		return coord.Errorf(coord.EUnavailable, "store is closed")
	}
	select {
	case db.reqs <- req:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("queue commit: %w", ctx.Err())
	}
}

// committer is the one goroutine that writes: it takes every pending request (up to the batch cap),
// commits them in one transaction, then answers each. It exits when reqs is closed and drained.
func (db *DB) committer() {
	defer close(db.done)
	var carry *commitReq
	batch := make([]*commitReq, 0, 64)
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-db.reqs
			if !ok {
				return
			}
			first = r
		}
		batch = append(batch[:0], first)
		n := first.size()
	drain:
		for n < db.batch {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break drain
				}
				if n+r.size() > db.batch {
					carry = r
					break drain
				}
				batch = append(batch, r)
				n += r.size()
			default:
				break drain
			}
		}
		db.taken.Add(int64(len(batch)))
		db.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch applies a batch in one transaction and answers every request. It first applies the requests
// back to back; if one fails, it redoes the batch with each request in a savepoint, so one request's
// failure does not undo the others.
func (db *DB) commitBatch(batch []*commitReq) {
	start := time.Now()
	errs := make([]error, len(batch))
	live := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("commit not started: %w", err)
			continue
		}
		live++
	}
	if live > 0 {
		changes, ok := db.runBatch(batch, errs, live, false)
		if !ok {
			changes, _ = db.runBatch(batch, errs, live, true)
		}
		if changes > 0 && db.obs != nil {
			db.obs.ObserveCommit(time.Since(start), changes)
		}
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// runBatch runs the requests of batch not yet answered (errs[i] == nil) in one transaction, sets errs and
// returns the number of changes committed. Without isolate, a failing request among several rolls
// everything back and runBatch returns ok == false with errs untouched.
func (db *DB) runBatch(batch []*commitReq, errs []error, live int, isolate bool) (changes int, ok bool) {
	failAll := func(err error) (int, bool) { return failRest(errs, err) }
	if err := db.fileGone(); err != nil {
		return failAll(err)
	}
	conn, err := db.w.Conn(context.Background())
	if err != nil {
		return failAll(fmt.Errorf("writer connection: %w", err))
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, isSQLite := dc.(*sqlite3.SQLiteConn)
		if !isSQLite {
			return fmt.Errorf("writer connection is a %T", dc)
		}
		if err := db.ws.on(c); err != nil {
			return err
		}
		t := db.tx.reuse(c, &db.ws.st)
		changes, ok = db.runBatchOn(t, batch, errs, live, isolate)
		return nil
	})
	if err != nil {
		return failAll(err)
	}
	return changes, ok
}

// failRest gives err to every request of the batch not answered yet; as a runBatch result: nothing
// committed, no retry.
func failRest(errs []error, err error) (int, bool) {
	err = unavailable("write", err)
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
	return 0, true
}

// runBatchOn is runBatch on the writer's driver connection.
func (db *DB) runBatchOn(t *wtx, batch []*commitReq, errs []error, live int, isolate bool) (changes int, ok bool) {
	failAll := func(err error) (int, bool) { return failRest(errs, err) }
	rollback := func() { _ = t.run("ROLLBACK") }
	begun := time.Now()
	err := t.run("BEGIN IMMEDIATE")
	db.lockWaited.Add(int64(time.Since(begun)))
	if err != nil {
		return failAll(fmt.Errorf("begin: %w", err))
	}
	for i, r := range batch {
		if errs[i] != nil {
			continue
		}
		if !isolate {
			if err := r.apply(t); err != nil {
				rollback()
				if live > 1 {
					return 0, false
				}
				errs[i] = unavailable("write", err)
				return 0, true
			}
			changes += r.size()
			continue
		}
		if _, err := t.exec(wSavepoint); err != nil {
			rollback()
			return failAll(fmt.Errorf("savepoint: %w", err))
		}
		marks := len(t.marks)
		evSize, evN := t.events.mark()
		if err := r.apply(t); err != nil {
			errs[i] = unavailable("write", err)
			t.marks = t.marks[:marks]
			t.events.truncate(evSize, evN)
			if _, rerr := t.exec(wRollbackTo); rerr != nil {
				rollback()
				return failAll(fmt.Errorf("rollback to savepoint: %w", rerr))
			}
		} else {
			changes += r.size()
		}
		if _, err := t.exec(wRelease); err != nil {
			rollback()
			return failAll(fmt.Errorf("release savepoint: %w", err))
		}
	}
	if err := t.writeEvents(db.nextSeq); err != nil {
		rollback()
		return failAll(err)
	}
	wrote := time.Since(begun)
	if err := t.run("COMMIT"); err != nil {
		rollback()
		// every applied request of the transaction is lost; failAll tells each of them
		return failAll(fmt.Errorf("commit: %w", err))
	}
	if db.obs != nil && changes > 0 {
		db.obs.ObserveWrite(wrote)
	}
	db.dirty.apply(t.marks)
	t.events.number(db.nextSeq)
	db.nextSeq += int64(t.events.n)
	return changes, true
}

// apply writes one change inside the transaction.
func (t *wtx) apply(c coord.Change) error {
	switch c := c.(type) {
	case coord.IssuePut:
		return t.issuePut(c)
	case *coord.IssuePut:
		return t.issuePut(*c)
	case coord.IssueState:
		return t.issueState(&c)
	case *coord.IssueState: // the engine's changes are pointers (coord's batch arena)
		return t.issueState(c)
	case coord.LeasePut:
		return t.leasePut(&c.Lease)
	case *coord.LeasePut:
		return t.leasePut(&c.Lease)
	case coord.WorkerPut:
		return t.workerPut(c.Worker)
	case coord.WorkerDelete:
		_, err := t.exec(wWorkerDelete, c.Name)
		return wrap(err, "delete worker %s", c.Name)
	case coord.EventAppend:
		t.events.add(&c.Event, false)
		return nil
	case *coord.EventAppend:
		t.events.add(&c.Event, true)
		return nil
	case coord.MetaPut:
		_, err := t.exec(wMetaPut, c.Key, c.Value)
		return wrap(err, "put meta %s", c.Key)
	case coord.MergePut:
		return t.mergePut(c.Request)
	default:
		return coord.Errorf(coord.EInternal, "store: unknown change type %T", c)
	}
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func (t *wtx) issuePut(c coord.IssuePut) error {
	is := c.Issue
	if is.ID == "" {
		return coord.Errorf(coord.EInvalid, "issue without id")
	}
	body, err := json.Marshal(is)
	if err != nil {
		return coord.Errorf(coord.EInvalid, "issue %s: encode: %v", is.ID, err)
	}
	labels, err := json.Marshal(uniqueLabels(is.Labels))
	if err != nil {
		return coord.Errorf(coord.EInvalid, "issue %s: encode labels: %v", is.ID, err)
	}
	var raw any
	if c.Raw != nil {
		raw = c.Raw
	}
	dirty := !c.FromImport || c.Merged // to export: not the file's own line as it is
	if _, err := t.exec(wIssuePut, is.ID, is.Status, is.Priority, is.IssueType, is.Assignee,
		fmtTime(is.CreatedAt), fmtTime(is.UpdatedAt), fmtTimePtr(is.StartedAt), fmtTimePtr(is.ClosedAt),
		is.CloseReason, string(labels), fmtTimePtr(is.DeferUntil), boolInt(is.Pinned), boolInt(is.Ephemeral),
		boolInt(dirty)); err != nil {
		return fmt.Errorf("put issue %s: %w", is.ID, err)
	}
	t.marks = append(t.marks, dirtyMark{id: is.ID, dirty: dirty})
	// the line as imported is the body (the import decoded it): raw_has_body; any other put changes the body
	hasBody := c.FromImport && !c.Merged && c.Raw != nil
	if _, err := t.exec(wBodyPut, is.ID, raw, body, boolInt(hasBody)); err != nil {
		return fmt.Errorf("put issue %s body: %w", is.ID, err)
	}
	if !c.Create { // a create's id was new to the scheduler, which holds every stored issue: no rows to clear
		if _, err := t.exec(wLabelsClear, is.ID); err != nil {
			return fmt.Errorf("put issue %s labels: %w", is.ID, err)
		}
	}
	for _, l := range is.Labels {
		if _, err := t.exec(wLabelAdd, is.ID, l); err != nil {
			return fmt.Errorf("put issue %s label %q: %w", is.ID, l, err)
		}
	}
	if !c.Create {
		if _, err := t.exec(wDepsClear, is.ID); err != nil {
			return fmt.Errorf("put issue %s deps: %w", is.ID, err)
		}
	}
	for _, d := range is.Dependencies {
		if _, err := t.exec(wDepAdd, is.ID, d.DependsOnID, d.Type, d.Metadata); err != nil {
			return fmt.Errorf("put issue %s dep on %s: %w", is.ID, d.DependsOnID, err)
		}
	}
	return nil
}

func (t *wtx) issueState(c *coord.IssueState) error {
	args := append(t.argv[:0], t.textArg(c.Status), t.textArg(c.Assignee), t.timeArg(c.UpdatedAt), c.StartedAt != nil,
		t.timePtrArg(c.StartedAt), t.timePtrArg(c.ClosedAt), t.textArg(c.CloseReason), c.Attempts, t.timeArg(c.NotBefore))
	defer func() { t.argv = args[:0] }()
	stmt := wIssueState
	if slot, ok := t.leases[c.ID]; ok {
		delete(t.leases, c.ID)
		if slot.lease != nil {
			stmt, args = wIssueStateLease, append(args, slot.lease.Epoch, t.liveLease(slot.lease))
		} else {
			stmt, args = wIssueStateClear, append(args, slot.clear)
		}
	}
	res, err := t.exec(stmt, append(args, t.textArg(c.ID))...)
	if err != nil {
		return fmt.Errorf("update issue %s: %w", c.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update issue %s: %w", c.ID, err)
	} else if n == 0 {
		return coord.Errorf(coord.ENotFound, "issue %s not found", c.ID)
	}
	t.marks = append(t.marks, dirtyMark{id: c.ID, dirty: true})
	for _, l := range c.DelLabels {
		if _, err := t.exec(wLabelDel, c.ID, l); err != nil {
			return fmt.Errorf("update issue %s: remove label %q: %w", c.ID, l, err)
		}
	}
	for _, l := range c.AddLabels {
		if _, err := t.exec(wLabelAdd, c.ID, l); err != nil {
			return fmt.Errorf("update issue %s: add label %q: %w", c.ID, l, err)
		}
	}
	if len(c.AddLabels)+len(c.DelLabels) > 0 {
		if _, err := t.exec(wLabelsCopy, c.ID); err != nil {
			return fmt.Errorf("update issue %s labels: %w", c.ID, err)
		}
	}
	return nil
}

// leasePut keeps a live lease for its issue's row (written with the issue's state change, or at the end
// of the request) and writes an ended one to lease_history, emptying the issue's lease columns. A live
// lease is kept by pointer: l must not change before the request is applied.
func (t *wtx) leasePut(l *coord.Lease) error {
	if t.leases == nil {
		t.leases = make(map[string]leaseSlot)
	}
	cur, ok := t.leases[l.IssueID]
	if l.Live() {
		// clear stays: the row may still hold the ended lease it names if this one is never written
		t.leases[l.IssueID] = leaseSlot{lease: l, clear: cur.clear}
		return nil
	}
	_, err := t.exec(wLeasePut, l.ID, t.textArg(l.IssueID), t.textArg(l.Worker), l.Epoch, t.textArg(string(l.State)),
		l.Attempt, t.timeArg(l.CreatedAt), t.timeArg(l.AckDeadline), t.timeArg(l.Deadline), t.timePtrArg(l.EndedAt),
		t.textArg(l.Outcome), l.Error, l.Progress)
	if err != nil {
		return fmt.Errorf("put lease %s: %w", l.ID, err)
	}
	if ok && cur.lease != nil && cur.lease.Epoch != l.Epoch {
		return nil // the issue already has its next lease
	}
	if ok && cur.lease != nil && cur.clear != 0 {
		// This lease began and ended in this request without reaching the row, which may still hold
		// the lease that ended before it (no issue state change came between): that one is cleared.
		t.leases[l.IssueID] = leaseSlot{clear: cur.clear}
		return nil
	}
	t.leases[l.IssueID] = leaseSlot{clear: l.Epoch}
	return nil
}

// flushLeases writes the lease changes no issue state change took along.
func (t *wtx) flushLeases() error {
	for id, slot := range t.leases {
		if slot.lease == nil {
			if _, err := t.exec(wIssueLeaseClear, id, slot.clear); err != nil {
				return fmt.Errorf("clear lease of issue %s: %w", id, err)
			}
			continue
		}
		res, err := t.exec(wIssueLease, slot.lease.Epoch, t.liveLease(slot.lease), id)
		if err != nil {
			return fmt.Errorf("put lease %s: %w", slot.lease.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("put lease %s: %w", slot.lease.ID, err)
		} else if n == 0 {
			return coord.Errorf(coord.ENotFound, "lease %s: issue %s not found", slot.lease.ID, id)
		}
	}
	clear(t.leases)
	return nil
}

// liveLease encodes a live lease for its issue's lease column (the view leases reads it back) in the
// transaction's scratch buffer; the bytes are valid until the next call (SQLite copies them at the bind).
func (t *wtx) liveLease(l *coord.Lease) []byte {
	t.scratch = appendLiveLease(t.scratch[:0], l)
	return t.scratch
}

// appendLiveLease appends the JSON of a live lease as the issue row keeps it.
func appendLiveLease(b []byte, l *coord.Lease) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, l.ID)
	b = append(b, `,"worker":`...)
	b = appendJSONString(b, l.Worker)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, string(l.State))
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(l.Attempt), 10)
	b = append(b, `,"created_at":`...)
	b = appendTimeJSON(b, l.CreatedAt)
	b = append(b, `,"ack_deadline":`...)
	b = appendTimeJSON(b, l.AckDeadline)
	b = append(b, `,"deadline":`...)
	b = appendTimeJSON(b, l.Deadline)
	b = append(b, `,"progress":`...)
	b = appendJSONString(b, l.Progress)
	if l.Reserved {
		b = append(b, `,"reserved":true`...)
	}
	return append(b, '}')
}

func (t *wtx) workerPut(w coord.WorkerRow) error {
	f, err := json.Marshal(w.Filters)
	if err != nil {
		return coord.Errorf(coord.EInvalid, "worker %s: encode filters: %v", w.Name, err)
	}
	_, err = t.exec(wWorkerPut, w.Name, w.Role, w.Capacity, string(f), w.State, fmtTime(w.FirstSeen), fmtTime(w.LastSeen), w.Draining)
	return wrap(err, "put worker %s", w.Name)
}

func (t *wtx) mergePut(m coord.MergeRequest) error {
	files, err := json.Marshal(nonNil(m.Files))
	if err != nil {
		return err
	}
	conflicts, err := json.Marshal(nonNil(m.Conflicts))
	if err != nil {
		return err
	}
	_, err = t.exec(wMergePut, m.ID, m.IssueID, m.Worker, m.Branch, m.Commit, m.Target, string(files), m.State,
		m.Attempts, m.Refinery, m.Epoch, fmtTimePtr(m.Deadline), fmtTime(m.CreatedAt), fmtTime(m.UpdatedAt),
		m.Error, string(conflicts))
	return wrap(err, "put merge request %s", m.ID)
}

// uniqueLabels drops repeated labels, as the labels table does, keeping first occurrences in order;
// never nil. A long list is checked against a set (scanning the labels kept is quadratic).
func uniqueLabels(ls []string) []string {
	out := make([]string, 0, len(ls))
	if len(ls) <= 32 {
		for _, l := range ls {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
		return out
	}
	seen := make(map[string]struct{}, len(ls))
	for _, l := range ls {
		if _, dup := seen[l]; !dup {
			seen[l] = struct{}{}
			out = append(out, l)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
