package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/gastown/gtc/beads"
)

// The export's read of dirty records goes through the driver directly, on a read-pool connection (same busy
// timeout and read-only mode as the other reads), like Body: database/sql's Rows, its locks, its argument
// and column conversion (reflection) and its second copy of every blob were about a third of DirtyByID.
// The statement is prepared per call: one call reads up to dirtyChunk ids, so the prepare is a few
// hundred nanoseconds a record, and there is no per-connection statement to finalize when the store closes.

// dirtyCols is the number of columns recordOfRow reads.
const dirtyCols = 12

// dirtySQL reads the dirty records among a JSON array of ids, by id: issueCols (scanIssue's columns) with
// the raw column as %s.
const dirtySQL = `SELECT issues.id, %s, b.body, issues.status, issues.assignee, issues.updated_at,
	issues.started_at, issues.closed_at, issues.close_reason, issues.dirty, issues.rev, issues.labels
	FROM issues JOIN issue_bodies AS b ON b.id = issues.id
	WHERE issues.id IN (SELECT value FROM json_each(?)) AND issues.dirty = 1 ORDER BY issues.id`

var (
	dirtyWithRaw = fmt.Sprintf(dirtySQL, "b.raw")
	dirtyNoRaw   = fmt.Sprintf(dirtySQL, "NULL") // for the export, which does not use the stored bytes
)

// dirtyAmongDriver reads, by id, the records among ids whose dirty flag is set through the driver; the
// records are what collectRecords(scanIssue) gives for rDirtyByIDs, without Raw unless withRaw.
func (db *DB) dirtyAmongDriver(ctx context.Context, ids []string, withRaw bool) ([]beads.StoredRecord, error) {
	js, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encode ids: %w", err)
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read dirty issues by id: %w", err))
	}
	defer conn.Close()
	var out []beads.StoredRecord
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("read connection is a %T", dc)
		}
		q := dirtyNoRaw
		if withRaw {
			q = dirtyWithRaw
		}
		st, err := c.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare dirty read: %w", err)
		}
		defer st.Close()
		rows, err := st.(*sqlite3.SQLiteStmt).QueryContext(ctx, []driver.NamedValue{{Ordinal: 1, Value: string(js)}})
		if err != nil {
			return err
		}
		defer rows.Close()
		out = make([]beads.StoredRecord, 0, len(ids))
		var dest [dirtyCols]driver.Value
		for {
			err := rows.Next(dest[:])
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			rec, err := recordOfRow(dest[:])
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
	})
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read dirty issues by id: %w", err))
	}
	return out, nil
}

// recordOfRow is scanIssue on the driver's values of one issueCols row.
func recordOfRow(v []driver.Value) (beads.StoredRecord, error) {
	var rec beads.StoredRecord
	var err error
	if rec.ID, err = textCol(v[0]); err != nil {
		return rec, fmt.Errorf("id column: %w", err)
	}
	if rec.Raw, err = ownedBytes(v[1]); err != nil {
		return rec, fmt.Errorf("raw column of %s: %w", rec.ID, err)
	}
	err = stateOfRow(&rec, v)
	return rec, err
}

// stateOfRow fills rec (ID set) from the body and state columns of a dirtySQL row: the stored issue with
// the state columns over it, or only the state columns (FromLine) when the body column is NULL.
func stateOfRow(rec *beads.StoredRecord, v []driver.Value) error {
	body, err := ownedBytes(v[2])
	if err != nil {
		return fmt.Errorf("body column of %s: %w", rec.ID, err)
	}
	var cols [7]string // status, assignee, updated_at, started_at, closed_at, close_reason, labels
	for i, j := range [...]int{3, 4, 5, 6, 7, 8, 11} {
		if cols[i], err = textCol(v[j]); err != nil {
			return fmt.Errorf("column %d of %s: %w", j, rec.ID, err)
		}
	}
	dirty, ok1 := v[9].(int64)
	rev, ok2 := v[10].(int64)
	if !ok1 || !ok2 {
		return fmt.Errorf("dirty, rev columns of %s: %T, %T", rec.ID, v[9], v[10])
	}
	return setRecord(rec, body, &cols, dirty != 0, rev)
}

// setRecord fills rec (ID set) from its body and state columns (see stateOfRow).
func setRecord(rec *beads.StoredRecord, body []byte, cols *[7]string, dirty bool, rev int64) error {
	var err error
	rec.Rev, rec.Dirty = rev, dirty
	if body == nil {
		rec.FromLine = true
		rec.Issue = beads.Issue{ID: rec.ID}
	} else if rec.Issue, err = beads.DecodeIssueJSON(body); err != nil {
		return fmt.Errorf("decode stored issue %s: %w", rec.ID, err)
	}
	is := &rec.Issue
	is.Status, is.Assignee, is.CloseReason = cols[0], cols[1], cols[5]
	if is.UpdatedAt, err = parseTime(cols[2]); err != nil {
		return err
	}
	if is.StartedAt, err = parseTimePtr(cols[3]); err != nil {
		return err
	}
	if is.ClosedAt, err = parseTimePtr(cols[4]); err != nil {
		return err
	}
	is.Labels = nil
	if cols[6] != "[]" {
		if err := json.Unmarshal([]byte(cols[6]), &is.Labels); err != nil {
			return fmt.Errorf("decode labels of %s: %w", rec.ID, err)
		}
	}
	return nil
}

