package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
	"golang.org/x/sys/unix"
)

// TestStorageWritesRefused makes the kernel refuse every file write of a running `gtc serve`
// (RLIMIT_FSIZE lowered to 0 on the process: writes fail with EFBIG, whatever the user, root
// included) and checks: callers get unavailable, /healthz says unhealthy, reads still work, what
// was acknowledged stays, and everything recovers once the limit is lifted.
func TestStorageWritesRefused(t *testing.T) {
	dir := shortDir(t)
	writeWorkspace(t, dir, 30, 3)
	p := startServe(t, dir, append([]string{"--http", "127.0.0.1:0"}, serveArgs...)...)
	sock := filepath.Join(dir, ".beads", "gtc.sock")
	w := newTestWorker(t, "unix", sock, "", "fw", nil)
	a1 := w.next(t, 5*time.Second)
	if _, err := w.complete(a1); err != nil {
		t.Fatalf("complete before the fault: %v", err)
	}
	a2 := w.next(t, 5*time.Second)
	if code, body := httpGet(t, p.httpURL+"/healthz"); code != 200 {
		t.Fatalf("healthz before the fault: %d %s", code, body)
	}

	lift := refuseWrites(t, p.cmd.Process.Pid)

	if _, err := w.complete(a2); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("complete while writes fail: %v, want unavailable", err)
	}
	ctx := context.Background()
	if _, err := w.c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "during the fault",
		Idempotency: rpc.Idempotency{IdempotencyKey: "fault-create"}}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("issue.create while writes fail: %v, want unavailable", err)
	}
	code, body := httpGet(t, p.httpURL+"/healthz")
	if code != 503 || !strings.Contains(body, "unhealthy") {
		t.Fatalf("healthz while writes fail: %d %s", code, body)
	}
	if _, err := w.c.IssueGet(ctx, rpc.IssueGetParams{ID: a1.Lease.IssueID}); err != nil {
		t.Fatalf("reads while writes fail: %v", err)
	}
	// what was acknowledged before the fault is in the database
	db := openRO(t, filepath.Join(dir, ".beads", "gtc.db"))
	if st := queryStrings(t, db, `SELECT status FROM issues WHERE id = ?`, a1.Lease.IssueID); len(st) != 1 || st[0] != "closed" {
		t.Fatalf("acknowledged completion during the fault: %v", st)
	}
	db.Close()
	// the JSONL export cannot write its temp file either: a clear error in the log
	waitFor(t, 5*time.Second, "sync failure logged", func() bool {
		return strings.Contains(tail(filepath.Join(dir, "serve.log")), "jsonl sync failed")
	})

	// lift the fault: the same calls succeed (the lease survived the failed commit) and health recovers
	lift()
	waitFor(t, 10*time.Second, "complete after the fault", func() bool {
		_, err := w.complete(a2)
		return err == nil
	})
	if _, err := w.c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "after the fault",
		Idempotency: rpc.Idempotency{IdempotencyKey: "fault-create"}}); err != nil {
		t.Fatalf("issue.create after the fault: %v", err)
	}
	waitFor(t, 5*time.Second, "healthz ok", func() bool { c, _ := httpGet(t, p.httpURL+"/healthz"); return c == 200 })
	p.stop(t)
	st, err := jsonlStatuses(filepath.Join(dir, ".beads", "issues.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if st[a1.Lease.IssueID] != "closed" || st[a2.Lease.IssueID] != "closed" || len(st) != 31 {
		t.Fatalf("issues.jsonl after recovery: %s=%s %s=%s, %d issues", a1.Lease.IssueID, st[a1.Lease.IssueID],
			a2.Lease.IssueID, st[a2.Lease.IssueID], len(st))
	}
	t.Logf("FIGURES fault: storage writes refused (EFBIG) -> unavailable, healthz 503, recovered")
}

// TestDiskFull puts the database on a tiny tmpfs, fills it, and checks that a write needing space
// fails with unavailable and /healthz turns unhealthy, then that freeing space recovers. It needs
// mount(2) (root in CI); it is skipped where mounting is not allowed.
func TestDiskFull(t *testing.T) {
	mnt := shortDir(t)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	l := startLive(t, 30, func(c *daemon.Config) { c.DB = filepath.Join(mnt, "gtc.db") })
	c := dialClient(t, "unix", l.sock, "", "df")
	ctx := context.Background()
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "before"}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	big := strings.Repeat("x", 900<<10) // needs more WAL than the file system has left
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "big", Description: big}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("write on a full disk: %v, want unavailable", err)
	}
	if code, body := httpGet(t, "http://"+l.http+"/healthz"); code != 503 {
		t.Fatalf("healthz on a full disk: %d %s", code, body)
	}
	if _, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: issueID(0)}); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	os.Remove(filler)
	r, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "big", Description: big})
	if err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	if code, _ := httpGet(t, "http://"+l.http+"/healthz"); code != 200 {
		t.Fatalf("healthz after freeing space: %d", code)
	}
	var created struct{ ID string }
	jsonUnmarshal(t, r.Issue, &created)
	if _, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: created.ID}); err != nil {
		t.Fatal(err)
	}
	t.Logf("FIGURES fault: disk full (ENOSPC on tmpfs) -> unavailable, healthz 503, recovered")
}

