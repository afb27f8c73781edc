package beads

import (
	"context"
	"time"
)

// This file is the contract between the JSONL syncer (this package) and the coordinator's store.

// StoredRecord is what the store holds for one issue.
type StoredRecord struct {
	ID    string
	Raw   []byte // the record's bytes as last imported or exported (no newline); nil for an issue never written
	Issue Issue  // the current parsed view; authoritative for the fields gtc manages
	Dirty bool   // changed by gtc since the last export
	Rev   int64  // bumped by every change; MarkExported clears Dirty only if Rev still matches
	// FromLine is set by DirtyLineLookup for a record whose file line holds the rest of it: Issue holds
	// only ID and the state fields (see setState), every other field is the line's.
	FromLine bool
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
	// HoldsBody says Raw decodes to the record's Issue as read for the export in every field but the state
	// fields (see setState): while the stored body is unchanged and Raw is the file's line, a
	// DirtyLineLookup may answer with FromLine. The backend must not keep Raw after MarkExported returns.
	HoldsBody bool
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

// UnwrittenLookup is an optional DirtyLookup extension: the ids of the records never written to the file
// (created since the last export), in id order. With them an export that knows the file's profile puts
// the new records in on its one pass over the file instead of finding them missing and writing it again.
type UnwrittenLookup interface {
	UnwrittenIDs(ctx context.Context) ([]string, error)
}

// RecordLookup is an optional Backend extension that lets an import stream the file instead of loading
// every stored record (All) and the whole file: the stored records of a stretch of lines at a time.
type RecordLookup interface {
	// Records returns the stored records of the given ids, in id order; unknown ids are left out.
	Records(ctx context.Context, ids []string) ([]StoredRecord, error)
}

// LineRestorer is an optional Backend extension: after an import, the stored issues the file lacks are
// marked for the next export to write back (tombstones and issues already dirty left out).
type LineRestorer interface {
	// MarkMissing returns the ids of the stored, clean, non-tombstone issues present rejects; with mark,
	// it marks them dirty (only those still clean are returned then). Without mark (a bd v1 file, which
	// deletes an issue by dropping its line) it returns the dirty ones that had a line too (their raw is
	// not empty): gtc's change of an issue whose line was dropped is not written back.
	MarkMissing(ctx context.Context, present func(id string) bool, mark bool) ([]string, error)
}

// DirtyLineLookup is an optional DirtyViewLookup extension for the streaming export, which knows the file's
// line of each dirty record it patches: a record whose stored bytes are that very line, and whose stored
// body the line holds (the last MarkExported or import said so: ExportedRecord.HoldsBody), comes back with
// FromLine set, and the backend need not read or decode its body.
type DirtyLineLookup interface {
	// DirtyViewsOfLines appends to dst the dirty records among ids in the order of ids, as DirtyViewsByID
	// gives them or with FromLine; text[spans[i][0]:spans[i][1]] is the line of ids[i].
	DirtyViewsOfLines(ctx context.Context, dst []StoredRecord, ids []string, text []byte, spans [][2]int) ([]StoredRecord, error)
}

// setState copies the state fields of st into is: those the store keeps in columns of their own, over
// the body (status, assignee, updated_at, started_at, closed_at, close_reason, labels).
func setState(is, st *Issue) {
	is.Status, is.Assignee, is.UpdatedAt, is.StartedAt = st.Status, st.Assignee, st.UpdatedAt, st.StartedAt
	is.ClosedAt, is.CloseReason, is.Labels = st.ClosedAt, st.CloseReason, st.Labels
}

// stateKeys are the record keys a patch may change while the body stays what it was: the state fields'
// and the counts and type tag, which no Issue field reads.
var stateKeys = map[string]bool{"status": true, "assignee": true, "updated_at": true, "started_at": true,
	"closed_at": true, "close_reason": true, "labels": true, "_type": true, "dependency_count": true,
	"dependent_count": true, "comment_count": true}

// sameBody reports whether a and b agree on every field but the state fields, timestamps compared as
// instants (a patch compares and writes them as such): a record patched from one writes what it would
// from the other.
func sameBody(a, b *Issue) bool {
	if a.ID != b.ID || a.Title != b.Title || a.Description != b.Description || a.Design != b.Design ||
		a.AcceptanceCriteria != b.AcceptanceCriteria || a.Notes != b.Notes || a.Priority != b.Priority ||
		a.IssueType != b.IssueType || a.Owner != b.Owner || !a.CreatedAt.Equal(b.CreatedAt) ||
		a.CreatedBy != b.CreatedBy || !sameTimePtr(a.DeferUntil, b.DeferUntil) || a.Pinned != b.Pinned ||
		a.Ephemeral != b.Ephemeral || !sameTimePtr(a.DeletedAt, b.DeletedAt) ||
		len(a.Dependencies) != len(b.Dependencies) || len(a.Comments) != len(b.Comments) {
		return false
	}
	for i := range a.Dependencies {
		x, y := &a.Dependencies[i], &b.Dependencies[i]
		if x.IssueID != y.IssueID || x.DependsOnID != y.DependsOnID || x.Type != y.Type ||
			!x.CreatedAt.Equal(y.CreatedAt) || x.CreatedBy != y.CreatedBy || x.Metadata != y.Metadata {
			return false
		}
	}
	for i := range a.Comments {
		x, y := &a.Comments[i], &b.Comments[i]
		if x.ID != y.ID || x.IssueID != y.IssueID || x.Author != y.Author || x.Text != y.Text ||
			!x.CreatedAt.Equal(y.CreatedAt) {
			return false
		}
	}
	return true
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
