package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gastown/gtc/beads"
)

// DirtyPage returns up to limit dirty records whose id sorts after after, by id (beads.DirtyPager):
// the export walks them a page at a time instead of decoding every dirty issue at once.
func (db *DB) DirtyPage(ctx context.Context, after string, limit int) ([]beads.StoredRecord, error) {
	defer db.observeRead("dirty", time.Now())
	rows, err := db.r.QueryContext(ctx, `SELECT `+issueCols+` FROM `+issueFrom+
		` WHERE issues.dirty = 1 AND issues.id > ? ORDER BY issues.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("read dirty issues after %q: %w", after, err))
	}
	return collectRecords(rows, limit)
}
