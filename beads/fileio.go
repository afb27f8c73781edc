package beads

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofrs/flock"
)

// LockName is the lock file bd takes next to issues.jsonl (§13).
const LockName = ".jsonl.lock"

// ErrChanged means the file changed between gtc's read and its write.
var ErrChanged = errors.New("file changed since it was read")

// SHA256 returns the lower-case hex sha256 of data.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// LockTimeout bounds the wait for bd's lock, like bd's own 30 s (§13).
var LockTimeout = 30 * time.Second

func lockFor(path string) *flock.Flock {
	return flock.New(filepath.Join(filepath.Dir(path), LockName))
}

// lockWaited is the time this process has spent in acquire (LockWaited).
var lockWaited atomic.Int64

// LockWaited returns the total time this process has waited for bd's lock: a caller timing a sync
// subtracts the wait of its own calls to tell its work from bd's hold on the file.
func LockWaited() time.Duration { return time.Duration(lockWaited.Load()) }

// acquire takes the shared or exclusive lock, polling every 50 ms for at most LockTimeout.
func acquire(lk *flock.Flock, exclusive bool) error {
	defer func(start time.Time) { lockWaited.Add(int64(time.Since(start))) }(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), LockTimeout)
	defer cancel()
	try := lk.TryRLockContext
	if exclusive {
		try = lk.TryLockContext
	}
	ok, err := try(ctx, 50*time.Millisecond)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("still held by another process after %v", LockTimeout)
	}
	return nil
}

// readLocked returns the file's bytes under a shared flock; a missing file reads as nil with exists false.
func readLocked(path string) (data []byte, exists bool, err error) {
	data, fi, err := readLockedStat(path)
	return data, fi != nil, err
}

// readLockedStat is readLocked that also returns the stat of the file it read (nil when missing).
func readLockedStat(path string) (data []byte, fi fs.FileInfo, err error) {
	lk := lockFor(path)
	if err := acquire(lk, false); err != nil {
		// A read-only directory cannot hold a new lock file; reading without it is still safe
		// because writers rename a complete file into place.
		if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
			return nil, nil, fmt.Errorf("shared lock %s: %w", lk.Path(), err)
		}
	} else {
		defer lk.Unlock()
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer fh.Close()
	fi, err = fh.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	data = make([]byte, 0, fi.Size()+1)
	for {
		n, rerr := fh.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, rerr)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
	if len(data) == 0 {
		data = nil
	}
	return data, fi, nil
}

// ReadFile reads and parses path under a shared flock on <dir>/.jsonl.lock and returns the sha256 of
// the bytes read. A parse failure returns the *ParseError (wrapped) and the sha.
func ReadFile(path string) (*File, string, error) {
	data, exists, err := readLocked(path)
	if err != nil {
		return nil, "", err
	}
	if !exists {
		return nil, "", fmt.Errorf("read %s: %w", path, fs.ErrNotExist)
	}
	sha := SHA256(data)
	f, err := Parse(path, data, ParseOptions{})
	if err != nil {
		return nil, sha, err
	}
	return f, sha, nil
}

// WriteFile writes f to path atomically under an exclusive flock: a temp file in the same directory,
// fsync, rename. The existing file's mode is kept (0644 for a new file). It returns the sha256 written.
func WriteFile(path string, f *File) (string, error) {
	sha, _, err := writeFile(path, f.Bytes(), "")
	return sha, err
}

// writeData writes the temp file's content; tests replace it to simulate a full disk.
var writeData = func(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// writeFile writes data; when expect is not empty the current file must still hash to expect
// (checked under the lock), else ErrChanged. fi is the stat of the file written.
func writeFile(path string, data []byte, expect string) (sha string, fi fs.FileInfo, err error) {
	return writeFileFrom(path, expect, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// hookWriter sends every write through writeData, so tests can fail the temp file's writes.
type hookWriter struct{ f *os.File }

func (h hookWriter) Write(p []byte) (int, error) {
	if err := writeData(h.f, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFileFrom is writeFile with the content streamed by fill into the temp file and hashed on the
// way, so the new file is never held in memory whole.
func writeFileFrom(path, expect string, fill func(w io.Writer) error) (sha string, fi fs.FileInfo, err error) {
	dir := filepath.Dir(path)
	lk := lockFor(path)
	if err := acquire(lk, true); err != nil {
		return "", nil, fmt.Errorf("exclusive lock %s: %w", lk.Path(), err)
	}
	defer lk.Unlock()
	mode := fs.FileMode(0o644)
	before, _ := os.Stat(path) // compared again just before the rename: bd takes the lock, git and editors do not
	curSHA, err := hashFile(path)
	switch {
	case err == nil:
		if before != nil {
			mode = before.Mode().Perm()
		}
		if expect != "" && curSHA != expect {
			return "", nil, fmt.Errorf("write %s: %w", path, ErrChanged)
		}
	case errors.Is(err, fs.ErrNotExist):
		if expect != "" && expect != SHA256(nil) {
			return "", nil, fmt.Errorf("write %s: %w", path, ErrChanged)
		}
	default:
		return "", nil, fmt.Errorf("write %s: read current file: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".~"+filepath.Base(path)+".*")
	if err != nil {
		return "", nil, fmt.Errorf("write %s: create temp file: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(hookWriter{tmp}, 256<<10)
	if err = fill(io.MultiWriter(bw, h)); err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return "", nil, fmt.Errorf("write %s: write temp file: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return "", nil, fmt.Errorf("write %s: chmod temp file: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return "", nil, fmt.Errorf("write %s: fsync temp file: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return "", nil, fmt.Errorf("write %s: close temp file: %w", path, err)
	}
	if fi, err = os.Stat(tmpName); err != nil { // the written file's own stat, whatever happens to path next
		return "", nil, fmt.Errorf("write %s: stat temp file: %w", path, err)
	}
	// A writer that ignores the lock (git checkout, an editor) may have replaced the file while the
	// temp file was written: never overwrite that; the next tick imports it first.
	if now, serr := os.Stat(path); (serr == nil) != (before != nil) ||
		(serr == nil && !(os.SameFile(now, before) && now.Size() == before.Size() && now.ModTime().Equal(before.ModTime()) && sameCtime(now, before))) {
		err = fmt.Errorf("write %s: %w", path, ErrChanged)
		return "", nil, err
	}
	if err = os.Rename(tmpName, path); err != nil {
		return "", nil, fmt.Errorf("write %s: rename temp file: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), fi, nil
}

// hashFile returns the sha256 of the file at path, streamed (the file is not held in memory).
func hashFile(path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
