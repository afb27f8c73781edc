package beads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Syncer keeps one issues.jsonl and the coordinator's store in step (§14, §15, §23).
type Syncer struct {
	path string
	b    Backend
	log  *slog.Logger

	mu         sync.Mutex      // serialises Import, Export and Sync
	fileSHA    string          // sha256 of the file last read and validated, or written; "" when unknown
	fileStat   fileStat        // the stat of that file, to skip re-reading it while it is untouched
	readErr    error           // the last read failed to parse; Export refuses while set
	readErrSHA string          // sha of the file that failed
	keep       map[string]bool // ids whose file line is older than the store's: export them
	absent     map[string]bool // ids a bd v1 file lacked at the last import (deleted by bd v1): not written back
	profile    Profile         // the profile of the file whose sha256 is profileSHA
	profileSHA string
	hist       lineHistory                          // bd v1 lines of the last seconds gtc wrote or read, to tell a same-second edit
	known      atomic.Int32                         // profile+1 as last set (0: not yet), read by Profile without mu
	observe    func(imported bool, d time.Duration) // see Observe
}

// Observe has Sync report how long each import and each export that had records to write took
// (idle ticks and refused passes are not reported); set it before the first Sync.
func (s *Syncer) Observe(f func(imported bool, d time.Duration)) { s.observe = f }

// timed reports the duration since start of a pass that did something.
func (s *Syncer) timed(imported bool, start time.Time) {
	if s.observe != nil {
		s.observe(imported, time.Since(start))
	}
}

// setProfile records the profile of the file whose sha256 is sha; callers hold s.mu.
func (s *Syncer) setProfile(p Profile, sha string) {
	s.profile, s.profileSHA = p, sha
	s.known.Store(int32(p) + 1)
}

// Profile returns the writer profile of the file as of the last import or export, without waiting
// for a sync under way; false before the first one.
func (s *Syncer) Profile() (Profile, bool) {
	v := s.known.Load()
	return Profile(v - 1), v != 0
}

// ImportStats counts what one import did.
type ImportStats struct {
	Records    int // issue records in the file
	Unchanged  int // bytes equal to the stored Raw
	New        int // ids the store did not have
	Updated    int // newer in the file (or equal time, store clean): taken from the file
	Kept       int // the store's version kept (it is dirty or newer)
	Tombstoned int // skipped: tombstone in the store, or a tombstone line in a modern file
	Restored   int // stored issues the file lacked, marked for the next export to write back (LineRestorer)
	// MissingIDs names the first (up to 10) stored issues the file lacked, restored or (bd v1) not.
	MissingIDs []string
	// KeptIDs names the first of the Kept records (up to 10), for the log: a line reverted to an older
	// version (a conflict resolved toward the older side) is overwritten by gtc's newer record.
	KeptIDs []string
}

// ExportStats counts what one export did.
type ExportStats struct {
	Dirty    int    // records handed to the export
	Patched  int    // existing lines whose bytes changed
	Inserted int    // new lines
	Removed  int    // lines removed (tombstones in a modern file)
	Written  bool   // whether the file was rewritten
	SHA      string // sha256 of the file after the export
}

// NewSyncer returns a syncer for the issues.jsonl at path; log may be nil.
func NewSyncer(path string, b Backend, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{path: path, b: b, log: log.With("file", path)}
}

// Path returns the file the syncer keeps.
func (s *Syncer) Path() string { return s.path }

// read returns the file's bytes and sha256; a missing file reads as empty, a missing directory fails.
func (s *Syncer) read() (data []byte, sha string, err error) {
	dir := filepath.Dir(s.path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("beads directory %s not found: run `gtc init` or pass --dir", dir)
		}
		return nil, "", fmt.Errorf("stat beads directory %s: %w", dir, err)
	}
	data, fi, err := readLockedStat(s.path)
	if err != nil {
		return nil, "", err
	}
	sha = SHA256(data)
	s.seen(fi, sha)
	return data, sha, nil
}

// Import reads the file and hands new and newer records to the backend (§15).
func (s *Syncer) Import(ctx context.Context) (ImportStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rl, ok := s.b.(RecordLookup); ok {
		st, _, err := s.importStream(ctx, rl, nil)
		return st, err
	}
	data, sha, err := s.read()
	if err != nil {
		return ImportStats{}, err
	}
	return s.importLocked(ctx, data, sha)
}

