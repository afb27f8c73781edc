package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gastown/gtc/beads"
)

// DirtyIDs returns the ids of the issues flagged dirty, in id order (beads.DirtyLookup).
func (db *DB) DirtyIDs(ctx context.Context) ([]string, error) {
	defer db.observeRead("dirty_ids", time.Now())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return db.dirty.after("", 0), nil
}

// DirtyByID returns the records among ids whose dirty flag is set, in id order (beads.DirtyLookup):
// the streaming export asks for the dirty ones among a stretch of the file's lines.
func (db *DB) DirtyByID(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty_by_id", time.Now())
	return db.dirtyByID(ctx, ids, true)
}

// DirtyViewsByID is DirtyByID with Raw left nil (beads.DirtyViewLookup): the streaming export patches the
// file's own lines, so the stored bytes are neither read nor copied.
func (db *DB) DirtyViewsByID(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty_by_id", time.Now())
	return db.dirtyByID(ctx, ids, false)
}

func (db *DB) dirtyByID(ctx context.Context, ids []string, withRaw bool) ([]beads.StoredRecord, error) {
	var out []beads.StoredRecord
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), dirtyChunk)]
		ids = ids[len(chunk):]
		recs, err := db.dirtyAmongDriver(ctx, chunk, withRaw)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = recs // one chunk (the export asks for at most one): no copy
		} else {
			out = append(out, recs...)
		}
	}
	byID := func(a, b beads.StoredRecord) int { return strings.Compare(a.ID, b.ID) }
	if !slices.IsSortedFunc(out, byID) { // each chunk comes sorted
		slices.SortFunc(out, byID)
	}
	return out, nil
}

// UnwrittenIDs returns the ids of the issues never written to the file, in id order
// (beads.UnwrittenLookup): the records a create made since the last export.
func (db *DB) UnwrittenIDs(ctx context.Context) ([]string, error) {
	defer db.observeRead("unwritten_ids", time.Now())
	var ids []string
	if err := db.r.SelectContext(ctx, &ids, `SELECT id FROM issue_bodies WHERE raw IS NULL ORDER BY id`); err != nil {
		return nil, unavailable("read", fmt.Errorf("list unwritten issues: %w", err))
	}
	return ids, nil
}
