package beads

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A streaming export holds a stretch of lines at a time (at most streamChunkLines lines or
// streamChunkBytes bytes, fetching their dirty records in one call) instead of the whole file.
// Variables so tests can make them small.
var (
	streamChunkLines = 256
	streamChunkBytes = 256 << 10
	// exportedRawBudget bounds the exported bytes kept for MarkExported; beyond it they are read back
	// from the written file.
	exportedRawBudget = 512 << 10
)

// errRecount means a dirty record's blocks dependencies changed between the dependent count and the
// write: the export starts over.
var errRecount = errors.New("dependencies changed during the export")

// streamExport is the state of one streaming export.
type streamExport struct {
	s    *Syncer
	ctx  context.Context
	look DirtyLookup
	sha  string
	prof Profile
	// lines is look as a DirtyLineLookup, nil when it is not one
	lines DirtyLineLookup
	recs  []StoredRecord // the write pass's records of a stretch, reused
	spans [][2]int       // their lines in the stretch, reused
	// a dirty record's view as its line has it, and a FromLine record's as exported (reused: they do not escape)
	lineView, outView Issue
	scratch           []byte // a patched line's new bytes, until kept (keep)
	chunk             []byte // kept lines, back to back (the exported set refers to them)

	ids  []string // dirty ids listed at the start, sorted
	seen []bool   // per id of ids: its line was seen in the file (a sorted slice and a bitmap instead of a
	// map: ~1 byte per dirty record instead of ~40, for exports of 100,000 dirty records)
	news []pendingRec // dirty records not in the file, to insert (id order)
	// newTombs are dirty tombstones of a modern file that the file does not hold: marked, not written.
	newTombs []ExportedRecord
	counts   map[string]int // modern: blocks dependents of the exported file
	fps      map[string]string
	// modern: the blocks targets of the dirty lines as the file has them (orig), the blocks edges of the
	// dirty and new records as exported (newDeps) and the dirty ids counted with their exported edges
	// instead of their lines' (counted): a target whose count these change has its line's dependent_count
	// rewritten though the line is not dirty (recount)
	orig    map[string][]string
	newDeps map[string]int
	counted []string
	recount map[string]bool

	st      ExportStats
	exp     exportedSet
	changed bool

	// output of the write pass
	w                   *bufio.Writer
	nOut                int
	off                 int64 // bytes written
	outTyped, outCounts bool
	pending             []pendingRec // new records not yet placed
	tail                []tailItem   // lines held while new records wait for their place
	anchor              bool         // a kept issue line of the file was written

	// modern files: the indexes of news in key order and which are placed (place's candidates)
	byKey   []int
	keyFrom int // byKey[:keyFrom] are placed
	placed  []bool
}

// pendingRec is a new record with its sort key.
type pendingRec struct {
	rec *Record
	key sortKey
	rev int64
	idx int // its index in news
}

// tailItem is a line held back while new records may still go before it.
type tailItem struct {
	raw     []byte
	kind    Kind
	id      string
	removed bool // a removed issue line (counts for the placement of records with a smaller id)
	isNew   bool
	rev     int64   // of a new record
	key     sortKey // of a new record
	typed   bool
	counts  bool
}

// exportedSet collects what MarkExported needs, keeping the bytes up to exportedRawBudget.
type exportedSet struct {
	hint    int // how many records the export may add at most (the dirty ids)
	recs    []ExportedRecord
	offs    []int64 // offset in the written file of each record of recs with bytes (until spilled)
	bytes   int
	spilled bool
	// when spilled: the records whose bytes are read back from the written file, in file order
	placed []placedRecord
}

// placedRecord is an exported record by its place in the written file.
type placedRecord struct {
	id    string
	rev   int64
	off   int64
	n     int
	holds bool
}

// add records an exported record; off is where its bytes start in the written file (raw nil: the
// record was not written); holds is ExportedRecord.HoldsBody.
func (x *exportedSet) add(id string, raw []byte, rev, off int64, holds bool) {
	if raw == nil {
		x.recs = append(x.recs, ExportedRecord{ID: id, Rev: rev})
		return
	}
	if !x.spilled && x.bytes+len(raw) > exportedRawBudget {
		x.spilled = true
		x.placed = make([]placedRecord, 0, max(x.hint-len(x.recs)+len(x.offs), len(x.offs)+1))
		kept := x.recs[:0]
		k := 0
		for _, r := range x.recs {
			if r.Raw == nil {
				kept = append(kept, r)
				continue
			}
			x.placed = append(x.placed, placedRecord{id: r.ID, rev: r.Rev, off: x.offs[k], n: len(r.Raw), holds: r.HoldsBody})
			k++
		}
		clear(x.recs[len(kept):])
		x.recs, x.offs = slices.Clip(kept), nil
	}
	if x.spilled {
		x.placed = append(x.placed, placedRecord{id: id, rev: rev, off: off, n: len(raw), holds: holds})
		return
	}
	x.recs = append(x.recs, ExportedRecord{ID: id, Raw: raw, Rev: rev, HoldsBody: holds})
	x.offs = append(x.offs, off)
	x.bytes += len(raw)
}

// exportStream exports the dirty records into the file whose sha256 is sha (already validated),
// reading and writing it a stretch of lines at a time.
func (s *Syncer) exportStream(ctx context.Context, look DirtyLookup, sha string) (ExportStats, error) {
	ids, err := look.DirtyIDs(ctx)
	if err != nil {
		return ExportStats{SHA: sha}, fmt.Errorf("export %s: list dirty records: %w", s.path, err)
	}
	if len(ids) == 0 {
		return ExportStats{SHA: sha}, nil
	}
	if !slices.IsSorted(ids) {
		ids = slices.Clone(ids)
		slices.Sort(ids)
	}
	ids = slices.Compact(ids)
	for attempt := 0; ; attempt++ {
		e := &streamExport{s: s, ctx: ctx, look: look, sha: sha, ids: ids, seen: make([]bool, len(ids))}
		e.lines, _ = look.(DirtyLineLookup)
		st, err := e.run()
		if errors.Is(err, errRecount) && attempt < 3 {
			continue
		}
		return st, err
	}
}

// dirtyIndex returns the index of id in e.ids, -1 when it is not dirty (no allocation: the
// string(id) comparisons do not copy).
func (e *streamExport) dirtyIndex(id []byte) int {
	lo, hi := 0, len(e.ids)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e.ids[m] < string(id) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(e.ids) && e.ids[lo] == string(id) {
		return lo
	}
	return -1
}

func (e *streamExport) run() (ExportStats, error) {
	s := e.s
	e.st.SHA = e.sha
	lk := lockFor(s.path)
	if err := acquire(lk, true); err != nil {
		return e.st, fmt.Errorf("export: write %s: exclusive lock %s: %w", s.path, lk.Path(), err)
	}
	defer lk.Unlock()
	before, _ := os.Stat(s.path) // compared again just before the rename: bd takes the lock, git and editors do not
	var src readSeekerAt = bytes.NewReader(nil)
	if fh, err := os.Open(s.path); err == nil {
		defer fh.Close()
		src = fh
	} else if !errors.Is(err, fs.ErrNotExist) {
		return e.st, fmt.Errorf("export: write %s: read current file: %w", s.path, err)
	}
	changedErr := fmt.Errorf("export: write %s: %w", s.path, ErrChanged)
	e.prof = s.profile
	scanned := s.profileSHA != e.sha || s.profile.Modern()
	if scanned {
		if err := e.scan(src); err != nil {
			return e.st, err
		}
		if err := e.fetchNew(); err != nil {
			return e.st, err
		}
		if e.prof.Modern() {
			if err := e.countDependents(); err != nil {
				return e.st, err
			}
		}
	}
	// With the profile known nothing is scanned, so the new records are found missing only by a write
	// pass: the ones the store says were never written go into the first pass, and a second is needed
	// only if the file proves that guess wrong.
	var guess []string
	if !scanned {
		if g, err := e.unwritten(); err != nil {
			return e.st, err
		} else if len(g) > 0 {
			if err := e.fetchNewOf(g); err != nil {
				return e.st, err
			}
			guess = g
		}
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".~"+filepath.Base(s.path)+".*")
	if err != nil {
		return e.st, fmt.Errorf("export: write %s: create temp file: %w", s.path, err)
	}
	tmpName, renamed := tmp.Name(), false
	defer func() {
		tmp.Close()
		if !renamed {
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(hookWriter{tmp}, h), 256<<10) // hashed a buffer at a time
	for {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return e.st, fmt.Errorf("export: write %s: rewind: %w", s.path, err)
		}
		e.resetOutput(bw)
		ok, err := e.write(src)
		if err != nil {
			return e.st, err
		}
		if !ok {
			return e.st, changedErr
		}
		if scanned {
			break
		}
		if guess != nil && slices.Equal(e.missing(), guess) {
			break // the records written in as new are exactly the ones the file lacks
		}
		// The profile was known, so nothing was scanned first: dirty ids absent from the file are new
		// records, which go in a second pass now that they are known (or, when the first pass put in
		// records guessed new, instead of them).
		wroteNews := len(e.news) > 0
		if err := e.fetchNew(); err != nil {
			return e.st, err
		}
		if len(e.news) == 0 && !wroteNews {
			break
		}
		scanned = true
		if err := tmp.Truncate(0); err != nil {
			return e.st, fmt.Errorf("export: write %s: truncate temp file: %w", s.path, err)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return e.st, fmt.Errorf("export: write %s: rewind temp file: %w", s.path, err)
		}
		h.Reset()
		bw.Reset(io.MultiWriter(hookWriter{tmp}, h))
	}
	if e.st.Dirty == 0 {
		return ExportStats{SHA: e.sha}, nil
	}
	newSHA := e.sha
	written := readSeekerAt(src)
	if e.changed {
		if err := bw.Flush(); err != nil {
			return e.st, fmt.Errorf("export: write %s: write temp file: %w", s.path, err)
		}
		mode := fs.FileMode(0o644)
		if before != nil {
			mode = before.Mode().Perm()
		}
		if err := tmp.Chmod(mode); err != nil {
			return e.st, fmt.Errorf("export: write %s: chmod temp file: %w", s.path, err)
		}
		if err := tmp.Sync(); err != nil {
			return e.st, fmt.Errorf("export: write %s: fsync temp file: %w", s.path, err)
		}
		fi, err := tmp.Stat()
		if err != nil {
			return e.st, fmt.Errorf("export: write %s: stat temp file: %w", s.path, err)
		}
		if now, serr := os.Stat(s.path); (serr == nil) != (before != nil) ||
			(serr == nil && !(os.SameFile(now, before) && now.Size() == before.Size() && now.ModTime().Equal(before.ModTime()) && sameCtime(now, before))) {
			return e.st, changedErr
		}
		if err := os.Rename(tmpName, s.path); err != nil {
			return e.st, fmt.Errorf("export: write %s: rename temp file: %w", s.path, err)
		}
		renamed = true
		if d, derr := os.Open(dir); derr == nil {
			d.Sync()
			d.Close()
		}
		newSHA = hex.EncodeToString(h.Sum(nil))
		s.seen(fi, newSHA)
		e.st.Written = true
		written = tmp
	}
	s.fileSHA, s.keep = newSHA, nil
	s.setProfile(e.outProfile(), newSHA)
	e.st.SHA = newSHA
	if err := e.markExported(written); err != nil {
		return e.st, err
	}
	meta, err := s.b.SyncMeta(e.ctx)
	if err != nil {
		return e.st, fmt.Errorf("export %s: read sync meta: %w", s.path, err)
	}
	if e.st.Written {
		meta.WrittenSHA, meta.ReadSHA = newSHA, newSHA
	}
	if err := s.b.SetSyncMeta(e.ctx, meta); err != nil {
		return e.st, fmt.Errorf("export %s: store sync meta: %w", s.path, err)
	}
	s.log.Info("beads export", "dirty", e.st.Dirty, "patched", e.st.Patched, "inserted", e.st.Inserted,
		"removed", e.st.Removed, "written", e.st.Written)
	return e.st, nil
}

// outProfile is the profile Parse gives the file written (or left) by the export; a file left without
// issue lines keeps the profile it was written as (File.keepsProfile): a modern export marks every issue
// line it writes (counts, _type), so a modern one that marked none wrote none. It said classic, and the
// next export of that emptied file wrote tombstone lines a bd v1 file never holds.
func (e *streamExport) outProfile() Profile {
	switch {
	case e.outTyped:
		return ModernTyped
	case e.outCounts:
		return ModernUntyped
	case e.prof.Modern():
		return e.prof
	}
	return Classic
}

// scan is the first pass: which dirty ids the file holds, the file's profile, and its blocks edges.
func (e *streamExport) scan(src io.ReadSeeker) error {
	lr := newLineReader(src, 0)
	typed, counts, any := false, false, false
	e.counts, e.newDeps = make(map[string]int), make(map[string]int)
	orig := make(map[string][]string) // blocks targets of the dirty lines as the file has them
	e.orig = orig
	// With a DirtyLineLookup, the dirty lines of a file that shows itself modern are collected and their
	// records counted a stretch at a time (scanLines), most from their lines; those seen before the
	// file showed itself modern are read with their bodies after the pass (missed).
	var sl *scanLines
	var missed []string
	if e.lines != nil {
		sl = &scanLines{e: e, arena: make([]byte, 0, streamChunkBytes+streamChunkBytes/4)}
		e.fps = make(map[string]string)
	}
	for {
		line, n, ok, err := lr.next()
		if err != nil {
			return fmt.Errorf("export: read %s: %w", e.s.path, err)
		}
		if !ok {
			break
		}
		h, hok := headOf(line)
		if n > lr.maxLine || !hok {
			return fmt.Errorf("export: write %s: %w", e.s.path, ErrChanged)
		}
		if h.kind == KindMemory {
			typed = true
		}
		if h.kind != KindIssue {
			continue
		}
		any = true // an issue line: a file of blank lines alone tells nothing, as for the import
		typed, counts = typed || h.typed, counts || h.counts
		isDirty := false
		if i := e.dirtyIndex(h.id); i >= 0 {
			if !e.seen[i] && sl != nil {
				if typed || counts {
					if err := sl.add(e.ids[i], line); err != nil {
						return err
					}
				} else {
					missed = append(missed, e.ids[i])
				}
			}
			e.seen[i], isDirty = true, true
		}
		if h.deps == nil {
			continue
		}
		targets, err := blocksTargets(h.deps)
		if err != nil {
			return fmt.Errorf("export %s: count dependents: line %d: %w", e.s.path, lr.lineNo, err)
		}
		if isDirty {
			orig[string(h.id)] = targets
			continue
		}
		for _, t := range targets {
			e.counts[t]++
		}
	}
	if sl != nil {
		if err := sl.flush(); err != nil {
			return err
		}
	}
	if lr.sum() != e.sha {
		return fmt.Errorf("export: write %s: %w", e.s.path, ErrChanged)
	}
	prof, known := e.s.Profile()
	switch {
	case typed:
		e.prof = ModernTyped
	case counts:
		e.prof = ModernUntyped
	case !any && known:
		e.prof = prof // a file without issue lines is written as the profile it had (File.keepsProfile)
	default:
		e.prof = Classic
	}
	if !e.prof.Modern() {
		e.counts, e.fps, e.orig, e.newDeps = nil, nil, nil, nil
		return nil
	}
	// The dirty lines count with the store's dependencies, or as they are when no longer dirty.
	var inFile []string
	if sl != nil {
		for _, id := range sl.gone {
			for _, t := range orig[id] {
				e.counts[t]++
			}
		}
		inFile = missed
	} else {
		e.fps = make(map[string]string)
		for i, id := range e.ids {
			if e.seen[i] {
				inFile = append(inFile, id)
			}
		}
	}
	return e.fetch(inFile, false, func(got map[string]*StoredRecord, chunk []string) error {
		for _, id := range chunk {
			d := got[id]
			if d == nil {
				for _, t := range orig[id] {
					e.counts[t]++
				}
				continue
			}
			e.fps[id] = e.fingerprint(&d.Issue)
			e.counted = append(e.counted, id)
			if !e.tombstone(&d.Issue) {
				for _, dep := range d.Issue.Dependencies {
					if dep.Type == "blocks" {
						e.counts[dep.DependsOnID]++
						e.newDeps[dep.DependsOnID]++
					}
				}
			}
		}
		return nil
	})
}

// scanLines collects the dirty lines of the scan a stretch at a time and counts their records' blocks
// edges as a modern file would (the counts and fingerprints are dropped if the file turns out classic).
type scanLines struct {
	e     *streamExport
	arena []byte
	want  []string
	spans [][2]int
	gone  []string // ids no longer dirty when read: counted after the pass, as their lines are
}

// add collects the first line of dirty id.
func (sl *scanLines) add(id string, line []byte) error {
	sl.want = append(sl.want, id)
	sl.spans = append(sl.spans, [2]int{len(sl.arena), len(sl.arena) + len(line)})
	sl.arena = append(sl.arena, line...)
	if len(sl.want) >= streamChunkLines || len(sl.arena) >= streamChunkBytes {
		return sl.flush()
	}
	return nil
}

// flush reads the collected lines' records and counts them.
func (sl *scanLines) flush() error {
	e := sl.e
	if len(sl.want) == 0 {
		return nil
	}
	if e.recs == nil {
		e.recs = make([]StoredRecord, 0, min(len(e.ids), streamChunkLines))
	}
	recs, err := e.lines.DirtyViewsOfLines(e.ctx, e.recs[:0], sl.want, sl.arena, sl.spans)
	if err != nil {
		return fmt.Errorf("export %s: load dirty records: %w", e.s.path, err)
	}
	k := 0
	for i, id := range sl.want {
		if k >= len(recs) || recs[k].ID != id {
			sl.gone = append(sl.gone, id)
			continue
		}
		d := &recs[k]
		k++
		is := &d.Issue
		if d.FromLine {
			v, err := decodeLean(sl.arena[sl.spans[i][0]:sl.spans[i][1]])
			if err != nil {
				return fmt.Errorf("export %s: count dependents: issue %s: %w", e.s.path, id, err)
			}
			setState(&v, &d.Issue)
			is = &v
		}
		// as fingerprint and scan's fetch under a modern profile
		e.counted = append(e.counted, id)
		if is.Status == "tombstone" {
			e.fps[id] = "\x00tombstone"
			continue
		}
		var b strings.Builder
		for _, dep := range is.Dependencies {
			if dep.Type == "blocks" {
				b.WriteString(dep.DependsOnID)
				b.WriteByte(0)
				e.counts[dep.DependsOnID]++
				e.newDeps[dep.DependsOnID]++
			}
		}
		e.fps[id] = b.String()
	}
	clear(recs)
	e.recs = recs[:0]
	sl.arena, sl.want, sl.spans = sl.arena[:0], sl.want[:0], sl.spans[:0]
	return nil
}

// countDependents adds the new records' edges and writes their dependent counts.
func (e *streamExport) countDependents() error {
	for _, n := range e.news {
		is, err := n.rec.issueRef()
		if err != nil {
			return fmt.Errorf("export %s: count dependents: %w", e.s.path, err)
		}
		for _, d := range is.Dependencies {
			if d.Type == "blocks" {
				e.counts[d.DependsOnID]++
				e.newDeps[d.DependsOnID]++
			}
		}
	}
	for _, n := range e.news {
		n.rec.setDependentCount(e.counts[n.rec.ID], e.prof)
		n.rec.issue = nil
	}
	// The targets whose count the exported edges change: their lines are rewritten too.
	delta := e.newDeps
	for _, id := range e.counted {
		for _, t := range e.orig[id] {
			delta[t]--
		}
	}
	for t, n := range delta {
		if n != 0 {
			if e.recount == nil {
				e.recount = make(map[string]bool)
			}
			e.recount[t] = true
		}
	}
	e.orig, e.newDeps, e.counted = nil, nil, nil
	return nil
}

func (e *streamExport) tombstone(is *Issue) bool { return e.prof.Modern() && is.Status == "tombstone" }

// fingerprint is what of a dirty record the dependent counts rely on.
func (e *streamExport) fingerprint(is *Issue) string {
	if e.tombstone(is) {
		return "\x00tombstone"
	}
	var b strings.Builder
	for _, d := range is.Dependencies {
		if d.Type == "blocks" {
			b.WriteString(d.DependsOnID)
			b.WriteByte(0)
		}
	}
	return b.String()
}

// fetch reads the dirty records among ids a chunk at a time (with their stored raw bytes if withRaw).
func (e *streamExport) fetch(ids []string, withRaw bool, fn func(got map[string]*StoredRecord, chunk []string) error) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), streamChunkLines)]
		ids = ids[len(chunk):]
		var recs []StoredRecord
		var err error
		if withRaw {
			recs, err = e.look.DirtyByID(e.ctx, chunk)
		} else {
			recs, err = e.dirtyByID(chunk)
		}
		if err != nil {
			return fmt.Errorf("export %s: load dirty records: %w", e.s.path, err)
		}
		got := make(map[string]*StoredRecord, len(recs))
		for i := range recs {
			got[recs[i].ID] = &recs[i]
		}
		if err := fn(got, chunk); err != nil {
			return err
		}
	}
	return nil
}