func (s *Syncer) parse(data []byte, sha string) (*File, error) {
	f, err := Parse(s.path, data, ParseOptions{})
	if err == nil && len(data) > 0 {
		// Every issue must also have a readable view: a bad timestamp refuses the whole file.
		var perr ParseError
		perr.Name = s.path
		for _, r := range f.Records {
			if r.Kind != KindIssue {
				continue
			}
			if _, ierr := r.issueRef(); ierr != nil {
				perr.Lines = append(perr.Lines, LineError{Line: r.Line, Reason: ierr.Error()})
			}
			r.issue = nil // decoded again where needed: keeping every view doubles the import's peak
		}
		if len(perr.Lines) > 0 {
			err = &perr
		}
	}
	if err != nil {
		s.fileSHA, s.readErr, s.readErrSHA = "", err, sha
		return nil, err
	}
	s.readErr, s.readErrSHA = nil, ""
	prof := f.Profile
	if p, ok := s.Profile(); ok && f.keepsProfile() {
		prof = p // an emptied file tells nothing: it keeps the profile it had
	}
	s.setProfile(prof, sha)
	return f, nil
}

func (s *Syncer) importLocked(ctx context.Context, data []byte, sha string) (ImportStats, error) {
	var st ImportStats
	f, err := s.parse(data, sha)
	if err != nil {
		return st, fmt.Errorf("import refused, nothing imported: %w", err)
	}
	all, err := s.b.All(ctx)
	if err != nil {
		return st, fmt.Errorf("import %s: load store: %w", s.path, err)
	}
	stored := make(map[string]*StoredRecord, len(all))
	for i := range all {
		stored[all[i].ID] = &all[i]
	}
	keep := make(map[string]bool)
	seen := &idSet{}
	var recs []ImportedRecord
	for _, r := range f.Records {
		if r.Kind != KindIssue {
			continue
		}
		seen.add(r.ID)
		rec, err := s.importOne(r, stored[r.ID], f.Profile, &st, keep)
		if err != nil {
			return st, err
		}
		if rec != nil {
			recs = append(recs, *rec)
		}
	}
	if len(recs) > 0 {
		if err := s.b.ApplyImport(ctx, recs); err != nil {
			return st, fmt.Errorf("import %s: apply %d records: %w", s.path, len(recs), err)
		}
		s.noteImported(f.Profile, recs)
	}
	if err := s.restoreMissing(ctx, seen, &st); err != nil {
		return st, err
	}
	meta, err := s.b.SyncMeta(ctx)
	if err != nil {
		return st, fmt.Errorf("import %s: read sync meta: %w", s.path, err)
	}
	// The file read is now the reference; gtc's earlier write is not "known" any more: should the file
	// be reverted to it (git checkout), what this import brought must be read back or written again.
	meta.ReadSHA, meta.WrittenSHA = sha, sha
	if err := s.b.SetSyncMeta(ctx, meta); err != nil {
		return st, fmt.Errorf("import %s: store sync meta: %w", s.path, err)
	}
	s.fileSHA, s.keep = sha, keep
	s.logImport(st)
	return st, nil
}

// logImport logs what an import did.
func (s *Syncer) logImport(st ImportStats) {
	args := []any{"records", st.Records, "new", st.New, "updated", st.Updated, "kept", st.Kept,
		"tombstoned", st.Tombstoned, "restored", st.Restored}
	if len(st.KeptIDs) > 0 {
		// the file's lines of these are older than gtc's records: gtc's are written back over them
		args = append(args, "kept_ids", sampleIDs(st.KeptIDs, 10))
	}
	s.log.Info("beads import", args...)
}

