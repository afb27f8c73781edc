package beads

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

// acquire takes the shared or exclusive lock, polling every 50 ms for at most LockTimeout.
func acquire(lk *flock.Flock, exclusive bool) error {
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
	lk := lockFor(path)
	if err := acquire(lk, false); err != nil {
		// A read-only directory cannot hold a new lock file; reading without it is still safe
		// because writers rename a complete file into place.
		if !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
			return nil, false, fmt.Errorf("shared lock %s: %w", lk.Path(), err)
		}
	} else {
		defer lk.Unlock()
	}
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	return data, true, nil
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
	return writeFile(path, f.Bytes(), "")
}

// writeData writes the temp file's content; tests replace it to simulate a full disk.
var writeData = func(f *os.File, data []byte) error {
	_, err := f.Write(data)
	return err
}

// writeFile writes data; when expect is not empty the current file must still hash to expect
// (checked under the lock), else ErrChanged.
func writeFile(path string, data []byte, expect string) (sha string, err error) {
	dir := filepath.Dir(path)
	lk := lockFor(path)
	if err := acquire(lk, true); err != nil {
		return "", fmt.Errorf("exclusive lock %s: %w", lk.Path(), err)
	}
	defer lk.Unlock()
	mode := fs.FileMode(0o644)
	cur, err := os.ReadFile(path)
	switch {
	case err == nil:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
		if expect != "" && SHA256(cur) != expect {
			return "", fmt.Errorf("write %s: %w", path, ErrChanged)
		}
	case errors.Is(err, fs.ErrNotExist):
		if expect != "" && expect != SHA256(nil) {
			return "", fmt.Errorf("write %s: %w", path, ErrChanged)
		}
	default:
		return "", fmt.Errorf("write %s: read current file: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, ".~"+filepath.Base(path)+".*")
	if err != nil {
		return "", fmt.Errorf("write %s: create temp file: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	if err = writeData(tmp, data); err != nil {
		return "", fmt.Errorf("write %s: write temp file: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return "", fmt.Errorf("write %s: chmod temp file: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("write %s: fsync temp file: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: close temp file: %w", path, err)
	}
	if err = os.Rename(tmpName, path); err != nil {
		return "", fmt.Errorf("write %s: rename temp file: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return SHA256(data), nil
}
