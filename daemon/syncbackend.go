package daemon

import (
	"context"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/store"
)

// syncBackend is the syncer's view of the coordinator: reads and bookkeeping go to the store, imported
// records go through the engine so the ready set follows them.
type syncBackend struct {
	*store.DB
	engine *coord.Engine
	fresh  *freshPushes // an imported change makes a kept rendering stale
}

// ApplyImport implements beads.Backend.
func (b syncBackend) ApplyImport(ctx context.Context, recs []beads.ImportedRecord) error {
	const chunk = 512
	for len(recs) > 0 {
		n := min(chunk, len(recs))
		puts := make([]coord.IssuePut, n)
		for i, r := range recs[:n] {
			puts[i] = coord.IssuePut{Issue: r.Issue, Raw: r.Raw, FromImport: true, Merged: r.Dirty}
		}
		var forget func()
		if b.fresh != nil {
			// once durable, in commit order after any create's keep (see issueService.put)
			forget = func() {
				for _, p := range puts {
					b.fresh.forget(p.Issue.ID)
				}
			}
		}
		if err := b.engine.PutIssuesThen(ctx, puts, forget); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// MarkMissing implements beads.LineRestorer: the store marks for export (a classic file) or lists (a bd
// v1 file, which deletes an issue by dropping its line) the issues the file just imported lacks; the
// engine does not hand out the ones a bd v1 file lacks until their lines are back.
func (b syncBackend) MarkMissing(ctx context.Context, present func(id string) bool, mark bool) ([]string, error) {
	ids, err := b.DB.MarkMissing(ctx, present, mark)
	if err != nil {
		return nil, err
	}
	absent := ids
	if mark {
		absent = nil // written back by the next export
	}
	if err := b.engine.SetAbsent(ctx, absent); err != nil {
		return nil, err
	}
	return ids, nil
}
