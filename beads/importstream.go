package beads

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// importStream is the import for a backend that looks records up by id (RecordLookup): under one shared
// lock it validates the file in a first streaming pass (a refused file imports nothing), then reads it
// again a stretch of lines at a time, deciding each record against its stored version and handing the
// new and newer ones to ApplyImport a stretch at a time. skip reports a sha256 whose file needs no
// import (gtc's own write, or the file last read): then nothing is applied. It returns the sha256 of the
// file it read.
func (s *Syncer) importStream(ctx context.Context, rl RecordLookup, skip func(sha string) bool) (ImportStats, string, error) {
	var st ImportStats
	if err := s.checkDir(); err != nil {
		return st, "", err
	}
	var sha string
	var bad error
	keep := make(map[string]bool)
	seen := &idSet{}
	skipped := false
	err := withShared(s.path, func(fh *os.File, fi fs.FileInfo) error {
		var err error
		if sha, bad, err = s.validateFrom(fh, fi); err != nil || bad != nil {
			return err
		}
		if skip != nil && skip(sha) {
			skipped = true
			return nil
		}
		if fh == nil {
			return nil
		}
		if _, err := fh.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("import %s: rewind: %w", s.path, err)
		}
		return s.importPass(ctx, rl, fh, fi, sha, &st, keep, seen)
	})
	if err != nil {
		return st, sha, err
	}
	if bad != nil {
		return st, sha, fmt.Errorf("import refused, nothing imported: %w", bad)
	}
	if skipped {
		s.fileSHA = sha
		return st, sha, nil
	}
	if err := s.restoreMissing(ctx, seen, &st); err != nil {
		return st, sha, err
	}
	meta, err := s.b.SyncMeta(ctx)
	if err != nil {
		return st, sha, fmt.Errorf("import %s: read sync meta: %w", s.path, err)
	}
	// The file read is now the reference; gtc's earlier write is not "known" any more: should the file
	// be reverted to it (git checkout), what this import brought must be read back or written again.
	meta.ReadSHA, meta.WrittenSHA = sha, sha
	if err := s.b.SetSyncMeta(ctx, meta); err != nil {
		return st, sha, fmt.Errorf("import %s: store sync meta: %w", s.path, err)
	}
	s.fileSHA, s.keep = sha, keep
	s.logImport(st)
	return st, sha, nil
}

// importPass is the second pass of importStream over the validated file whose sha256 is sha; fi is the
// file's stat when it was opened. Nothing read after the file was written in place (its stat moved:
// an editor, `cat >`) is applied: those bytes were never validated.
func (s *Syncer) importPass(ctx context.Context, rl RecordLookup, src *os.File, fi fs.FileInfo, sha string, st *ImportStats, keep map[string]bool, seen *idSet) error {
	lr := newLineReader(src, 0)
	var batch []*Record
	var ids []string
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		stored, err := rl.Records(ctx, ids)
		if err != nil {
			return fmt.Errorf("import %s: load stored records: %w", s.path, err)
		}
		byID := make(map[string]*StoredRecord, len(stored))
		for i := range stored {
			byID[stored[i].ID] = &stored[i]
		}
		var recs []ImportedRecord
		for _, r := range batch {
			rec, err := s.importOne(r, byID[r.ID], s.profile, st, keep)
			if err != nil {
				return err
			}
			if rec != nil {
				recs = append(recs, *rec)
			}
		}
		if len(recs) > 0 {
			if now, err := src.Stat(); err != nil || !sameStat(now, fi) {
				return fmt.Errorf("import %s: %w", s.path, ErrChanged)
			}
			if err := s.b.ApplyImport(ctx, recs); err != nil {
				return fmt.Errorf("import %s: apply %d records: %w", s.path, len(recs), err)
			}
			s.noteImported(s.profile, recs)
		}
		clear(batch)
		batch, ids, size = batch[:0], ids[:0], 0
		return nil
	}
	for {
		line, n, ok, err := lr.next()
		if err != nil {
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		if !ok {
			break
		}
		h, hok := headOf(line)
		if n > lr.maxLine || !hok {
			return fmt.Errorf("import %s: %w", s.path, ErrChanged)
		}
		if h.kind != KindIssue {
			continue
		}
		id := string(h.id)
		seen.add(id)
		batch = append(batch, &Record{Kind: KindIssue, ID: id, Line: lr.lineNo, raw: bytes.Clone(line)})
		ids = append(ids, id)
		size += len(line)
		if len(batch) >= streamChunkLines || size >= streamChunkBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if lr.sum() != sha {
		return fmt.Errorf("import %s: %w", s.path, ErrChanged)
	}
	return nil
}

// sameStat reports whether two stats of one file show the same size, mtime and ctime: a write in
// place moves the ctime even when it restores the size and mtime.
func sameStat(a, b fs.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime()) && sameCtime(a, b)
}
