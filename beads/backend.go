package beads

import "context"

// This file is the contract between the JSONL syncer (this package) and the coordinator's store.

// StoredRecord is what the store holds for one issue.
type StoredRecord struct {
	ID    string
	Raw   []byte // the record's bytes as last imported or exported (no newline); nil for an issue never written
	Issue Issue  // the current parsed view; authoritative for the fields gtc manages
	Dirty bool   // changed by gtc since the last export
	Rev   int64  // bumped by every change; MarkExported clears Dirty only if Rev still matches
}

// ImportedRecord is one record read from the file that the store must take.
type ImportedRecord struct {
	Issue Issue
	Raw   []byte
	// Dirty is set when the merged Issue differs from Raw (labels, dependencies or comments kept from
	// the store, §15): the store must keep the record dirty so the next export writes the merge.
	Dirty bool
}

// ExportedRecord is one record written to the file.
type ExportedRecord struct {
	ID  string
	Raw []byte
	Rev int64
}

// SyncMeta is the syncer's bookkeeping, kept in the store.
type SyncMeta struct {
	ReadSHA    string // sha256 (hex) of the file as last read
	WrittenSHA string // sha256 (hex) of the file as last written by gtc
}

// Backend is what the syncer needs from the rest of the coordinator.
type Backend interface {
	// All returns every stored record.
	All(ctx context.Context) ([]StoredRecord, error)
	// Dirty returns the records changed by gtc since the last export.
	Dirty(ctx context.Context) ([]StoredRecord, error)
	// ApplyImport hands records that are new or newer in the file to the scheduler and the store.
	ApplyImport(ctx context.Context, recs []ImportedRecord) error
	// MarkExported stores the bytes written for each record and clears Dirty where Rev still matches.
	MarkExported(ctx context.Context, recs []ExportedRecord) error
	// SyncMeta returns the bookkeeping; SetSyncMeta replaces it.
	SyncMeta(ctx context.Context) (SyncMeta, error)
	SetSyncMeta(ctx context.Context, m SyncMeta) error
}

// DirtyPager is an optional Backend extension: the dirty records a page at a time, so an export holds
// a bounded number of them. Pages are ordered by id; DirtyPage returns up to limit records after id after.
type DirtyPager interface {
	DirtyPage(ctx context.Context, after string, limit int) ([]StoredRecord, error)
}

// DirtyLookup is an optional Backend extension that lets an export stream the file a stretch of lines at
// a time instead of holding it: the dirty ids first, then the dirty records among a stretch's ids.
type DirtyLookup interface {
	// DirtyIDs returns the ids of the dirty records, in id order.
	DirtyIDs(ctx context.Context) ([]string, error)
	// DirtyByID returns the records among ids that are dirty, in id order; the others are left out.
	DirtyByID(ctx context.Context, ids []string) ([]StoredRecord, error)
}

// RecordLookup is an optional Backend extension that lets an import stream the file instead of loading
// every stored record (All) and the whole file: the stored records of a stretch of lines at a time.
type RecordLookup interface {
	// Records returns the stored records of the given ids, in id order; unknown ids are left out.
	Records(ctx context.Context, ids []string) ([]StoredRecord, error)
}