// restoreMissing has the backend mark for export the stored issues whose lines the file just imported
// lacks (seen holds its ids, sealed here), as bd's full export after an outside change writes them back: a `git
// checkout` of an older file, a truncated or removed file, a line deleted by hand. Without it they stayed
// scheduled but out of the file until they next changed.
func (s *Syncer) restoreMissing(ctx context.Context, seen *idSet, st *ImportStats) error {
	lr, ok := s.b.(LineRestorer)
	if !ok {
		return nil
	}
	// bd v1 (the modern profile) deletes an issue by dropping its line (gtc's export drops a tombstone's
	// too), and refuses to export over a file holding issues its database lacks: there a missing line
	// may be a deletion, and is only reported.
	restore := !s.profile.Modern()
	seen.seal()
	ids, err := lr.MarkMissing(ctx, seen.has, restore)
	if err != nil {
		return fmt.Errorf("import %s: mark the issues the file lacks: %w", s.path, err)
	}
	s.absent = nil
	if !restore && len(ids) > 0 {
		// not written back by an export (a change through gtc, a completion): bd v1 deleted them, and
		// refuses a file holding issues its database lacks
		s.absent = make(map[string]bool, len(ids))
		for _, id := range ids {
			s.absent[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	st.MissingIDs = ids[:min(len(ids), 10)]
	if restore {
		st.Restored = len(ids)
		s.log.Warn("issues gtc holds are missing from the file: the next export writes them back (delete an issue with a tombstone line, or close it)",
			"count", len(ids), "ids", sampleIDs(ids, 10))
	} else {
		s.log.Warn("issues gtc holds are missing from the file (bd v1 deletes by removing the line): gtc does not hand them out until their lines are back; to delete one in gtc too: gtc issue update ID --status tombstone",
			"count", len(ids), "ids", sampleIDs(ids, 10))
	}
	return nil
}

// idSet is the set of the ids a file holds, as sorted 64-bit hashes: 8 bytes an id where a map of the
// strings held ~100 bytes (a 100,000-issue import's peak, and RSS after it, grew ~6 MB). A missing id
// whose hash collides with a present one (odds ~n²/2⁶⁴) is taken as present: not written back.
type idSet struct {
	h []uint64
}

var idSeed = maphash.MakeSeed()

// add records id; has may be called only after seal.
func (s *idSet) add(id string) { s.h = append(s.h, maphash.String(idSeed, id)) }

// seal sorts the set for has.
func (s *idSet) seal() { slices.Sort(s.h) }

// has reports whether id was added.
func (s *idSet) has(id string) bool {
	_, ok := slices.BinarySearch(s.h, maphash.String(idSeed, id))
	return ok
}

// sampleIDs joins the first n ids (and how many more) for a log line.
func sampleIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ",")
	}
	return strings.Join(ids[:n], ",") + fmt.Sprintf(",… (%d more)", len(ids)-n)
}

// importOne decides what the import does with one issue record of the file; cur is the stored record
// (nil when the store does not have the id). It counts the decision in st, adds the ids whose file line
// is older than a clean stored record to keep, and returns the record to hand to ApplyImport, if any.
func (s *Syncer) importOne(r *Record, cur *StoredRecord, p Profile, st *ImportStats, keep map[string]bool) (*ImportedRecord, error) {
	st.Records++
	// the same bytes, or the same with a CR before the line end (the file converted to CRLF)
	if cur != nil && (bytes.Equal(cur.Raw, r.raw) || bytes.Equal(cur.Raw, bytes.TrimSuffix(r.raw, []byte("\r")))) {
		st.Unchanged++
		return nil, nil
	}
	in, err := r.issueRef()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", s.path, err)
	}
	r.issue = nil // in stays valid; the record no longer holds it
	if cur == nil {
		if p.Modern() && in.Status == "tombstone" {
			st.Tombstoned++
			return nil, nil
		}
		st.New++
		return &ImportedRecord{Issue: cloneIssue(*in), Raw: bytes.Clone(r.raw)}, nil
	}
	if cur.Issue.Status == "tombstone" {
		// never brought back (bd skips a line whose id is a tombstone); the file gets the tombstone
		// back (a bd v1 file loses the line) instead of saying otherwise for good
		st.Tombstoned++
		if !cur.Dirty {
			keep[r.ID] = true
		}
		return nil, nil
	}
	// The line as gtc last read or wrote it (base) tells an edit from an older version: a line that
	// differs from it and is newer than it was edited since (by bd, a person, a merge); an older one is
	// a version from before (a git checkout), and gtc's record is kept and written back over it. A time
	// in whole seconds (bd on Dolt writes them; so does gtc in a bd v1 file) is compared to the second,
	// and a line of the same second as base is an older version unless gtc never saw it in the last
	// seconds (lineHistory: after a restart it is taken as older, undoing a completion for an old line
	// that came back being worse than missing an edit made within that second). A line with the
	// very time of a record gtc has not changed since is an edit too (a hand edit that kept the time).
	// Compared with gtc's record instead, a bd edit was lost whenever gtc changed the issue again before
	// the next tick (a close undone, a label gone).
	var base *Issue
	if len(cur.Raw) > 0 {
		if b, err := decodeIssue(cur.Raw); err == nil {
			base = &b
		}
	}
	var edited bool
	if base != nil {
		since := base.UpdatedAt
		if in.UpdatedAt.Nanosecond() == 0 {
			since = since.Truncate(time.Second)
		}
		edited = in.UpdatedAt.After(since) || (!cur.Dirty && in.UpdatedAt.Equal(cur.Issue.UpdatedAt))
		if sec := in.UpdatedAt.Unix(); !edited && in.UpdatedAt.Nanosecond() == 0 && sec == base.UpdatedAt.Unix() {
			// of the same second as base: an edit if it is a line gtc has not seen (lineHistory)
			edited = s.hist.unseen(r.ID, sec, cur.Raw, r.raw)
		}
	} else {
		edited = in.UpdatedAt.After(cur.Issue.UpdatedAt) || (!cur.Dirty && in.UpdatedAt.Equal(cur.Issue.UpdatedAt))
	}
	if edited {
		theirs, kept := cloneIssue(*in), false
		if cur.Dirty && base != nil {
			// gtc changed the record since the file last had it: the line, edited from that older
			// version, takes over only the fields it changed
			theirs, kept = mergeDirty(base, &cur.Issue, theirs)
		}
		merged, dirty := mergeImport(base, cur.Issue, theirs)
		if merged.UpdatedAt.Before(cur.Issue.UpdatedAt) {
			// an edit taken, of a record gtc changed later still: the result is as recent as gtc's
			// (the scheduler drops an import older than its record), and the line gets that time
			merged.UpdatedAt, dirty = cur.Issue.UpdatedAt, true
		}
		st.Updated++
		return &ImportedRecord{Issue: merged, Raw: bytes.Clone(r.raw), Dirty: dirty || kept}, nil
	}
	st.Kept++
	if len(st.KeptIDs) < 10 {
		st.KeptIDs = append(st.KeptIDs, r.ID)
	}
	if !cur.Dirty {
		keep[r.ID] = true
	}
	return nil, nil
}

