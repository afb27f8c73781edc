package coord_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/store"
)

// storeStress wraps the store: some commits fail before reaching it; the ones it commits are checked
// and folded into the shadow fold.
type storeStress struct {
	db *store.DB
	sp interface {
		Decide() bool
		Fold([]coord.Change, []string)
	}
}

func (s storeStress) Load(ctx context.Context) (*coord.Snapshot, error) { return s.db.Load(ctx) }

func (s storeStress) Commit(ctx context.Context, chs []coord.Change) error {
	if s.sp.Decide() {
		return errors.New("injected failure")
	}
	before := coord.Render(chs)
	err := s.db.Commit(ctx, chs)
	if err == nil {
		s.sp.Fold(chs, before)
	}
	return err
}

type storeStressAsync struct{ storeStress }

func (s storeStressAsync) CommitAsync(ctx context.Context, chs []coord.Change, done chan<- error) {
	if s.sp.Decide() {
		done <- errors.New("injected failure")
		return
	}
	before := coord.Render(chs)
	inner := make(chan error, 1)
	s.db.CommitAsync(ctx, chs, inner)
	go func() {
		err := <-inner
		if err == nil {
			s.sp.Fold(chs, before)
		}
		done <- err
	}()
}

// TestStressEngineOnStore is the engine stress test on the real SQLite store (group commit and plain
// commit): at the end the store's leases and issue states equal the fold of what it committed.
func TestStressEngineOnStore(t *testing.T) {
	for seed := 1; seed <= coord.StressSeeds(); seed++ {
		for _, failPct := range []int{0, 5} {
			for _, async := range []bool{true, false} {
				t.Run(fmt.Sprintf("seed%d/fail%d/async%v", seed, failPct, async), func(t *testing.T) {
					db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "gtc.db"), store.Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					coord.RunStress(t, uint64(seed), failPct, func(sp *coord.StressPersister) coord.Persister {
						ss := storeStress{db: db, sp: sp}
						if async {
							return storeStressAsync{ss}
						}
						return ss
					}, func(f *coord.Snapshot, e *coord.Engine) []string {
						s, err := db.Load(context.Background())
						if err != nil {
							return []string{err.Error()}
						}
						var out []string
						fl := map[string]coord.Lease{}
						for _, l := range f.Leases {
							fl[l.ID] = l
						}
						sl := map[string]coord.Lease{}
						for _, l := range s.Leases {
							sl[l.ID] = l
							if x, ok := fl[l.ID]; !ok || x.Epoch != l.Epoch || x.State != l.State || x.IssueID != l.IssueID || x.Worker != l.Worker {
								out = append(out, fmt.Sprintf("store lease %+v, fold %+v", l, x))
							}
						}
						for id := range fl {
							if _, ok := sl[id]; !ok {
								out = append(out, "fold lease "+id+" not in the store")
							}
						}
						fi := map[string]coord.IssueMeta{}
						for _, m := range f.Issues {
							fi[m.ID] = m
						}
						for _, m := range s.Issues {
							x := fi[m.ID]
							if x.Status != m.Status || x.Assignee != m.Assignee || x.Attempts != m.Attempts {
								out = append(out, fmt.Sprintf("issue %s store %s/%s/%d fold %s/%s/%d", m.ID, m.Status, m.Assignee, m.Attempts, x.Status, x.Assignee, x.Attempts))
							}
						}
						if s.MaxEpoch != f.MaxEpoch {
							out = append(out, fmt.Sprintf("max epoch store %d fold %d", s.MaxEpoch, f.MaxEpoch))
						}
						return out
					})
				})
			}
		}
	}
}
