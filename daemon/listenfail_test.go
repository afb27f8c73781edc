package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestListenFailureLeavesNoSocket: when one address cannot be bound (the TCP port is taken), the Unix
// socket bound before it is closed and its file removed, so clients see "no coordinator" rather than a
// socket nobody serves.
func TestListenFailureLeavesNoSocket(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".beads"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".beads", "issues.jsonl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), Config{Dir: dir, Listen: busy.Addr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer d.closeAll()
	if err := d.Listen(); err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	if _, err := os.Lstat(filepath.Join(dir, ".beads", "gtc.sock")); err == nil {
		t.Error("the socket file is left behind after the failed Listen")
	}
}
