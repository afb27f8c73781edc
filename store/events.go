package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/gastown/gtc/coord"
)

// The audit log is stored one row per transaction (table event_batches): the events of a commit as one
// JSON array, numbered from the row's first_seq. See migrations/0003_rowid_keys.sql.

// eventRec is one event inside a batch; its sequence number is the batch's first_seq plus its index.
type eventRec struct {
	Time    string `json:"t"`
	Kind    string `json:"k"`
	IssueID string `json:"i,omitempty"`
	LeaseID string `json:"l,omitempty"`
	Worker  string `json:"w,omitempty"`
	Actor   string `json:"a,omitempty"`
	Detail  string `json:"d,omitempty"`
}

// eventBuf collects the events of one transaction as a JSON array.
type eventBuf struct {
	b    []byte
	n    int
	numb []*coord.Event // the i-th event, to number once committed (nil: a value change, not numbered)
}

// add appends e to the batch; number says e is the caller's (an *EventAppend) and gets its Seq.
func (eb *eventBuf) add(e *coord.Event, number bool) {
	if eb.n == 0 {
		eb.b = append(eb.b[:0], '[')
		clear(eb.numb)
		eb.numb = eb.numb[:0]
	} else {
		eb.b = append(eb.b, ',')
	}
	eb.n++
	if number {
		eb.numb = append(eb.numb, e)
	} else {
		eb.numb = append(eb.numb, nil)
	}
	b := append(eb.b, `{"t":`...)
	b = appendTimeJSON(b, e.Time)
	b = append(b, `,"k":`...)
	b = appendJSONString(b, e.Kind)
	for _, f := range [...]struct {
		key, v string
	}{{`,"i":`, e.IssueID}, {`,"l":`, e.LeaseID}, {`,"w":`, e.Worker}, {`,"a":`, e.Actor}, {`,"d":`, e.Detail}} {
		if f.v != "" {
			b = append(b, f.key...)
			b = appendJSONString(b, f.v)
		}
	}
	eb.b = append(b, '}')
}

// mark returns the batch's current end, for truncate.
func (eb *eventBuf) mark() (int, int) { return len(eb.b), eb.n }

// truncate drops the events added since mark (a request rolled back to its savepoint).
func (eb *eventBuf) truncate(size, n int) {
	eb.b, eb.n = eb.b[:size], n
	clear(eb.numb[n:])
	eb.numb = eb.numb[:n]
}

// number gives the batch's events their audit-log numbers, first the first one's: what events.list
// reads back, so a live subscriber can resume from it.
func (eb *eventBuf) number(first int64) {
	for i, e := range eb.numb[:eb.n] {
		if e != nil {
			e.Seq = first + int64(i)
		}
	}
	clear(eb.numb) // the engine reuses the events' memory once the commit returns
	eb.numb = eb.numb[:0]
}

// bytes returns the JSON array of the batch.
func (eb *eventBuf) bytes() []byte { return append(eb.b, ']') }

// appendTimeJSON appends t as appendJSONString(b, fmtTime(t)) does, without the intermediate string:
// RFC 3339 text needs no escaping.
func appendTimeJSON(b []byte, t time.Time) []byte {
	b = append(b, '"')
	if !t.IsZero() {
		b = t.AppendFormat(b, time.RFC3339Nano)
	}
	return append(b, '"')
}

// appendJSONString appends s as a JSON string; plain ASCII is copied as is, anything else goes through
// encoding/json (escapes, invalid UTF-8 replaced, HTML characters escaped as everywhere else).
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// writeEvents appends the transaction's event batch, numbered from db.nextSeq; the caller advances
// nextSeq once the transaction committed.
func (t *wtx) writeEvents(firstSeq int64) error {
	if t.events.n == 0 {
		return nil
	}
	_, err := t.exec(wEventBatch, firstSeq, t.events.n, t.events.bytes())
	return wrap(err, "append %d events", t.events.n)
}