// missing returns the dirty ids the last write pass did not find in the file, in id order.
func (e *streamExport) missing() []string {
	var out []string
	for i, id := range e.ids {
		if !e.seen[i] {
			out = append(out, id)
		}
	}
	return out
}

// unwritten returns the dirty ids the store says were never written to the file (nil when it cannot
// tell), in id order.
func (e *streamExport) unwritten() ([]string, error) {
	ul, ok := e.look.(UnwrittenLookup)
	if !ok {
		return nil, nil
	}
	ids, err := ul.UnwrittenIDs(e.ctx)
	if err != nil {
		return nil, fmt.Errorf("export %s: list new records: %w", e.s.path, err)
	}
	var out []string
	for _, id := range ids {
		if _, ok := slices.BinarySearch(e.ids, id); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// fetchNew loads the dirty records whose id the file does not hold and builds their lines.
func (e *streamExport) fetchNew() error { return e.fetchNewOf(e.missing()) }

// fetchNewOf loads the dirty records of ids, which the file does not hold, and builds their lines.
func (e *streamExport) fetchNewOf(missing []string) error {
	e.news, e.newTombs = nil, nil
	// with their stored bytes: a record whose line left the file (a checkout, a hard delete) goes back
	// with the keys gtc does not model
	return e.fetch(missing, true, func(got map[string]*StoredRecord, chunk []string) error {
		for _, id := range chunk {
			d := got[id]
			if d == nil {
				continue
			}
			if e.tombstone(&d.Issue) {
				e.newTombs = append(e.newTombs, ExportedRecord{ID: id, Rev: d.Rev})
				continue
			}
			if e.prof.Modern() && e.s.absent[id] {
				continue // its line dropped by bd v1: not written, left dirty (written once the line is back)
			}
			rec, err := recordOf(d, e.prof)
			if err != nil {
				return fmt.Errorf("export %s: %w", e.s.path, err)
			}
			rec.issue, rec.members, rec.scanned = nil, nil, false
			e.news = append(e.news, pendingRec{rec: rec, key: rec.sortKey(), rev: d.Rev})
		}
		return nil
	})
}

// resetOutput starts the write pass over on w.
func (e *streamExport) resetOutput(w *bufio.Writer) {
	e.w, e.nOut, e.off, e.outTyped, e.outCounts = w, 0, 0, false, false
	e.st = ExportStats{SHA: e.sha}
	e.exp = exportedSet{hint: len(e.ids)}
	if len(e.ids) >= spillFrom {
		// so many lines would not fit in the budget: mark them from the written file from the start
		// rather than copy the first budget's worth only to drop it
		e.exp.spilled, e.exp.placed = true, make([]placedRecord, 0, len(e.ids))
	}
	e.chunk = e.chunk[:0] // what it held belonged to the set just dropped
	e.changed = false
	e.pending = slices.Clone(e.news)
	for i := range e.pending {
		e.pending[i].idx = i
	}
	e.byKey, e.keyFrom, e.placed = nil, 0, nil
	if e.prof.Modern() && len(e.news) > 0 {
		e.byKey = make([]int, len(e.news))
		for i := range e.byKey {
			e.byKey[i] = i
		}
		slices.SortStableFunc(e.byKey, func(a, b int) int { return compareKeys(e.prof, e.news[a].key, e.news[b].key) })
		e.placed = make([]bool, len(e.news))
	}
	e.tail, e.anchor = nil, false
	for _, t := range e.newTombs {
		e.st.Dirty++
		e.exp.add(t.ID, nil, t.Rev, 0, false)
	}
}

// keep returns the exported bytes b (which alias the stretch or the scratch buffer) as the exported set
// may hold them until markExported: copied into the export's chunks while the set keeps bytes, b itself
// once the set has spilled or will with b (then they are only written, at once, and read back later).
func (e *streamExport) keep(b []byte) []byte {
	if e.exp.spilled || e.exp.bytes+len(b) > exportedRawBudget {
		return b
	}
	if cap(e.chunk)-len(e.chunk) < len(b) {
		e.chunk = make([]byte, 0, max(len(b), keepChunk))
	}
	at := len(e.chunk)
	e.chunk = append(e.chunk, b...)
	return e.chunk[at:len(e.chunk):len(e.chunk)]
}

// spillFrom is the number of dirty records from which an export reads the marked lines back from the
// written file at once (at 512 bytes a line they exceed exportedRawBudget). A variable for the tests.
var spillFrom = 1024

// keepChunk is the size of the buffers keep copies exported lines into.
const keepChunk = 64 << 10

// lineDesc is one line of the stretch held by the write pass.
type lineDesc struct {
	start, end int
	lineNo     int
	head       lineHead
	id         string // set for issue lines whose id is listed dirty or when new records wait
	dirty      bool   // the id is listed dirty (asked for)
}

// write is the write pass: every line copied or patched, new records placed, dependent counts set.
// ok is false when the file is not the one whose sha256 is e.sha.
func (e *streamExport) write(src io.Reader) (ok bool, err error) {
	lr := newLineReader(src, 0)
	arena := make([]byte, 0, streamChunkBytes+streamChunkBytes/4) // one buffer: appending from nil grew it ~10 times an export
	var descs []lineDesc
	var want []string
	flush := func() error {
		if e.lines != nil {
			return e.flushLines(arena, descs, want)
		}
		var got map[string]*StoredRecord
		if len(want) > 0 {
			recs, err := e.dirtyByID(want)
			if err != nil {
				return fmt.Errorf("export %s: load dirty records: %w", e.s.path, err)
			}
			got = make(map[string]*StoredRecord, len(recs))
			for i := range recs {
				got[recs[i].ID] = &recs[i]
			}
		}
		for _, d := range descs {
			var rec *StoredRecord
			if d.id != "" {
				rec = got[d.id]
			}
			if err := e.line(arena[d.start:d.end], d, rec); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		line, n, more, err := lr.next()
		if err != nil {
			return false, fmt.Errorf("export: read %s: %w", e.s.path, err)
		}
		if !more {
			break
		}
		h, hok := headOf(line)
		if n > lr.maxLine || !hok {
			return false, nil
		}
		d := lineDesc{start: len(arena), lineNo: lr.lineNo, head: h}
		arena = append(arena, line...)
		d.end = len(arena)
		d.head.id, d.head.deps = nil, nil // they point into the reader's buffer
		if h.kind == KindIssue {
			if i := e.dirtyIndex(h.id); i >= 0 {
				d.id, d.dirty = e.ids[i], true
				e.seen[i] = true
				want = append(want, d.id)
			} else if len(e.pending) > 0 || e.recount[string(h.id)] {
				d.id = string(h.id)
			}
		}
		descs = append(descs, d)
		if len(descs) >= streamChunkLines || len(arena) >= streamChunkBytes || len(want) >= streamChunkLines {
			if err := flush(); err != nil {
				return false, err
			}
			arena, descs, want = arena[:0], descs[:0], want[:0]
		}
	}
	if err := flush(); err != nil {
		return false, err
	}
	if lr.sum() != e.sha {
		return false, nil
	}
	if err := e.finishTail(lr.noFinalNewline); err != nil {
		return false, err
	}
	return true, nil
}

// line handles one line of the file; d is its stored record when it is dirty.
func (e *streamExport) line(raw []byte, ld lineDesc, d *StoredRecord) error {
	if ld.head.kind != KindIssue {
		if len(e.pending) > 0 {
			e.tail = append(e.tail, tailItem{raw: bytes.Clone(raw), kind: ld.head.kind, typed: ld.head.typed})
			return nil
		}
		return e.emit(raw, ld.head.typed, false)
	}
	var final *Record
	removed, holds := false, false
	if d == nil {
		final = &Record{Kind: KindIssue, ID: ld.id, Line: ld.lineNo, raw: raw}
	} else {
		e.st.Dirty++
		d.ID = ld.id // the same text, held once (e.ids') until markExported
		is := &d.Issue
		if d.FromLine {
			// The line is the stored record's bytes and holds its body: the line's view with the stored
			// state is the record (decoded once, without the free text a patch leaves alone).
			v, err := decodeLean(raw)
			if err != nil {
				return fmt.Errorf("export %s: apply %s: issue %s (line %d): %w", e.s.path, d.ID, d.ID, ld.lineNo, err)
			}
			e.lineView, e.outView = v, v
			setState(&e.outView, &d.Issue)
			e.outView.ID = d.Issue.ID
			is = &e.outView
		}
		if e.fps != nil {
			if fp, ok := e.fps[d.ID]; !ok || fp != e.fingerprint(is) {
				return errRecount
			}
		}
		if e.tombstone(is) {
			removed = true
			e.st.Removed++
			e.changed = true
			e.exp.add(d.ID, nil, d.Rev, 0, false)
		} else {
			// patched from the stretch's bytes: Apply and setDependentCount build new bytes when they
			// change something, and only an unchanged line needs a copy of its own
			// (Record.Apply, with the views and the new bytes in the export's reused buffers)
			final = &Record{Kind: KindIssue, ID: d.ID, Line: ld.lineNo, raw: raw}
			if is.ID != final.ID {
				return fmt.Errorf("export %s: apply %s: record holds id %s", e.s.path, is.ID, final.ID)
			}
			if !d.FromLine {
				v, err := decodeIssue(raw)
				if err != nil {
					return fmt.Errorf("export %s: apply %s: issue %s (line %d): %w", e.s.path, is.ID, final.ID, ld.lineNo, err)
				}
				e.lineView = v
			}
			stateOnly := false
			changed, err := final.patchState(&e.lineView, is, e.prof, false, &stateOnly, &e.scratch)
			if err != nil {
				return fmt.Errorf("export %s: %w", e.s.path, err)
			}
			if changed {
				e.st.Patched++
				e.changed = true
			}
			final.issue, final.members, final.scanned = nil, nil, false
			counted := e.counts != nil && final.setDependentCount(e.counts[d.ID], e.prof)
			if counted {
				e.changed = true
			}
			final.raw = e.keep(final.raw)
			switch {
			case d.FromLine:
				holds = stateOnly
			case e.lines != nil:
				// the line held the body and only state keys changed, or the new bytes decode to it
				holds = (stateOnly && sameBody(&e.lineView, is)) || holdsBody(final.raw, is)
			}
		}
	}
	if len(e.pending) == 0 && len(e.tail) == 0 {
		if removed {
			return nil
		}
		if d == nil {
			return e.emitClean(final, raw, ld)
		}
		return e.emitPatched(final, ld.head, d.Rev, holds)
	}
	var orig *Record
	if d == nil {
		orig = final
	} else {
		orig = &Record{Kind: KindIssue, ID: d.ID, raw: raw}
	}
	gap := e.place(orig, final, d != nil)
	if removed {
		for _, n := range gap {
			e.tail = append(e.tail, tailItem{kind: KindIssue, id: n.rec.ID, isNew: true, raw: n.rec.raw, rev: n.rev, key: n.key})
		}
		e.tail = append(e.tail, tailItem{kind: KindIssue, id: d.ID, removed: true})
		if len(e.pending) == 0 {
			return e.flushTail()
		}
		return nil
	}
	if err := e.flushTail(); err != nil {
		return err
	}
	for _, n := range gap {
		if err := e.emitNew(n.rec.raw, n.rec.ID, n.rev); err != nil {
			return err
		}
	}
	e.anchor = true
	if d == nil {
		return e.emitClean(final, raw, ld)
	}
	return e.emitPatched(final, ld.head, d.Rev, holds)
}

// emitClean writes a line that is not dirty (final is its record over raw): as it is, unless the export
// changed the blocks edges pointing at it (recount), when its dependent_count follows; those bytes are
// what gtc wrote for the record (no rev: the record stays as clean or dirty as it is).
func (e *streamExport) emitClean(final *Record, raw []byte, ld lineDesc) error {
	if e.recount[ld.id] && final.setDependentCount(e.counts[ld.id], e.prof) {
		e.changed = true
		raw = e.keep(final.raw)
		e.exp.add(ld.id, raw, -1, e.nextOff(), false)
	}
	return e.emit(raw, ld.head.typed, ld.head.counts)
}

// place takes from the pending new records those that go right before the issue line orig (final is
// the line as exported, nil when removed; handled says the line is dirty). As in File.Upsert, each new
// record, in id order, goes before the first issue record that sorts after it, seeing the dirty records
// with a smaller id already exported and the new records with a smaller id already placed.
func (e *streamExport) place(orig, final *Record, handled bool) []pendingRec {
	if !e.prof.Modern() {
		// A classic record sorts by id alone, and a line and its patched form share it: the new records
		// for this gap are those with a smaller id — a prefix of pending, which is in id order.
		i := 0
		for i < len(e.pending) && e.pending[i].rec.ID < orig.ID {
			i++
		}
		if i == 0 {
			return nil
		}
		gap := e.pending[:i:i] // read only; moving the rest down instead cost every line all records left
		e.pending = e.pending[i:]
		return gap
	}
	if len(e.pending) == 0 {
		return nil
	}
	// Only a record that sorts before the larger of the line's keys (as read, and as exported when the
	// line is dirty) can join this gap — directly, or by sorting before one that joined, which itself
	// sorts before that key. Those candidates are a prefix of byKey; the walk below decides among them
	// in id order, as if it went through every pending record (which made each line cost every record
	// still waiting: quadratic when a tick creates many that sort late).
	ko := orig.sortKey()
	kf, haveF := ko, false
	limit := ko
	if handled && final != nil {
		kf, haveF = final.sortKey(), true
		if compareKeys(e.prof, kf, limit) > 0 {
			limit = kf
		}
	}
	for e.keyFrom < len(e.byKey) && e.placed[e.byKey[e.keyFrom]] {
		e.keyFrom++
	}
	var cand []int
	for _, i := range e.byKey[e.keyFrom:] {
		if compareKeys(e.prof, e.news[i].key, limit) >= 0 {
			break
		}
		if !e.placed[i] {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return nil
	}
	slices.Sort(cand) // news is in id order
	gap := e.gapOf(cand, orig.ID, ko, kf, handled, haveF)
	if len(gap) == 0 {
		return nil
	}
	for _, n := range gap {
		e.placed[n.idx] = true
	}
	rest := e.pending[:0]
	for _, n := range e.pending {
		if !e.placed[n.idx] {
			rest = append(rest, n)
		}
	}
	clear(e.pending[len(rest):])
	e.pending = rest
	return gap
}

// gapOf picks, in id order, the candidates (indexes into news) that go before the line: a record goes
// before the first picked one that sorts after it, else before the line if it sorts before the line's
// key (ko as read; kf as exported, for a record with a larger id than a dirty line, handled, which is
// removed unless haveF). Picked records stay in key order, so a record joins before a picked one exactly
// when it sorts before the largest picked so far: picking is linear, then one sort (inserting each in
// place was quadratic: 20,000 records created at a higher priority than any line took 0.8 s).
func (e *streamExport) gapOf(cand []int, origID string, ko, kf sortKey, handled, haveF bool) []pendingRec {
	var gap []pendingRec
	var largest sortKey
	for _, i := range cand {
		n := e.news[i]
		n.idx = i
		if len(gap) > 0 && compareKeys(e.prof, n.key, largest) < 0 {
			gap = append(gap, n) // before a picked record that sorts after it
			continue
		}
		useFinal := handled && origID < n.rec.ID
		if useFinal && !haveF {
			continue // the line is removed: nothing with a larger id goes before it
		}
		k := ko
		if useFinal {
			k = kf
		}
		if compareKeys(e.prof, n.key, k) < 0 {
			gap = append(gap, n) // sorts after every record picked so far
			largest = n.key
		}
	}
	slices.SortStableFunc(gap, func(a, b pendingRec) int { return compareKeys(e.prof, a.key, b.key) })
	return gap
}

// compareKeys is compareRecords on precomputed keys.
func compareKeys(p Profile, ka, kb sortKey) int {
	if !p.Modern() {
		return cmp.Compare(ka.id, kb.id)
	}
	if c := cmp.Compare(ka.priority, kb.priority); c != 0 {
		return c
	}
	if c := kb.created.Compare(ka.created); c != 0 {
		return c
	}
	return cmp.Compare(ka.id, kb.id)
}

// placeEach places the pending records one by one, in id order, among the held lines: each goes before
// the first record placed already (a smaller id) that sorts after it; else after the last record placed
// already or removed line with a larger id; else first among the held lines when an issue line was
// written, otherwise before the first held memory line, or at the end.
func (e *streamExport) placeEach() {
	for _, n := range e.pending {
		// The held new records with a smaller id were placed first: n goes before the first that
		// sorts after it (the lines of the file were compared already, when n passed them).
		stop := slices.IndexFunc(e.tail, func(it tailItem) bool {
			return it.isNew && it.id < n.rec.ID && compareKeys(e.prof, n.key, it.key) < 0
		})
		if stop >= 0 {
			e.tail = slices.Insert(e.tail, stop, tailItem{kind: KindIssue, id: n.rec.ID, isNew: true, raw: n.rec.raw, rev: n.rev, key: n.key})
			continue
		}
		j := -1
		for i, it := range e.tail {
			if it.kind == KindIssue && ((it.isNew && it.id < n.rec.ID) || (it.removed && it.id > n.rec.ID)) {
				j = i
			}
		}
		pos := j + 1
		if j < 0 && !e.anchor {
			pos = len(e.tail)
			for i, it := range e.tail {
				if it.kind == KindMemory {
					pos = i
					break
				}
			}
		}
		e.tail = slices.Insert(e.tail, pos, tailItem{kind: KindIssue, id: n.rec.ID, isNew: true, raw: n.rec.raw, rev: n.rev, key: n.key})
	}
}

// placeBlock is placeEach for held lines without new records or removed lines, in linear time (placeEach
// is quadratic: thousands of records created since the last export into a young file took seconds). The
// first record goes where placeEach puts it; every later one lands before a record placed already or right
// after the last of them, so together they form one block there, sorted by their keys.
func (e *streamExport) placeBlock() {
	if len(e.pending) == 0 {
		return
	}
	pos := 0
	if !e.anchor {
		pos = len(e.tail)
		for i, it := range e.tail {
			if it.kind == KindMemory {
				pos = i
				break
			}
		}
	}
	block := make([]tailItem, len(e.pending))
	for i, n := range e.pending {
		block[i] = tailItem{kind: KindIssue, id: n.rec.ID, isNew: true, raw: n.rec.raw, rev: n.rev, key: n.key}
	}
	slices.SortStableFunc(block, func(a, b tailItem) int { return compareKeys(e.prof, a.key, b.key) })
	e.tail = slices.Insert(e.tail, pos, block...)
}

// finishTail places the new records that no line stopped: after the last issue record, else before
// the first memory line, else at the end; then writes what is held and the final newline.
func (e *streamExport) finishTail(noFinalNewline bool) error {
	if slices.ContainsFunc(e.tail, func(it tailItem) bool { return it.isNew || it.removed }) {
		e.placeEach()
	} else {
		e.placeBlock()
	}
	e.pending = nil
	if err := e.flushTail(); err != nil {
		return err
	}
	if e.nOut > 0 && !noFinalNewline {
		if err := e.w.WriteByte('\n'); err != nil {
			return err
		}
		e.off++
	}
	return nil
}

// flushTail writes the held lines, leaving out removed ones.
func (e *streamExport) flushTail() error {
	for _, it := range e.tail {
		switch {
		case it.removed:
		case it.isNew:
			if err := e.emitNew(it.raw, it.id, it.rev); err != nil {
				return err
			}
		default:
			if err := e.emit(it.raw, it.typed, it.counts); err != nil {
				return err
			}
		}
	}
	e.tail = e.tail[:0]
	return nil
}

// emitNew writes a new record.
func (e *streamExport) emitNew(raw []byte, id string, rev int64) error {
	e.changed = true
	e.st.Dirty++
	e.st.Inserted++
	h, _ := headOf(raw)
	e.exp.add(id, raw, rev, e.nextOff(), false)
	return e.emit(raw, h.typed, h.counts)
}

// emitPatched writes a dirty record patched from the file's line whose head is was (holds: see
// ExportedRecord.HoldsBody). Patching keeps every key it does not manage and adds _type (modern typed)
// and dependency_count (modern) when they are missing, so the patched line's flags follow from the old line's.
func (e *streamExport) emitPatched(r *Record, was lineHead, rev int64, holds bool) error {
	e.exp.add(r.ID, r.raw, rev, e.nextOff(), holds)
	return e.emit(r.raw, was.typed || e.prof == ModernTyped, was.counts || e.prof.Modern())
}

// nextOff is the offset in the written file of the next line's bytes.
func (e *streamExport) nextOff() int64 {
	if e.nOut > 0 {
		return e.off + 1
	}
	return e.off
}

// emit writes one line (the newline goes before every line but the first; finishTail ends the file).
func (e *streamExport) emit(raw []byte, typed, counts bool) error {
	e.outTyped, e.outCounts = e.outTyped || typed, e.outCounts || counts
	if e.nOut > 0 {
		if err := e.w.WriteByte('\n'); err != nil {
			return err
		}
		e.off++
	}
	e.nOut++
	_, err := e.w.Write(raw)
	e.off += int64(len(raw))
	return err
}

// markExported hands the exported records to the backend: at once when their bytes were kept, else a
// page at a time with the bytes read back from the written file, at the places they were written.
func (e *streamExport) markExported(written io.ReaderAt) error {
	path := e.s.path
	if !e.exp.spilled {
		if err := e.s.b.MarkExported(e.ctx, e.exp.recs); err != nil {
			return fmt.Errorf("export %s: mark exported: %w", path, err)
		}
		e.s.noteExported(e.prof, e.exp.recs)
		return nil
	}
	page := e.exp.recs
	flush := func() error {
		if err := e.s.b.MarkExported(e.ctx, page); err != nil {
			return fmt.Errorf("export %s: mark exported: %w", path, err)
		}
		e.s.noteExported(e.prof, page)
		clear(page)
		page = page[:0]
		return nil
	}
	var win []byte // the file's bytes from winOff, read a window at a time; the page's bytes point into it
	winOff := int64(0)
	for _, p := range e.exp.placed {
		if p.off < winOff || p.off+int64(p.n) > winOff+int64(len(win)) {
			if len(page) > 0 { // before the window they point into is read over
				if err := flush(); err != nil {
					return err
				}
			}
			size := max(p.n+1, readBackWindow)
			if cap(win) < size {
				win = make([]byte, size)
			}
			n, err := written.ReadAt(win[:size], p.off)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("export %s: read back: %w", path, err)
			}
			win, winOff = win[:n], p.off
			if n < p.n {
				return fmt.Errorf("export %s: read back %s: the written file ends at %d, before its record", path, p.id, p.off+int64(n))
			}
		}
		at := int(p.off - winOff)
		raw := win[at : at+p.n : at+p.n]
		// a line of its own: a newline (or the file's end) after it
		if at+p.n < len(win) && win[at+p.n] != '\n' {
			return fmt.Errorf("export %s: read back %s: no line ends at offset %d", path, p.id, p.off+int64(p.n))
		}
		page = append(page, ExportedRecord{ID: p.id, Raw: raw, Rev: p.rev, HoldsBody: p.holds})
		if len(page) >= streamChunkLines {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(page) > 0 {
		return flush()
	}
	return nil
}

// readBackWindow is how much of the written file markExported reads at once.
const readBackWindow = 256 << 10

// readSeekerAt is the file an export reads (and its fallback when there is none).
type readSeekerAt interface {
	io.ReadSeeker
	io.ReaderAt
}

// blocksTargets returns the depends_on_id of every blocks edge in a dependencies value.
func blocksTargets(v []byte) ([]string, error) {
	var deps []struct {
		DependsOnID string `json:"depends_on_id"`
		Type        string `json:"type"`
	}
	if err := json.Unmarshal(v, &deps); err != nil {
		return nil, err
	}
	var out []string
	for _, d := range deps {
		if d.Type == "blocks" {
			out = append(out, d.DependsOnID)
		}
	}
	return out, nil
}

// flushLines handles a stretch's lines with their dirty records read through DirtyLineLookup.
func (e *streamExport) flushLines(arena []byte, descs []lineDesc, want []string) error {
	if e.recs == nil {
		e.recs = make([]StoredRecord, 0, min(len(e.ids), streamChunkLines))
	}
	recs := e.recs[:0]
	if len(want) > 0 {
		spans := e.spans[:0]
		for _, d := range descs {
			if d.dirty {
				spans = append(spans, [2]int{d.start, d.end})
			}
		}
		e.spans = spans
		var err error
		if recs, err = e.lines.DirtyViewsOfLines(e.ctx, recs, want, arena, spans); err != nil {
			return fmt.Errorf("export %s: load dirty records: %w", e.s.path, err)
		}
	}
	k := 0
	for _, d := range descs {
		var rec *StoredRecord
		if d.dirty && k < len(recs) && recs[k].ID == d.id {
			rec = &recs[k]
			k++
		}
		if err := e.line(arena[d.start:d.end], d, rec); err != nil {
			return err
		}
	}
	clear(recs)
	e.recs = recs[:0]
	return nil
}

// holdsBody reports whether the record raw decodes to is in every field but the state fields.
func holdsBody(raw []byte, is *Issue) bool {
	v, err := decodeIssue(raw)
	return err == nil && sameBody(&v, is)
}