// refuseWrites makes the kernel refuse every file write of process pid (RLIMIT_FSIZE's soft limit
// set to 0: writes fail with EFBIG, root's included; lifting it needs no privilege) and returns the
// function that lifts it (also run when the test ends). The test is skipped where prlimit is not allowed.
func refuseWrites(t *testing.T, pid int) (lift func()) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Skipf("prlimit not available: %v", err)
	}
	fault := unix.Rlimit{Cur: 0, Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &fault, nil); err != nil {
		t.Skipf("prlimit: %v", err)
	}
	var once sync.Once
	lift = func() {
		once.Do(func() {
			if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &old, nil); err != nil {
				t.Errorf("lift the write fault: %v", err)
			}
		})
	}
	t.Cleanup(lift)
	return lift
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
}

// TestStorageOutageKeepsTheWorkersWork: a storage failure longer than the heartbeat timeout and the
// grace, under a real `gtc worker` whose command ends during it. The worker's heartbeats and report are
// refused; it keeps its connection and reports again once the storage works; the coordinator does not
// count the outage against the lease: the issue closes on its first attempt, nothing expires.
// Operators' read commands (`gtc status`, `gtc health`) answer during the failure.
func TestStorageOutageKeepsTheWorkersWork(t *testing.T) {
	dir := shortDir(t)
	writeWorkspace(t, dir, 1, 0)
	p := startServe(t, dir, append([]string{"--http", "127.0.0.1:0"}, serveArgs...)...) // heartbeat timeout 5 s, grace 3 s
	wlog := filepath.Join(dir, "worker.log")
	lf, err := os.Create(wlog)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	wk := exec.Command(gtcBin, "--dir", dir, "worker", "--name", "steady", "--exec", "sleep 4")
	wk.Stdout, wk.Stderr = lf, lf
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = wk.Process.Kill(); _ = wk.Wait() }()
	c := dialClient(t, "unix", filepath.Join(dir, ".beads", "gtc.sock"), "", "observer")
	ctx := context.Background()
	id := issueID(0)
	waitFor(t, 10*time.Second, "the issue to be leased to the worker", func() bool {
		r, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: id})
		return err == nil && strings.Contains(string(r.Issue), `"in_progress"`)
	})

	lift := refuseWrites(t, p.cmd.Process.Pid)
	waitFor(t, 5*time.Second, "the failure to be seen", func() bool { code, _ := httpGet(t, p.httpURL+"/healthz"); return code == 503 })
	for _, args := range [][]string{{"status"}, {"health"}, {"issue", "show", id}} {
		out, err := exec.Command(gtcBin, append([]string{"--dir", dir}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(args[0] == "health" && errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Errorf("gtc %s while the storage fails: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "status" && !strings.Contains(string(out), "STORAGE: FAILING") {
			t.Errorf("gtc status while the storage fails does not say so:\n%s", out)
		}
	}
	// a client's session opened now is read-only: reads served, writes refused with a reason
	rc, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: filepath.Join(dir, ".beads", "gtc.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if h, err := rc.Hello(ctx, rpc.HelloParams{Name: "late", Role: "client"}); err != nil || !h.ReadOnly {
		t.Fatalf("client hello while the storage fails: %+v, %v; want read_only", h, err)
	}
	if _, err := rc.IssueGet(ctx, rpc.IssueGetParams{ID: id}); err != nil {
		t.Errorf("read on a read-only session: %v", err)
	}
	if _, err := rc.IssueCreate(ctx, rpc.IssueCreateParams{Title: "x"}); coord.ErrorCode(err) != coord.EUnavailable ||
		!strings.Contains(err.Error(), "storage failed when this session began") {
		t.Errorf("write on a read-only session: %v", err)
	}
	time.Sleep(8 * time.Second) // the command ends (4 s) and the heartbeat timeout (5 s) passes
	lift()
	waitFor(t, 15*time.Second, "the issue to close", func() bool {
		r, err := c.IssueGet(ctx, rpc.IssueGetParams{ID: id})
		return err == nil && strings.Contains(string(r.Issue), `"closed"`)
	})
	evs, err := c.EventsList(ctx, rpc.EventsListParams{IssueID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs.Events {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == "expired" || ev.Kind == "requeued" || ev.Kind == "assigned" && ev.LeaseID != "L-1" {
			t.Errorf("the outage counted against the worker: %+v", ev)
		}
	}
	wl, _ := os.ReadFile(wlog)
	if strings.Contains(string(wl), "reconnecting") || strings.Contains(string(wl), "no longer ours") {
		t.Errorf("the worker dropped its connection or lost its lease during the outage:\n%s", wl)
	}
	t.Logf("events of %s: %v", id, kinds)
}