// mergeDirty merges an edited line (in) over a record gtc changed since its last export (cur), three
// ways against the line as gtc last read or wrote it (base): a field the line left as base had it keeps
// gtc's unexported value, a field the line changed takes the line's. The file lags gtc by up to a sync
// tick, so a bd edit of one field (a label, the priority) made on a line still showing the old status
// carried that status back: a completion undone, a running lease cancelled. The lifecycle fields
// (status, assignee, started_at, closed_at, close_reason) move as one: a close or reopen in the line
// wins whole, otherwise gtc's state stays — but a line that does not close an issue gtc closed after
// the line's time does not undo that close (an older copy of the file put back by git while the sync
// could not export reopened a completed issue, which was done twice). Labels merge as sets (the
// line's additions and removals applied to gtc's). kept reports that the result differs from the line.
func mergeDirty(base, cur *Issue, in Issue) (out Issue, kept bool) {
	if (sameLifecycle(base, &in) || cur.Status == "closed" && in.Status != "closed" && olderLine(in.UpdatedAt, cur.UpdatedAt)) &&
		!sameLifecycle(cur, &in) {
		in.Status, in.Assignee, in.StartedAt = cur.Status, cur.Assignee, cur.StartedAt
		in.ClosedAt, in.CloseReason = cur.ClosedAt, cur.CloseReason
		kept = true
	}
	keepStr := func(b, c string, f *string) {
		if *f == b && c != b {
			*f, kept = c, true
		}
	}
	keepStr(base.Title, cur.Title, &in.Title)
	keepStr(base.Description, cur.Description, &in.Description)
	keepStr(base.Design, cur.Design, &in.Design)
	keepStr(base.AcceptanceCriteria, cur.AcceptanceCriteria, &in.AcceptanceCriteria)
	keepStr(base.Notes, cur.Notes, &in.Notes)
	keepStr(base.IssueType, cur.IssueType, &in.IssueType)
	keepStr(base.Owner, cur.Owner, &in.Owner)
	if in.Priority == base.Priority && cur.Priority != base.Priority {
		in.Priority, kept = cur.Priority, true
	}
	if sameTimePtr(in.DeferUntil, base.DeferUntil) && !sameTimePtr(cur.DeferUntil, base.DeferUntil) {
		in.DeferUntil, kept = cur.DeferUntil, true
	}
	if in.Pinned == base.Pinned && cur.Pinned != base.Pinned {
		in.Pinned, kept = cur.Pinned, true
	}
	if labels := mergeLabels(base.Labels, cur.Labels, in.Labels); !slices.Equal(labels, in.Labels) {
		in.Labels, kept = labels, true
	}
	if deps, changed := mergeDeps(base.Dependencies, cur.Dependencies, in.Dependencies); changed {
		in.Dependencies, kept = deps, true
	}
	return in, kept
}

