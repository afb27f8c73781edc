package beads

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// withShared opens path under the shared flock and hands fn the open file (nil when missing) and its stat.
func withShared(path string, fn func(fh *os.File, fi fs.FileInfo) error) error {
	lk := lockFor(path)
	if err := acquire(lk, false); err != nil {
		// A read-only directory cannot hold a new lock file; reading without it is still safe
		// because writers rename a complete file into place.
		if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
			return fmt.Errorf("shared lock %s: %w", lk.Path(), err)
		}
	} else {
		defer lk.Unlock()
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fn(nil, nil)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return fn(fh, fi)
}

// checkDir fails when the file's directory is missing.
func (s *Syncer) checkDir() error {
	dir := filepath.Dir(s.path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("beads directory %s not found: run `gtc init` or pass --dir", dir)
		}
		return fmt.Errorf("stat beads directory %s: %w", dir, err)
	}
	return nil
}

// hash returns the file's sha256, streamed (the bytes are not kept), and remembers its stat like read;
// a missing file hashes as empty, a missing directory fails.
func (s *Syncer) hash() (string, error) {
	if err := s.checkDir(); err != nil {
		return "", err
	}
	sha := SHA256(nil)
	var stat fs.FileInfo
	err := withShared(s.path, func(fh *os.File, fi fs.FileInfo) error {
		if fh == nil {
			return nil
		}
		h := sha256.New()
		if _, err := io.Copy(h, fh); err != nil {
			return fmt.Errorf("read %s: %w", s.path, err)
		}
		sha, stat = hex.EncodeToString(h.Sum(nil)), fi
		return nil
	})
	if err != nil {
		return "", err
	}
	s.seen(stat, sha)
	return sha, nil
}

// validateStream checks the file as parse does (every line, every issue's view, duplicate ids) without
// holding it, and remembers its profile. It returns the sha256 of the bytes it checked.
func (s *Syncer) validateStream() (string, error) {
	if err := s.checkDir(); err != nil {
		return "", err
	}
	var sha string
	var verr error
	err := withShared(s.path, func(fh *os.File, fi fs.FileInfo) error {
		var err error
		sha, verr, err = s.validateFrom(fh, fi)
		return err
	})
	if err != nil {
		return "", err
	}
	return sha, verr
}

// validateFrom is validateStream on the open file (nil when missing): err is a read failure, bad the
// file's refusal (also kept in s.readErr).
func (s *Syncer) validateFrom(fh *os.File, fi fs.FileInfo) (sha string, bad error, err error) {
	perr := ParseError{Name: s.path} // what Parse refuses
	verr := ParseError{Name: s.path} // issues without a readable view
	typed, counts := false, false
	var r io.Reader = bytes.NewReader(nil)
	if fh != nil {
		r = fh
	} else {
		fi = nil
	}
	lr := newLineReader(r, 0)
	first := make(map[string]int) // issue id → line
	for {
		line, n, ok, err := lr.next()
		if err != nil {
			return "", nil, fmt.Errorf("read %s: %w", s.path, err)
		}
		if !ok {
			break
		}
		var rec *Record
		reason := ""
		if n > lr.maxLine {
			reason = fmt.Sprintf("line of %d bytes exceeds the %d-byte cap", n, lr.maxLine)
		} else {
			rec, reason = parseLine(line, lr.lineNo, lr.maxLine)
		}
		if reason == "" && rec.Kind == KindIssue {
			if prev, dup := first[rec.ID]; dup {
				reason = fmt.Sprintf("duplicate id %q (first at line %d)", rec.ID, prev)
			}
		}
		if reason != "" {
			perr.Lines = append(perr.Lines, LineError{Line: lr.lineNo, Reason: reason})
			continue
		}
		switch rec.Kind {
		case KindMemory:
			typed = true
		case KindIssue:
			first[rec.ID] = lr.lineNo
			ms, _ := rec.scan()
			for _, m := range ms {
				switch m.key {
				case "_type":
					typed = true
				case "dependency_count":
					counts = true
				}
			}
			if _, ierr := rec.Issue(); ierr != nil {
				verr.Lines = append(verr.Lines, LineError{Line: lr.lineNo, Reason: ierr.Error()})
			}
		}
	}
	sha = lr.sum()
	s.seen(fi, sha)
	switch {
	case len(perr.Lines) > 0:
		bad = &perr
	case len(verr.Lines) > 0:
		bad = &verr
	}
	if bad != nil {
		s.fileSHA, s.readErr, s.readErrSHA = "", bad, sha
		return sha, bad, nil
	}
	s.readErr, s.readErrSHA = nil, ""
	prof := Classic
	if typed {
		prof = ModernTyped
	} else if counts {
		prof = ModernUntyped
	} else if p, ok := s.Profile(); ok && len(first) == 0 {
		prof = p // an emptied file tells nothing: it keeps the profile it had
	}
	s.setProfile(prof, sha)
	return sha, nil, nil
}
