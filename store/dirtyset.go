package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/btree"
	"github.com/jmoiron/sqlx"

	"github.com/gastown/gtc/beads"
)

// dirtySet holds, in id order, the ids of issues whose dirty flag is set: it stands in for an index on
// the flag, which every state change would rewrite. The flag in the row stays the truth; the set is
// filled from a scan at open and follows each committed transaction, so it never misses a dirty issue
// (readers still check the flag, which covers the moment between a commit and the set's update).
type dirtySet struct {
	mu  sync.Mutex
	ids *btree.BTreeG[string]
}

// dirtyMark is one change of an issue's dirty flag, applied to the set once its transaction commits.
type dirtyMark struct {
	id    string
	dirty bool
}

func newDirtySet() *dirtySet {
	return &dirtySet{ids: btree.NewOrderedG[string](32)}
}

// fill loads the ids flagged dirty in the database.
func (s *dirtySet) fill(ctx context.Context, w *sqlx.DB) error {
	var ids []string
	if err := w.SelectContext(ctx, &ids, `SELECT id FROM issues WHERE dirty = 1`); err != nil {
		return fmt.Errorf("read dirty issue ids: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.ids.ReplaceOrInsert(id)
	}
	return nil
}

// apply records the flag changes of a committed transaction, in order.
func (s *dirtySet) apply(marks []dirtyMark) {
	if len(marks) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range marks {
		if m.dirty {
			s.ids.ReplaceOrInsert(m.id)
		} else {
			s.ids.Delete(m.id)
		}
	}
}

// after returns up to limit ids sorting after after (all of them when limit <= 0), in order.
func (s *dirtySet) after(after string, limit int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.ids.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	out := make([]string, 0, n) // sized once: an export lists thousands
	s.ids.AscendGreaterOrEqual(after, func(id string) bool {
		if id == after {
			return true
		}
		out = append(out, id)
		return limit <= 0 || len(out) < limit
	})
	return out
}

// dirtyChunk is how many ids one read of dirty records asks for.
const dirtyChunk = 512

// dirtyRecords returns up to limit records (all when limit <= 0) whose dirty flag is set and whose id
// sorts after after, by id, reading the ids the set names a chunk at a time.
func (db *DB) dirtyRecords(ctx context.Context, after string, limit int) ([]beads.StoredRecord, error) {
	var out []beads.StoredRecord
	for limit <= 0 || len(out) < limit {
		want := dirtyChunk
		if limit > 0 {
			want = min(want, limit-len(out))
		}
		ids := db.dirty.after(after, want)
		if len(ids) == 0 {
			break
		}
		recs, err := db.dirtyAmong(ctx, ids)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		after = ids[len(ids)-1]
	}
	return out, nil
}

// dirtyAmong reads, by id, the records among ids (at most dirtyChunk) whose dirty flag is set, through the
// driver (dirtyread.go).
func (db *DB) dirtyAmong(ctx context.Context, ids []string) ([]beads.StoredRecord, error) {
	return db.dirtyAmongDriver(ctx, ids, true)
}