// dirtyLinesSQL reads the dirty records among a JSON array of [id, start, length] (the line of id is
// bytes start..start+length of the blob ?2, 0-based), in the array's order: the row's index in the array,
// the body (NULL where the stored bytes are the line and hold the body: raw_has_body; raw is compared
// inside SQLite, so that neither it nor the body is copied out), the state columns packed into one
// text (packedState), and rev.
const dirtyLinesSQL = `SELECT j.key,
	CASE WHEN b.raw_has_body = 1 AND b.raw = substr(?2, (j.value ->> 1) + 1, j.value ->> 2) THEN NULL ELSE b.body END,
	octet_length(issues.status) || ',' || octet_length(issues.assignee) || ',' || octet_length(issues.updated_at) || ',' ||
	octet_length(issues.started_at) || ',' || octet_length(issues.closed_at) || ',' || octet_length(issues.close_reason) || ':' ||
	issues.status || issues.assignee || issues.updated_at || issues.started_at || issues.closed_at || issues.close_reason ||
	issues.labels, issues.rev
	FROM json_each(?1) AS j JOIN issues ON issues.id = j.value ->> 0 JOIN issue_bodies AS b ON b.id = issues.id
	WHERE issues.dirty = 1 ORDER BY j.key`

// packedState splits dirtyLinesSQL's packed state column: the byte lengths of the first six state columns
// (status, assignee, updated_at, started_at, closed_at, close_reason), then the six and labels back to
// back. One text a row instead of seven: each column value the driver hands over is a string and an
// interface allocated.
func packedState(p string, cols *[7]string) error {
	var n [6]int
	i := 0
	for k := range n {
		j := i
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			n[k] = n[k]*10 + int(p[j]-'0')
			j++
		}
		want := byte(',')
		if k == len(n)-1 {
			want = ':'
		}
		if j == i || j >= len(p) || p[j] != want || j-i > 9 {
			return fmt.Errorf("packed state columns %q: bad lengths", p)
		}
		i = j + 1
	}
	for k, l := range n {
		if l > len(p)-i {
			return fmt.Errorf("packed state columns %q: too short", p)
		}
		cols[k], i = p[i:i+l], i+l
	}
	cols[6] = p[i:]
	return nil
}

// DirtyViewsOfLines implements beads.DirtyLineLookup: DirtyViewsByID, except that a record whose stored
// bytes are its line in text and hold its body comes with FromLine and only its state columns.
func (db *DB) DirtyViewsOfLines(ctx context.Context, dst []beads.StoredRecord, ids []string, text []byte, spans [][2]int) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty_by_id", time.Now())
	if len(spans) != len(ids) {
		return dst, fmt.Errorf("read dirty issues by line: %d ids, %d lines", len(ids), len(spans))
	}
	if len(ids) == 0 {
		return dst, nil
	}
	js := make([]byte, 0, 32*len(ids))
	js = append(js, '[')
	for i, id := range ids {
		if i > 0 {
			js = append(js, ',')
		}
		js = append(js, '[')
		var err error
		if js, err = appendJSONText(js, id); err != nil {
			return dst, fmt.Errorf("encode id %q: %w", id, err)
		}
		js = append(js, ',')
		js = strconv.AppendInt(js, int64(spans[i][0]), 10)
		js = append(js, ',')
		js = strconv.AppendInt(js, int64(spans[i][1]-spans[i][0]), 10)
		js = append(js, ']')
	}
	js = append(js, ']')
	if text == nil {
		text = []byte{}
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return dst, unavailable("read", fmt.Errorf("read dirty issues by line: %w", err))
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("read connection is a %T", dc)
		}
		st, err := c.PrepareContext(ctx, dirtyLinesSQL)
		if err != nil {
			return fmt.Errorf("prepare dirty read: %w", err)
		}
		defer st.Close()
		rows, err := st.(*sqlite3.SQLiteStmt).QueryContext(ctx, []driver.NamedValue{
			{Ordinal: 1, Value: string(js)}, {Ordinal: 2, Value: text}})
		if err != nil {
			return err
		}
		defer rows.Close()
		var v [4]driver.Value
		var cols [7]string
		for {
			err := rows.Next(v[:])
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			k, ok := v[0].(int64)
			if !ok || k < 0 || k >= int64(len(ids)) {
				return fmt.Errorf("dirty read: row index %v of %d ids", v[0], len(ids))
			}
			id := ids[k]
			body, err := ownedBytes(v[1])
			if err != nil {
				return fmt.Errorf("body column of %s: %w", id, err)
			}
			packed, err := textCol(v[2])
			if err != nil {
				return fmt.Errorf("state columns of %s: %w", id, err)
			}
			if err := packedState(packed, &cols); err != nil {
				return fmt.Errorf("state columns of %s: %w", id, err)
			}
			rev, ok := v[3].(int64)
			if !ok {
				return fmt.Errorf("rev column of %s: %T", id, v[3])
			}
			dst = append(dst, beads.StoredRecord{ID: id})
			if err := setRecord(&dst[len(dst)-1], body, &cols, true, rev); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return dst, unavailable("read", fmt.Errorf("read dirty issues by line: %w", err))
	}
	return dst, nil
}

var errNullText = errors.New("NULL in a text column")

// textCol converts a column value as database/sql's Scan into *string does (NULL is an error).
func textCol(v driver.Value) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case nil:
		return "", errNullText
	}
	return "", fmt.Errorf("unexpected %T", v)
}

// appendJSONText appends s as a JSON string: plain printable ASCII as it is, anything else through
// json.Marshal.
func appendJSONText(dst []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, err := json.Marshal(s)
			return append(dst, q...), err
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), nil
}
