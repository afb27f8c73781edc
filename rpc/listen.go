package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LoadOrCreateToken returns the token stored at path, creating the file (mode 0600, 256 random bits
// in hex) when it does not exist. An existing file readable by others is narrowed to 0600.
func LoadOrCreateToken(path string) (string, error) {
	for attempt := 0; attempt < 3; attempt++ {
		b, err := os.ReadFile(path)
		if err == nil {
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				// left by a crash while an earlier version created it (now written whole, then linked
				// into place): once it is not brand new, it is replaced instead of blocking every start
				if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > 5*time.Second && os.Remove(path) == nil {
					continue
				}
				return "", fmt.Errorf("load token %s: file is empty", path)
			}
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return "", fmt.Errorf("load token %s: narrow mode: %w", path, err)
				}
			}
			return tok, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("load token %s: %w", path, err)
		}
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", fmt.Errorf("create token %s: %w", path, err)
		}
		tok := hex.EncodeToString(raw[:])
		// Written whole to a private temporary file, then linked into place (which fails if the file
		// exists): a crash never leaves an empty token file behind to block every later start.
		f, err := os.CreateTemp(filepath.Dir(path), ".gtc-token-*")
		if err != nil {
			return "", fmt.Errorf("create token %s: %w", path, err)
		}
		tmp := f.Name()
		_, werr := f.WriteString(tok + "\n")
		if werr == nil {
			werr = f.Sync()
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Link(tmp, path)
		}
		os.Remove(tmp)
		if errors.Is(werr, fs.ErrExist) {
			continue // created concurrently: read it
		}
		if werr != nil {
			return "", fmt.Errorf("create token %s: %w", path, werr)
		}
		return tok, nil
	}
	return "", fmt.Errorf("load token %s: file keeps changing", path)
}

// ListenUnix listens on a Unix socket at path created with mode 0600 (bound in a private directory
// and renamed into place, so it is never reachable with a wider mode). A stale socket left by a dead
// server is replaced; a live one is an error. Closing the listener removes the socket.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("listen %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another server is listening", path)
		}
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".s")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	if len(tmp) >= maxSocketPath && len(path) < maxSocketPath {
		// the private bind path would not fit where the real one does: bind in place and narrow it at
		// once (with the usual umask the socket is not writable, so not connectable, by others meanwhile)
		return listenUnixInPlace(path)
	}
	ul, err := bindPrivate(tmp, path)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		ul.Close()
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// maxSocketPath is the longest Unix socket path the kernel takes (sun_path holds 108 bytes with its NUL).
const maxSocketPath = 108

// listenUnixInPlace binds path itself, then narrows it to 0600.
func listenUnixInPlace(path string) (net.Listener, error) {
	_ = os.Remove(path) // a stale socket (a live one was refused above)
	ul, err := bindPrivate(path, path)
	if err != nil {
		return nil, err
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// bindPrivate listens on a Unix socket at bindPath (the socket path is named in errors) with mode 0600;
// the socket file stays when the listener closes (unixListener removes the final path).
func bindPrivate(bindPath, path string) (*net.UnixListener, error) {
	l, err := net.Listen("unix", bindPath)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(bindPath, 0o600); err != nil {
		ul.Close()
		os.Remove(bindPath)
		return nil, fmt.Errorf("listen %s: chmod: %w", path, err)
	}
	return ul, nil
}

type unixListener struct {
	*net.UnixListener
	path string
}

// Addr reports the final socket path.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.path)
	return err
}
