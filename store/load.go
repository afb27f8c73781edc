package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gastown/gtc/coord"
)

// Load reads everything the scheduler needs after a restart, from one consistent read snapshot.
// Issues come from the projected columns only (no JSON parsing), in id order.
func (db *DB) Load(ctx context.Context) (*coord.Snapshot, error) {
	defer db.observeRead("load", time.Now())
	tx, err := db.r.BeginTxx(ctx, nil)
	if err != nil {
		return nil, unavailable("read", fmt.Errorf("load: begin: %w", err))
	}
	defer func() { _ = tx.Rollback() }()
	s := &coord.Snapshot{Meta: map[string]string{}}
	steps := []struct {
		what string
		fn   func(context.Context, *sqlx.Tx, *coord.Snapshot) error
	}{
		{"issues", loadIssues},
		{"leases", loadLeases},
		{"workers", loadWorkers},
		{"merge requests", loadMerges},
		{"meta", loadMeta},
	}
	for _, st := range steps {
		if err := st.fn(ctx, tx, s); err != nil {
			return nil, unavailable("read", fmt.Errorf("load %s: %w", st.what, err))
		}
	}
	return s, nil
}

func loadIssues(ctx context.Context, tx *sqlx.Tx, s *coord.Snapshot) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM issues`).Scan(&n); err != nil {
		return err
	}
	s.Issues = make([]coord.IssueMeta, 0, n)
	idx := make(map[string]int, n)
	rows, err := tx.QueryContext(ctx, `SELECT id, status, priority, issue_type, assignee, created_at, updated_at,
		defer_until, pinned, ephemeral, close_reason, attempts, not_before, started_at FROM issues ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var created, updated, deferUntil, notBefore, started string
	var pinned, ephemeral int
	for rows.Next() {
		var m coord.IssueMeta
		if err := rows.Scan(&m.ID, &m.Status, &m.Priority, &m.IssueType, &m.Assignee, &created, &updated,
			&deferUntil, &pinned, &ephemeral, &m.CloseReason, &m.Attempts, &notBefore, &started); err != nil {
			return err
		}
		if m.CreatedAt, err = parseTime(created); err != nil {
			return err
		}
		if m.UpdatedAt, err = parseTime(updated); err != nil {
			return err
		}
		if m.DeferUntil, err = parseTimePtr(deferUntil); err != nil {
			return err
		}
		if m.NotBefore, err = parseTime(notBefore); err != nil {
			return err
		}
		if m.StartedAt, err = parseTimePtr(started); err != nil {
			return err
		}
		m.Pinned, m.Ephemeral = pinned != 0, ephemeral != 0
		idx[m.ID] = len(s.Issues)
		s.Issues = append(s.Issues, m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()

	lrows, err := tx.QueryContext(ctx, `SELECT issue_id, label FROM labels ORDER BY rowid`)
	if err != nil {
		return err
	}
	defer lrows.Close()
	var id, label string
	for lrows.Next() {
		if err := lrows.Scan(&id, &label); err != nil {
			return err
		}
		if i, ok := idx[id]; ok {
			s.Issues[i].Labels = append(s.Issues[i].Labels, label)
		}
	}
	if err := lrows.Err(); err != nil {
		return err
	}
	lrows.Close()

	drows, err := tx.QueryContext(ctx, `SELECT issue_id, depends_on_id, type, metadata FROM dependencies ORDER BY rowid`)
	if err != nil {
		return err
	}
	defer drows.Close()
	for drows.Next() {
		var d coord.Dep
		if err := drows.Scan(&id, &d.On, &d.Type, &d.Metadata); err != nil {
			return err
		}
		if i, ok := idx[id]; ok {
			s.Issues[i].Deps = append(s.Issues[i].Deps, d)
		}
	}
	return drows.Err()
}

func loadLeases(ctx context.Context, tx *sqlx.Tx, s *coord.Snapshot) error {
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0) FROM leases`).Scan(&s.MaxEpoch); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+leaseCols+` FROM leases WHERE state IN ('pushed', 'acked') ORDER BY epoch`)
	if err != nil {
		return err
	}
	s.Leases, err = collect(rows, scanLease)
	return err
}

func loadWorkers(ctx context.Context, tx *sqlx.Tx, s *coord.Snapshot) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+workerCols+` FROM workers ORDER BY name`)
	if err != nil {
		return err
	}
	s.Workers, err = collect(rows, scanWorker)
	return err
}

// loadMerges loads the live merge requests, then the newest finished request of each issue under a
// live lease or among the last recentMerges finished: a merge the refinery finished during that lease
// decides the issue when the lease ends (coord's mergeDecidedDuring, leaseLost), and a second submit of a
// closed, merged issue is refused (coord's mergeSubmit), after a restart too.
func loadMerges(ctx context.Context, tx *sqlx.Tx, s *coord.Snapshot) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+mergeCols+` FROM merge_requests WHERE `+openMerge+` ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	if s.Merges, err = collect(rows, scanMerge); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx, `SELECT `+mergeCols+` FROM merge_requests WHERE NOT (`+openMerge+`)
		AND (issue_id IN (SELECT id FROM issues WHERE lease_epoch > 0)
			OR rowid IN (SELECT rowid FROM merge_requests WHERE NOT (`+openMerge+`) ORDER BY rowid DESC LIMIT ?))
		ORDER BY rowid`, recentMerges)
	if err != nil {
		return err
	}
	done, err := collect(rows, scanMerge)
	if err != nil {
		return err
	}
	newest := map[string]int{} // issue id → index in done of its newest request (a later write wins a tie)
	for i, m := range done {
		if j, ok := newest[m.IssueID]; !ok || !m.UpdatedAt.Before(done[j].UpdatedAt) {
			newest[m.IssueID] = i
		}
	}
	keep := make([]coord.MergeRequest, 0, len(newest))
	for i, m := range done {
		if newest[m.IssueID] == i {
			keep = append(keep, m)
		}
	}
	slices.SortStableFunc(keep, func(a, b coord.MergeRequest) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	s.Merges = append(s.Merges, keep...)
	return nil
}

// recentMerges is how many of the newest finished merge requests a start loads (mergeq keeps 1,000
// finished requests by default).
const recentMerges = 1000

func loadMeta(ctx context.Context, tx *sqlx.Tx, s *coord.Snapshot) error {
	rows, err := tx.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		s.Meta[k] = v
	}
	return rows.Err()
}