// mergeDeps applies the line's dependency changes since base (added, removed, by depends_on_id|type)
// to gtc's, as mergeLabels does for labels: a dependency gtc removed since base stays removed when the
// line still holds it unchanged. changed reports a result other than in.
func mergeDeps(base, cur, in []Dependency) ([]Dependency, bool) {
	had := make(map[string]bool, len(base))
	for _, d := range base {
		had[depKey(d)] = true
	}
	now := make(map[string]bool, len(in))
	for _, d := range in {
		now[depKey(d)] = true
	}
	out := make([]Dependency, 0, len(in)+len(cur))
	changed := false
	for _, d := range in {
		k := depKey(d)
		if had[k] && !slices.ContainsFunc(cur, func(c Dependency) bool { return depKey(c) == k }) {
			changed = true // removed by gtc since base; the line kept it unchanged
			continue
		}
		out = append(out, d)
	}
	for _, d := range cur {
		if k := depKey(d); !had[k] && !now[k] {
			out = append(out, d) // added by gtc since base
			changed = true
		}
	}
	return out, changed
}

// olderLine reports whether a line's updated_at is before t, at the line's precision (a time in whole
// seconds is compared to the second).
func olderLine(line, t time.Time) bool {
	if line.Nanosecond() == 0 {
		t = t.Truncate(time.Second)
	}
	return line.Before(t)
}

// sameLifecycle reports whether a and b agree on the lifecycle fields (status, assignee, started_at,
// closed_at, close_reason).
func sameLifecycle(a, b *Issue) bool {
	return a.Status == b.Status && a.Assignee == b.Assignee && sameTimePtr(a.StartedAt, b.StartedAt) &&
		sameTimePtr(a.ClosedAt, b.ClosedAt) && a.CloseReason == b.CloseReason
}

