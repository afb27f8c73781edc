package store

import (
	"context"
	"time"

	"github.com/gastown/gtc/beads"
)

// DirtyPage returns up to limit dirty records whose id sorts after after, by id (beads.DirtyPager):
// the export walks them a page at a time instead of decoding every dirty issue at once.
func (db *DB) DirtyPage(ctx context.Context, after string, limit int) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty", time.Now())
	return db.dirtyRecords(ctx, after, max(limit, 1))
}
