package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
)

// Meta keys holding the syncer's bookkeeping.
const (
	MetaSyncReadSHA    = "sync.read_sha"
	MetaSyncWrittenSHA = "sync.written_sha"
)

// All returns every stored record, by id (beads.Backend).
func (db *DB) All(ctx context.Context) ([]beads.StoredRecord, error) {
	defer db.observeRead("all", time.Now())
	rows, err := db.r.QueryContext(ctx, `SELECT `+issueCols+` FROM `+issueFrom+` ORDER BY issues.id`)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read all issues: %w", err))
	}
	return collectRecords(rows, 0)
}

// Dirty returns the records changed by gtc since their last export, by id (beads.Backend).
func (db *DB) Dirty(ctx context.Context) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty", time.Now())
	return db.dirtyRecords(ctx, "", 0)
}

// MarkExported stores the bytes written for each record and clears its dirty flag only where its rev
// still matches (a change committed meanwhile keeps it dirty) (beads.Backend). Unknown ids are ignored.
func (db *DB) MarkExported(ctx context.Context, recs []beads.ExportedRecord) error {
	// In transactions of markChunk records: one transaction holding every record of a large export
	// (up to megabytes of raw lines) delayed every commit queued behind it by tens of milliseconds. A
	// crash between chunks leaves the rest dirty; they are exported again, to the same bytes.
	for len(recs) > 0 {
		n := min(len(recs), markChunk)
		if err := db.markExported(ctx, recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// markChunk is how many exported records one MarkExported transaction holds.
const markChunk = 64

func (db *DB) markExported(ctx context.Context, recs []beads.ExportedRecord) error {
	return db.write(ctx, func(t *wtx) error {
		for _, r := range recs {
			raw := r.Raw
			if raw == nil {
				raw = []byte{}
			}
			id := any(r.ID) // boxed once for both statements
			res, err := t.exec(wMarkClean, id, r.Rev)
			if err != nil {
				return fmt.Errorf("mark %s clean: %w", r.ID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("mark %s clean: %w", r.ID, err)
			}
			if n > 0 {
				t.marks = append(t.marks, dirtyMark{id: r.ID})
			}
			// The bytes hold the body only if it is the one the export read: no change since (rev).
			if _, err := t.exec(wMarkExported, raw, boolInt(n > 0 && r.HoldsBody && r.Raw != nil), id); err != nil {
				return fmt.Errorf("mark %s exported: %w", r.ID, err)
			}
		}
		return nil
	})
}

// MarkMissing returns the clean, non-tombstone issues whose ids present rejects, and with mark marks
// them for export (beads.LineRestorer): the file an import just read lacks their lines. Without mark
// the dirty ones that had a line (raw not empty) are returned too.
func (db *DB) MarkMissing(ctx context.Context, present func(id string) bool, mark bool) ([]string, error) {
	defer db.observeRead("ids", time.Now())
	q := `SELECT id FROM issues WHERE dirty = 0 AND status <> 'tombstone' ORDER BY id`
	if !mark {
		q = `SELECT i.id FROM issues i LEFT JOIN issue_bodies b ON b.id = i.id
			WHERE i.status <> 'tombstone' AND (i.dirty = 0 OR length(b.raw) > 0) ORDER BY i.id`
	}
	rows, err := db.r.QueryContext(ctx, q)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read issue ids: %w", err))
	}
	var missing []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, unavailable("read", err)
		}
		if !present(id) {
			missing = append(missing, id)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, unavailable("read", err)
	}
	rows.Close()
	if !mark {
		return missing, nil
	}
	var marked []string
	for rest := missing; len(rest) > 0; {
		chunk := rest[:min(len(rest), markChunk)]
		rest = rest[len(chunk):]
		var got []string
		err := db.write(ctx, func(t *wtx) error {
			got = got[:0] // a batch redone in savepoints runs this again
			for _, id := range chunk {
				res, err := t.exec(wMarkDirty, id)
				if err != nil {
					return fmt.Errorf("mark %s for export: %w", id, err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return fmt.Errorf("mark %s for export: %w", id, err)
				} else if n > 0 { // not changed (and so marked) since the read above
					t.marks = append(t.marks, dirtyMark{id: id, dirty: true})
					got = append(got, id)
				}
			}
			return nil
		})
		if err != nil {
			return marked, err
		}
		marked = append(marked, got...)
	}
	return marked, nil
}

// SyncMeta returns the syncer's bookkeeping (beads.Backend).
func (db *DB) SyncMeta(ctx context.Context) (beads.SyncMeta, error) {
	var m beads.SyncMeta
	var err error
	if m.ReadSHA, _, err = db.Meta(ctx, MetaSyncReadSHA); err != nil {
		return m, err
	}
	m.WrittenSHA, _, err = db.Meta(ctx, MetaSyncWrittenSHA)
	return m, err
}

// SetSyncMeta replaces the syncer's bookkeeping (beads.Backend).
func (db *DB) SetSyncMeta(ctx context.Context, m beads.SyncMeta) error {
	return db.Commit(ctx, []coord.Change{
		coord.MetaPut{Key: MetaSyncReadSHA, Value: m.ReadSHA},
		coord.MetaPut{Key: MetaSyncWrittenSHA, Value: m.WrittenSHA},
	})
}

// ImportIssues stores records read from the file directly, in one transaction, marking for export only
// those the merge changed (r.Dirty) (for `gtc import` before a server runs; a running server imports through its scheduler).
func (db *DB) ImportIssues(ctx context.Context, recs []beads.ImportedRecord) error {
	if len(recs) == 0 {
		return nil
	}
	changes := make([]coord.Change, 0, len(recs))
	now := time.Now().UTC()
	for _, r := range recs {
		changes = append(changes, coord.IssuePut{Issue: r.Issue, Raw: r.Raw, FromImport: true, Merged: r.Dirty})
		ev, err := db.importEvent(ctx, &r.Issue, now)
		if err != nil {
			return fmt.Errorf("import %d issues: %w", len(recs), err)
		}
		if ev != nil {
			changes = append(changes, coord.EventAppend{Event: *ev})
		}
	}
	if err := db.Commit(ctx, changes); err != nil {
		return fmt.Errorf("import %d issues: %w", len(recs), err)
	}
	return nil
}

// importEvent is the audit event a running server records when an import changes an issue's status or
// assignee (status_changed by issues.jsonl, or reopened), for `gtc import` with no server: nil when the
// issue is new or neither changed.
func (db *DB) importEvent(ctx context.Context, is *beads.Issue, now time.Time) (*coord.Event, error) {
	var old struct{ Status, Assignee string }
	err := db.r.QueryRowxContext(ctx, `SELECT status, assignee FROM issues WHERE id = ?`, is.ID).Scan(&old.Status, &old.Assignee)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read issue %s: %w", is.ID, err)
	}
	status := is.Status
	if status == "" {
		status = "open" // bd's read default
	}
	closed := func(s string) bool { return s == "closed" || s == "tombstone" }
	if closed(old.Status) && !closed(status) {
		return &coord.Event{Time: now, Kind: "reopened", IssueID: is.ID, Actor: "issues.jsonl",
			Detail: "issue changed outside gtc: " + status + " (gtc import)"}, nil
	}
	changed := coord.StatusChange(old.Status, status, old.Assignee, is.Assignee)
	if changed == "" {
		return nil, nil
	}
	return &coord.Event{Time: now, Kind: "status_changed", IssueID: is.ID, Actor: "issues.jsonl",
		Detail: changed + " (changed outside gtc; gtc import)"}, nil
}