// LastEventSeq returns the number of the newest event in the audit log (0: none).
func (db *DB) LastEventSeq(ctx context.Context) (int64, error) {
	defer db.observeRead("events", time.Now())
	var last int64
	err := db.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT first_seq + count - 1 FROM event_batches
		ORDER BY first_seq DESC LIMIT 1), 0)`).Scan(&last)
	if err != nil {
		return 0, unavailable("read", fmt.Errorf("read the last event number: %w", err))
	}
	return last, nil
}

// loadNextSeq reads the sequence number the next event gets.
func (db *DB) loadNextSeq(ctx context.Context) error {
	var next int64
	err := db.w.QueryRowContext(ctx, `SELECT COALESCE((SELECT first_seq + count FROM event_batches
		ORDER BY first_seq DESC LIMIT 1), 1)`).Scan(&next)
	if err != nil {
		return fmt.Errorf("read the last event number: %w", err)
	}
	db.nextSeq = next
	return nil
}

// Events returns up to limit audit-log entries with seq > afterSeq, oldest first (limit <= 0 means 1000).
func (db *DB) Events(ctx context.Context, afterSeq int64, limit int) ([]coord.Event, error) {
	out, _, err := db.EventsPage(ctx, afterSeq, limit)
	return out, err
}

// EventsPage is Events that also says whether more entries follow the page.
func (db *DB) EventsPage(ctx context.Context, afterSeq int64, limit int) ([]coord.Event, bool, error) {
	defer db.observeRead("events", time.Now())
	rows, err := db.rs[rEvents].QueryContext(ctx, afterSeq+1)
	if err != nil {
		return nil, false, unavailable("read", fmt.Errorf("read events: %w", err))
	}
	return scanEvents(rows, afterSeq+1, math.MaxInt64, limit, "")
}

// IssueEvents returns up to limit of issueID's audit-log entries with seq > afterSeq, oldest first (limit
// <= 0 means 1000), where the search stopped (next: continue after it) and whether more of the log is
// left to search. Only the batches that mention the issue are decoded: SQLite searches a long log, not a
// decoder event by event. One call searches the log in windows for at most db.issueScan.budget (one
// window at least), so that a long log is paged rather than read in one call: a page may then hold fewer
// events than limit, none at all, with more set and next the last event searched.
func (db *DB) IssueEvents(ctx context.Context, issueID string, afterSeq int64, limit int) (evs []coord.Event, next int64, more bool, err error) {
	defer db.observeRead("events", time.Now())
	if limit <= 0 {
		limit = 1000
	}
	var last int64
	if err := db.r.QueryRowContext(ctx, `SELECT COALESCE((SELECT first_seq + count - 1 FROM event_batches
		ORDER BY first_seq DESC LIMIT 1), 0)`).Scan(&last); err != nil {
		return nil, afterSeq, false, unavailable("read", fmt.Errorf("read the last event number: %w", err))
	}
	// the member as writeEvents encodes it, quotes included: "i":"gt-1" does not match gt-10's. An id
	// that needs escaping is searched event by event (member ''): batches moved over by migration 0003
	// were encoded by SQLite, which escapes differently.
	member := string(appendJSONString([]byte(`"i":`), issueID))
	if len(member) != len(`"i":""`)+len(issueID) {
		member = ""
	}
	scan := db.issueScan
	if scan.window <= 0 {
		scan = defaultIssueScan
	}
	start := time.Now()
	next = afterSeq
	for lo := afterSeq + 1; lo <= last; lo = next + 1 {
		if lo > afterSeq+1 && time.Since(start) >= scan.budget {
			return evs, next, true, nil
		}
		hi := min(last, lo+scan.window-1)
		rows, err := db.rs[rIssueEvents].QueryContext(ctx, lo, member, hi)
		if err != nil {
			return nil, afterSeq, false, unavailable("read", fmt.Errorf("read the events of %s: %w", issueID, err))
		}
		// one more than the page holds: whether the issue has more events is known without another window
		got, _, err := scanEvents(rows, lo, hi, limit+1-len(evs), issueID)
		if err != nil {
			return nil, afterSeq, false, err
		}
		if evs = append(evs, got...); len(evs) > limit {
			return evs[:limit], evs[limit-1].Seq, true, nil
		}
		next = hi
	}
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq
	}
	return evs, next, false, nil
}

// issueScan is how IssueEvents pages its search of the log.
type issueScan struct {
	window int64         // events per query
	budget time.Duration // a call stops searching once it has run this long
}

// defaultIssueScan: a window is ~20 ms of SQLite's search (~140 ms decoding, for an id that needs
// escaping); a call searches ~5 windows, 250,000 events.
var defaultIssueScan = issueScan{window: 50_000, budget: 100 * time.Millisecond}

// scanEvents decodes the event batches rows yields into up to limit events (<= 0: 1000) with seq in
// lo..hi, only issueID's when set, and closes rows; more says another such event follows them.
func scanEvents(rows *sql.Rows, lo, hi int64, limit int, issueID string) (out []coord.Event, more bool, err error) {
	defer rows.Close()
	if limit <= 0 {
		limit = 1000
	}
	for !more && rows.Next() {
		var first int64
		var count int
		var data []byte
		if err := rows.Scan(&first, &count, &data); err != nil {
			return nil, false, unavailable("read", fmt.Errorf("read events: %w", err))
		}
		var recs []eventRec
		if err := json.Unmarshal(data, &recs); err != nil {
			return nil, false, unavailable("read", fmt.Errorf("decode events from %d: %w", first, err))
		}
		for i, r := range recs {
			seq := first + int64(i)
			if seq > hi {
				break
			}
			if seq < lo || (issueID != "" && r.IssueID != issueID) {
				continue
			}
			if len(out) == limit {
				more = true
				break
			}
			t, err := parseTime(r.Time)
			if err != nil {
				return nil, false, unavailable("read", fmt.Errorf("decode event %d: %w", seq, err))
			}
			out = append(out, coord.Event{Seq: seq, Time: t, Kind: r.Kind, IssueID: r.IssueID, LeaseID: r.LeaseID,
				Worker: r.Worker, Actor: r.Actor, Detail: r.Detail})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, false, unavailable("read", fmt.Errorf("read events: %w", err))
	}
	return out, more, nil
}
