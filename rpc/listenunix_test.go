package rpc

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenUnixLongPath: a socket path that fits the kernel's limit binds even when the private
// temporary bind path beside it would not (a deep workspace), with mode 0600 and removed on close.
func TestListenUnixLongPath(t *testing.T) {
	base := t.TempDir()
	// a directory that leaves room for the socket's name but not for the temporary path under it
	dir := filepath.Join(base, strings.Repeat("d", maxSocketPath-len(base)-len("/gtc.sock")-3))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gtc.sock")
	if len(path) >= maxSocketPath {
		t.Fatalf("test path of %d bytes does not fit", len(path))
	}
	l, err := ListenUnix(path)
	if err != nil {
		t.Fatalf("listen on a %d-byte path: %v", len(path), err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v", err, fi.Mode())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	l.Close()
	if _, err := os.Lstat(path); err == nil {
		t.Error("the socket file is left after Close")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".s*")); len(left) != 0 {
		t.Errorf("temporary directories left: %v", left)
	}
}
