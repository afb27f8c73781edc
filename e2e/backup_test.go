package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gtcRun runs the gtc binary on dir and returns its output and exit error.
func gtcRun(dir string, args ...string) (string, error) {
	out, err := exec.Command(gtcBin, append([]string{"--dir", dir}, args...)...).CombinedOutput()
	return string(out), err
}

// TestBackupAndRestore: `gtc backup` copies gtc.db while the server runs; `gtc restore` is refused
// while it runs and, once it stopped, puts the backup back, naming the lease made after the backup that
// the restored store does not hold; the restarted server hands out epochs after that lease's, so its
// holder's report is refused, and the restore is in the audit log.
func TestBackupAndRestore(t *testing.T) {
	dir := shortDir(t)
	writeWorkspace(t, dir, 6, 7)
	p := startServe(t, dir)
	type claimed struct {
		Assignment struct {
			Lease struct {
				ID    string `json:"id"`
				Epoch int64  `json:"epoch"`
			} `json:"lease"`
		} `json:"assignment"`
	}
	claim := func(as string) claimed {
		t.Helper()
		out, err := exec.Command(gtcBin, "--dir", dir, "claim", "--as", as, "--json").Output()
		var c claimed
		if err != nil || json.Unmarshal(out, &c) != nil || c.Assignment.Lease.ID == "" {
			t.Fatalf("claim as %s: %v: %s", as, err, out)
		}
		return c
	}
	first := claim("early")
	backup := filepath.Join(dir, "gtc-backup.db")
	if out, err := gtcRun(dir, "backup", backup); err != nil || !strings.Contains(out, "1 live leases") {
		t.Fatalf("backup while serving: %v: %s", err, out)
	}
	if out, err := gtcRun(dir, "backup", backup); err == nil || !strings.Contains(out, "exists") {
		t.Fatalf("backup onto an existing file: %v: %s", err, out)
	}
	late := claim("late") // made after the backup
	if out, err := gtcRun(dir, "restore", backup); err == nil || !strings.Contains(out, "server is running") {
		t.Fatalf("restore while serving: %v: %s", err, out)
	}
	p.stop(t)
	// the log says why the server stopped (a trial could not tell who stopped its server)
	if log := tail(filepath.Join(dir, "serve.log")); !strings.Contains(log, `msg="shutting down" why="received SIGTERM"`) {
		t.Fatalf("serve log without the signal:\n%s", log)
	}

	out, err := gtcRun(dir, "restore", backup)
	if err != nil || !strings.Contains(out, "1 live leases of the replaced store are not in the backup") ||
		!strings.Contains(out, late.Assignment.Lease.ID) {
		t.Fatalf("restore: %v: %s", err, out)
	}
	if kept, _ := filepath.Glob(filepath.Join(dir, ".beads", "gtc.db.replaced-*")); len(kept) == 0 {
		t.Fatal("the replaced gtc.db is not kept")
	}
	startServe(t, dir)
	next := claim("next")
	if next.Assignment.Lease.Epoch <= late.Assignment.Lease.Epoch {
		t.Fatalf("after the restore a lease got epoch %d, not above the lost lease's %d (%s)", next.Assignment.Lease.Epoch,
			late.Assignment.Lease.Epoch, late.Assignment.Lease.ID)
	}
	if out, err := gtcRun(dir, "complete", "--as", "late", late.Assignment.Lease.ID); err == nil {
		t.Fatalf("the lost lease's complete was accepted: %s", out)
	}
	if out, err := gtcRun(dir, "complete", "--as", "early", first.Assignment.Lease.ID); err != nil {
		t.Fatalf("complete of a lease the backup holds: %v: %s", err, out)
	}
	evs, err := gtcRun(dir, "events", "--limit", "0")
	if err != nil || !strings.Contains(evs, "store_restored") {
		t.Fatalf("events: %v: %s", err, evs)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Fatalf("the backup file: %v", err)
	}
}
