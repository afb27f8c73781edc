package store

import (
	"context"
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
	var out []beads.StoredRecord
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), dirtyChunk)]
		ids = ids[len(chunk):]
		recs, err := db.dirtyAmong(ctx, chunk)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	slices.SortFunc(out, func(a, b beads.StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
