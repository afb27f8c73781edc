package beads

import "context"

// DirtyViewLookup is an optional DirtyLookup extension for the streaming export, which patches the file's
// own lines and never reads StoredRecord.Raw: DirtyViewsByID is DirtyByID with Raw left nil, so that the
// backend need not read and copy the stored bytes of every dirty record.
type DirtyViewLookup interface {
	DirtyViewsByID(ctx context.Context, ids []string) ([]StoredRecord, error)
}

// dirtyByID returns the dirty records among ids, without their Raw bytes when the backend can leave them out.
func (e *streamExport) dirtyByID(ids []string) ([]StoredRecord, error) {
	if v, ok := e.look.(DirtyViewLookup); ok {
		return v.DirtyViewsByID(e.ctx, ids)
	}
	return e.look.DirtyByID(e.ctx, ids)
}