// mergeLabels applies the line's label changes since base (added, removed) to gtc's labels, sorted
// and de-duplicated; with no change in the line, gtc's labels as they are.
func mergeLabels(base, cur, in []string) []string {
	if sameSet(base, in) {
		return cur
	}
	had := make(map[string]bool, len(base))
	for _, l := range base {
		had[l] = true
	}
	now := make(map[string]bool, len(in))
	for _, l := range in {
		now[l] = true
	}
	out := make([]string, 0, len(cur)+len(in))
	for _, l := range cur {
		if !had[l] || now[l] { // not removed by the line
			out = append(out, l)
		}
	}
	for _, l := range in {
		if !had[l] { // added by the line
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sameSet reports whether a and b hold the same strings, ignoring order and repeats.
func sameSet(a, b []string) bool {
	m := make(map[string]bool, len(a))
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	n := make(map[string]bool, len(b))
	for _, x := range b {
		n[x] = true
	}
	return len(m) == len(n)
}

// mergeImport merges a newer incoming issue (in) over the stored one (cur), against the line as gtc
// last read or wrote it (base; nil when gtc has none). A dependency or label the line dropped since
// base is removed — bd shares the workspace, and `bd dep remove` or `bd label remove` (even of the
// last label) must stay removed — while one gtc added since base stays; comments are additive,
// deduplicated by author + trimmed text. Without a base, §15's rules of classic bd's import: labels
// replaced only when the line has labels, dependencies additive by depends_on_id|type. dirty reports
// that the result holds more than the line.
func mergeImport(base *Issue, cur, in Issue) (Issue, bool) {
	dirty := false
	if len(in.Labels) == 0 && len(cur.Labels) > 0 {
		for _, l := range cur.Labels {
			if base == nil || !slices.Contains(base.Labels, l) {
				in.Labels = append(in.Labels, l)
				dirty = true
			}
		}
	}
	have := make(map[string]bool, len(in.Dependencies))
	for _, d := range in.Dependencies {
		have[depKey(d)] = true
	}
	var had map[string]bool // base's dependencies: one the line lacks was removed by it
	if base != nil {
		had = make(map[string]bool, len(base.Dependencies))
		for _, d := range base.Dependencies {
			had[depKey(d)] = true
		}
	}
	for _, d := range cur.Dependencies {
		if k := depKey(d); !have[k] && !had[k] {
			in.Dependencies = append(in.Dependencies, d)
			have[k] = true
			dirty = true
		}
	}
	seen := make(map[string]bool, len(in.Comments))
	for _, c := range in.Comments {
		seen[c.Author+":"+strings.TrimSpace(c.Text)] = true
	}
	for _, c := range cur.Comments {
		k := c.Author + ":" + strings.TrimSpace(c.Text)
		if !seen[k] {
			in.Comments = append(in.Comments, c)
			seen[k] = true
			dirty = true
		}
	}
	return in, dirty
}

// Export writes the store's dirty records into the file (§14). No dirty records: nothing is written.
func (s *Syncer) Export(ctx context.Context) (ExportStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, err := s.hash()
	if err != nil {
		return ExportStats{}, err
	}
	return s.exportLocked(ctx, nil, sha, false)
}

// exportLocked exports the dirty records into the file whose sha256 is sha. loaded says data holds that
// file's bytes; when it does not, the file is read whole only to import it or for a backend that cannot
// look dirty records up by id (DirtyLookup); otherwise it is streamed, and only if something is dirty.
func (s *Syncer) exportLocked(ctx context.Context, data []byte, sha string, loaded bool) (ExportStats, error) {
	var st ExportStats
	var f *File
	if s.fileSHA == "" || s.fileSHA != sha {
		meta, err := s.b.SyncMeta(ctx)
		if err != nil {
			return st, fmt.Errorf("export %s: read sync meta: %w", s.path, err)
		}
		_, streaming := s.streamer()
		switch {
		case sha != meta.ReadSHA && sha != meta.WrittenSHA:
			if rl, ok := s.b.(RecordLookup); ok {
				if _, sha, err = s.importStream(ctx, rl, nil); err != nil {
					return st, fmt.Errorf("export refused: %w", err)
				}
				data, loaded = nil, false
				break
			}
			if !loaded {
				ndata, nsha, err := s.read()
				if err != nil {
					return st, err
				}
				if nsha != sha {
					return s.exportLocked(ctx, ndata, nsha, true)
				}
				data, loaded = ndata, true
			}
			if _, err := s.importLocked(ctx, data, sha); err != nil {
				return st, fmt.Errorf("export refused: %w", err)
			}
		case streaming:
			nsha, err := s.validateStream()
			if err != nil {
				return st, fmt.Errorf("export refused, file left untouched: %w", err)
			}
			if nsha != sha {
				// Changed since it was hashed: start over on what is there now.
				return s.exportLocked(ctx, nil, nsha, false)
			}
			s.fileSHA = sha
		default:
			if !loaded {
				ndata, nsha, err := s.read()
				if err != nil {
					return st, err
				}
				if nsha != sha {
					return s.exportLocked(ctx, ndata, nsha, true)
				}
				data, loaded = ndata, true
			}
			f, err = s.parse(data, sha)
			if err != nil {
				return st, fmt.Errorf("export refused, file left untouched: %w", err)
			}
			s.fileSHA = sha
		}
	}
	if look, ok := s.streamer(); ok {
		data, f = nil, nil
		return s.exportStream(ctx, look, sha)
	}
	return s.exportWhole(ctx, f, data, sha, loaded)
}

// streamer returns the backend's DirtyLookup when the export can stream: it has one and no clean
// record must be rewritten (s.keep, found by an import).
func (s *Syncer) streamer() (DirtyLookup, bool) {
	look, ok := s.b.(DirtyLookup)
	return look, ok && len(s.keep) == 0
}

// exportWhole is the export on the parsed file (f, or data parsed when f is nil).
func (s *Syncer) exportWhole(ctx context.Context, f *File, data []byte, sha string, loaded bool) (ExportStats, error) {
	var st ExportStats
	var err error
	pager, paged := s.b.(DirtyPager)
	paged = paged && len(s.keep) == 0
	var dirty []StoredRecord
	if paged {
		dirty, err = pager.DirtyPage(ctx, "", exportPage)
		if err != nil {
			return st, fmt.Errorf("export %s: load dirty records: %w", s.path, err)
		}
	} else if dirty, err = s.dirtyAndKept(ctx); err != nil {
		return st, err
	}
	st.SHA = sha
	if len(dirty) == 0 {
		return st, nil
	}
	if !loaded {
		ndata, nsha, err := s.read()
		if err != nil {
			return st, err
		}
		if nsha != sha {
			// Changed since the stat: start over on the bytes now read.
			return s.exportLocked(ctx, ndata, nsha, true)
		}
		data = ndata
	}
	if f == nil {
		// sha is the file validated by the last import or export: no need to decode every view again.
		f, err = Parse(s.path, data, ParseOptions{})
		if err != nil {
			return st, fmt.Errorf("export refused, file left untouched: %w", err)
		}
	}
	if p, ok := s.Profile(); ok && f.keepsProfile() {
		f.Profile = p // an emptied file is written as the profile it had
	}
	var exported []ExportedRecord
	var written []*Record
	var revs []int64
	ed := f.edit() // the removals and inserts as one batch (one by one, each moved and reindexed the file)
	// modern: how the export changes the blocks edges pointing at each id (a clean line whose count
	// changes is rewritten with it, as the streaming export does)
	var delta map[string]int
	edges := func(r *Record, sign int) error {
		if delta == nil || r == nil || r.value("dependencies") == nil {
			return nil
		}
		is, err := r.issueRef()
		if err != nil {
			return fmt.Errorf("export %s: count dependents: %w", s.path, err)
		}
		for _, d := range is.Dependencies {
			if d.Type == "blocks" {
				delta[d.DependsOnID] += sign
			}
		}
		return nil
	}
	if f.Profile.Modern() {
		delta = make(map[string]int)
	}
	for {
		st.Dirty += len(dirty)
		lastID := ""
		for i := range dirty {
			d := dirty[i]
			dirty[i] = StoredRecord{} // let the collector take each stored record once it is patched in
			lastID = d.ID
			rec := ed.get(d.ID)
			switch {
			case f.Profile.Modern() && d.Issue.Status == "tombstone":
				if err := edges(rec, -1); err != nil {
					return st, err
				}
				if ed.remove(d.ID) {
					st.Removed++
				}
				exported = append(exported, ExportedRecord{ID: d.ID, Rev: d.Rev})
				continue
			case rec == nil && f.Profile.Modern() && s.absent[d.ID]:
				st.Dirty-- // its line dropped by bd v1: not written, left dirty (written once the line is back)
				continue
			case rec != nil:
				if err := edges(rec, -1); err != nil {
					return st, err
				}
				changed, err := rec.Apply(d.Issue, f.Profile)
				if err != nil {
					return st, fmt.Errorf("export %s: %w", s.path, err)
				}
				if changed {
					st.Patched++
				}
				rec.issue, rec.members, rec.scanned = nil, nil, false // views are rebuilt on demand
				ed.changed(rec)
			default:
				rec, err = recordOf(&d, f.Profile)
				if err != nil {
					return st, fmt.Errorf("export %s: %w", s.path, err)
				}
				ed.upsert(rec)
				st.Inserted++
			}
			written = append(written, rec)
			revs = append(revs, d.Rev)
		}
		if !paged || len(dirty) < exportPage {
			break
		}
		if dirty, err = pager.DirtyPage(ctx, lastID, exportPage); err != nil {
			return st, fmt.Errorf("export %s: load dirty records: %w", s.path, err)
		}
	}
	ed.finish()
	recounted := false
	if f.Profile.Modern() && (len(written) > 0 || len(delta) > 0) { // delta alone: a tombstone dropped a line
		deps, err := f.blocksDependents()
		if err != nil {
			return st, fmt.Errorf("export %s: count dependents: %w", s.path, err)
		}
		mine := make(map[string]bool, len(written))
		for _, r := range written {
			if r.setDependentCount(deps[r.ID], f.Profile) {
				recounted = true
			}
			mine[r.ID] = true
			if err := edges(r, +1); err != nil {
				return st, err
			}
		}
		for id, n := range delta {
			r := f.Get(id)
			if n == 0 || mine[id] || r == nil || r.Kind != KindIssue {
				continue
			}
			if r.setDependentCount(deps[id], f.Profile) {
				// a clean line whose dependents the export changed: its new bytes are what gtc wrote
				// (no rev: the record stays as clean or dirty as it is)
				recounted = true
				exported = append(exported, ExportedRecord{ID: id, Raw: bytes.Clone(r.raw), Rev: -1})
			}
		}
	}
	for i, r := range written {
		exported = append(exported, ExportedRecord{ID: r.ID, Raw: bytes.Clone(r.raw), Rev: revs[i]})
	}
	newSHA := sha
	// A parsed file encodes back to its exact bytes, so it differs from data only where a line was
	// patched, inserted, removed or recounted; the new file is streamed to disk, not built in memory.
	if st.Patched > 0 || st.Inserted > 0 || st.Removed > 0 || recounted {
		var fi fs.FileInfo
		newSHA, fi, err = writeFileFrom(s.path, sha, f.writeTo)
		if err != nil {
			return st, fmt.Errorf("export: %w", err)
		}
		s.seen(fi, newSHA)
		st.Written = true
	}
	s.fileSHA, s.keep = newSHA, nil
	st.SHA = newSHA
	if err := s.b.MarkExported(ctx, exported); err != nil {
		return st, fmt.Errorf("export %s: mark exported: %w", s.path, err)
	}
	s.noteExported(f.Profile, exported)
	meta, err := s.b.SyncMeta(ctx)
	if err != nil {
		return st, fmt.Errorf("export %s: read sync meta: %w", s.path, err)
	}
	if st.Written {
		// The bytes last read are gone from disk: if the file is ever reverted to them (git
		// checkout/stash), that is an outside change to import and reconcile, not a known state.
		meta.WrittenSHA, meta.ReadSHA = newSHA, newSHA
	}
	if err := s.b.SetSyncMeta(ctx, meta); err != nil {
		return st, fmt.Errorf("export %s: store sync meta: %w", s.path, err)
	}
	s.log.Info("beads export", "dirty", st.Dirty, "patched", st.Patched, "inserted", st.Inserted,
		"removed", st.Removed, "written", st.Written)
	return st, nil
}

// exportPage is how many dirty records an export holds at a time when the backend pages them.
const exportPage = 512

// dirtyAndKept returns every dirty record plus the clean ones whose file line is older (s.keep).
func (s *Syncer) dirtyAndKept(ctx context.Context) ([]StoredRecord, error) {
	dirty, err := s.b.Dirty(ctx)
	if err != nil {
		return nil, fmt.Errorf("export %s: load dirty records: %w", s.path, err)
	}
	if len(s.keep) > 0 {
		inDirty := make(map[string]bool, len(dirty))
		for _, d := range dirty {
			inDirty[d.ID] = true
		}
		all, err := s.b.All(ctx)
		if err != nil {
			return nil, fmt.Errorf("export %s: load store: %w", s.path, err)
		}
		for _, r := range all {
			if s.keep[r.ID] && !inDirty[r.ID] {
				dirty = append(dirty, r)
			}
		}
	}
	return dirty, nil
}

// Sync runs one tick: import when the file's sha256 differs from both ReadSHA and WrittenSHA (someone
// else changed it), then export the dirty records. gtc's own writes are never re-imported.
func (s *Syncer) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// an edit made before the second ended two seconds before this tick is in the file this tick reads
	defer s.hist.prune(time.Now().Unix() - 2)
	sha := s.fileSHA
	if sha == "" || !s.untouched() {
		var err error
		if sha, err = s.hash(); err != nil {
			return err
		}
	}
	meta, err := s.b.SyncMeta(ctx)
	if err != nil {
		return fmt.Errorf("sync %s: read sync meta: %w", s.path, err)
	}
	var data []byte
	loaded := false
	if rl, ok := s.b.(RecordLookup); ok && sha != meta.ReadSHA && sha != meta.WrittenSHA {
		if s.readErr != nil && sha == s.readErrSHA {
			return fmt.Errorf("sync refused, file left untouched: %w", s.readErr)
		}
		known := func(sha string) bool { return sha == meta.ReadSHA || sha == meta.WrittenSHA }
		start := time.Now()
		if _, sha, err = s.importStream(ctx, rl, known); err != nil {
			return err
		}
		s.timed(true, start)
	} else if sha != meta.ReadSHA && sha != meta.WrittenSHA {
		if data, sha, err = s.read(); err != nil {
			return err
		}
		loaded = true
		if sha != meta.ReadSHA && sha != meta.WrittenSHA {
			if s.readErr != nil && sha == s.readErrSHA {
				return fmt.Errorf("sync refused, file left untouched: %w", s.readErr)
			}
			start := time.Now()
			if _, err := s.importLocked(ctx, data, sha); err != nil {
				return err
			}
			s.timed(true, start)
		}
	}
	start := time.Now()
	st, err := s.exportLocked(ctx, data, sha, loaded)
	if err == nil && st.Dirty > 0 {
		s.timed(false, start)
	}
	return err
}

// noteImported records the lines of a bd v1 file just imported (lineHistory).
func (s *Syncer) noteImported(p Profile, recs []ImportedRecord) {
	if !p.Modern() {
		return // gtc writes whole-second times in bd v1 files only
	}
	for i := range recs {
		s.hist.note(recs[i].Issue.ID, recs[i].Raw)
	}
}

// noteExported records the lines of a bd v1 file just written (lineHistory).
func (s *Syncer) noteExported(p Profile, recs []ExportedRecord) {
	if !p.Modern() {
		return
	}
	for i := range recs {
		if recs[i].Raw != nil {
			s.hist.note(recs[i].ID, recs[i].Raw)
		}
	}
}

// Run calls Sync every interval until ctx is done; errors are logged and the loop goes on.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("beads sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
