package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// TestFailedStartLeavesTheWorkspaceAsItWas: a start whose Listen fails (the port is taken), closed with
// Close, removes the store and token it created and closes the store cleanly (no -wal or -shm left); a
// store and token that were there before are kept, with what they held.
func TestFailedStartLeavesTheWorkspaceAsItWas(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	bd := filepath.Join(dir, ".beads")
	if err := os.MkdirAll(bd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bd, "issues.jsonl"), []byte(`{"id":"gt-1","title":"Kept","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	failedStart := func() {
		t.Helper()
		d, err := Open(context.Background(), Config{Dir: dir, Listen: busy.Addr().String(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Listen(); err == nil {
			t.Fatal("Listen on a taken port succeeded")
		}
		d.Close()
	}
	failedStart()
	for _, f := range []string{"gtc.db", "gtc.db-wal", "gtc.db-shm", "gtc.token"} {
		if _, err := os.Lstat(filepath.Join(bd, f)); err == nil {
			t.Errorf("the failed first start left %s behind", f)
		}
	}

	// a workspace that has served before: its store and token stay
	d, err := Open(context.Background(), Config{Dir: dir, Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	eventually(t, 5*time.Second, "the import", func() bool { _, _, err := d.Store().GetIssue(ctx, "gt-1"); return err == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(bd, "gtc.token"))
	if err != nil {
		t.Fatal(err)
	}
	failedStart()
	if got, err := os.ReadFile(filepath.Join(bd, "gtc.token")); err != nil || string(got) != string(token) {
		t.Errorf("the failed start changed the existing token: %q, %v", got, err)
	}
	d, err = Open(context.Background(), Config{Dir: dir, Socket: "-", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, _, err := d.Store().GetIssue(context.Background(), "gt-1"); err != nil {
		t.Errorf("the store of the earlier start lost its issue after a failed start: %v", err)
	}
}
