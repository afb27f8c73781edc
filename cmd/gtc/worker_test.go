package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startWorker runs runWorker against s until the test stops it; stop drains and waits for the return.
type testWorker struct {
	out    *lockedBuffer
	drain  context.CancelFunc
	kill   context.CancelFunc
	done   chan error
	waited bool
}

func startWorker(t *testing.T, s *liveServer, tweak func(*workerOptions)) *testWorker {
	t.Helper()
	ctx, drain := context.WithCancel(context.Background())
	kill, stopKill := context.WithCancel(context.Background())
	w := &testWorker{out: &lockedBuffer{}, drain: drain, kill: stopKill, done: make(chan error, 1)}
	o := workerOptions{Target: dialTarget{Network: "unix", Addr: filepath.Join(s.dir, ".beads", "gtc.sock")},
		Name: "w1", Capacity: 1, Out: w.out, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Kill: kill,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, KillGrace: 200 * time.Millisecond,
		ReportTimeout: 5 * time.Second, CallTimeout: 3 * time.Second}
	if tweak != nil {
		tweak(&o)
	}
	go func() { w.done <- runWorker(ctx, o) }()
	t.Cleanup(func() {
		w.drain()
		w.kill()
		if !w.waited {
			select {
			case <-w.done:
			case <-time.After(10 * time.Second):
				t.Error("worker did not stop within 10s of kill")
			}
		}
	})
	return w
}

// wait waits for runWorker to return.
func (w *testWorker) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-w.done:
		w.waited = true
		return err
	case <-time.After(timeout):
		t.Fatalf("worker did not return within %s", timeout)
		return nil
	}
}

// lines reads a file of lines ("" when missing).
func lines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// dead reports whether pid has exited (a zombie counts as exited).
func dead(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

func TestWorkerRunsIssuesEndToEnd(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	good := createIssues(t, dir, "Good one", "Good two", "Good three")
	bad := decode[issueView](t, must(t, dir, "issue", "create", "Bad one", "-d", "always breaks", "-l", "bad", "--json")).ID
	logs := t.TempDir()
	script := `L='` + logs + `'
cat > "$L/$GTC_ISSUE_ID.stdin"
echo "$GTC_ISSUE_ID|$GTC_LEASE_ID|$GTC_LEASE_EPOCH|$GTC_ISSUE_TITLE|$GTC_WORKER|$GTC_ATTEMPT" >> "$L/runs"
printf '%s|%s' "$GTC_SOCKET" "${GTC_ADDR-unset}" > "$L/$GTC_ISSUE_ID.target"
printf '%s' "$GTC_PROMPT" > "$L/$GTC_ISSUE_ID.prompt"
printf '%s' "$GTC_ISSUE_JSON" > "$L/$GTC_ISSUE_ID.env.json"
case "$GTC_ISSUE_JSON" in *'"bad"'*) echo "it broke" >&2; exit 7;; esac
echo "all good with $GTC_ISSUE_ID"`
	w := startWorker(t, s, func(o *workerOptions) { o.Capacity = 2; o.Exec = script })

	waitFor(t, 15*time.Second, "good issues closed and the bad one dead-lettered", func() bool {
		for _, id := range good {
			if st, _ := s.issue(id); st != "closed" {
				return false
			}
		}
		st, labels := s.issue(bad)
		return st == "blocked" && slices.Contains(labels, "gtc:failed")
	})
	runs := lines(filepath.Join(logs, "runs"))
	count := map[string]int{}
	for _, r := range runs {
		f := strings.Split(r, "|")
		if len(f) != 6 || f[4] != "w1" || !strings.HasPrefix(f[1], "L-") || "L-"+f[2] != f[1] {
			t.Errorf("run line %q: want id|L-n|n|title|w1|attempt", r)
			continue
		}
		count[f[0]]++
	}
	for _, id := range good {
		if count[id] != 1 {
			t.Errorf("%s ran %d times, want once", id, count[id])
		}
	}
	if count[bad] != testCoord().MaxAttempts {
		t.Errorf("failing issue ran %d times, want MaxAttempts=%d (fail → requeue → dead letter)", count[bad], testCoord().MaxAttempts)
	}
	// The issue arrives on stdin and in GTC_ISSUE_JSON; the prompt is title and description.
	in := decode[issueView](t, string(mustRead(t, filepath.Join(logs, bad+".stdin"))))
	env := decode[issueView](t, string(mustRead(t, filepath.Join(logs, bad+".env.json"))))
	if in.ID != bad || env.ID != bad || in.Description != "always breaks" {
		t.Errorf("stdin issue %+v, env issue %+v", in, env)
	}
	if p := string(mustRead(t, filepath.Join(logs, bad+".prompt"))); p != "Bad one\n\nalways breaks" {
		t.Errorf("GTC_PROMPT = %q", p)
	}
	// the command is given the worker's coordinator, so a gtc command it runs reaches the same server
	sock, _ := filepath.Abs(filepath.Join(s.dir, ".beads", "gtc.sock"))
	if got := string(mustRead(t, filepath.Join(logs, bad+".target"))); got != sock+"|" {
		t.Errorf("GTC_SOCKET|GTC_ADDR = %q, want %q|\"\" (the worker's socket, an empty address)", got, sock)
	}
	out := w.out.String()
	if !strings.Contains(out, "["+good[0]+"] all good with "+good[0]+"\n") || !strings.Contains(out, "["+bad+"] it broke\n") {
		t.Errorf("worker output lacks prefixed command lines:\n%s", out)
	}
	w.drain()
	if err := w.wait(t, 5*time.Second); err != nil {
		t.Errorf("drained worker returned %v, want nil", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// leaseOf returns the live lease of issue id.
func leaseOf(s *liveServer, id string) (coord.Lease, bool) {
	for _, w := range s.d.Engine().Workers() {
		for _, l := range w.Leases {
			if l.IssueID == id {
				return l, true
			}
		}
	}
	return coord.Lease{}, false
}

func TestWorkerCancelKillsProcessGroup(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ids := createIssues(t, dir, "Long job")
	logs := t.TempDir()
	// The shell ignores SIGTERM (so does its child): only the SIGKILL after the grace stops them.
	script := `trap "" TERM; echo $$ > '` + logs + `/sh.pid'; sleep 30 & echo $! > '` + logs + `/child.pid'; wait; echo finished >> '` + logs + `/runs'`
	startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	waitFor(t, 10*time.Second, "command started", func() bool { return len(lines(filepath.Join(logs, "child.pid"))) == 1 })
	shPid, _ := strconv.Atoi(lines(filepath.Join(logs, "sh.pid"))[0])
	childPid, _ := strconv.Atoi(lines(filepath.Join(logs, "child.pid"))[0])
	var l coord.Lease
	waitFor(t, 5*time.Second, "lease acked", func() bool { var ok bool; l, ok = leaseOf(s, ids[0]); return ok && l.State == coord.LeaseAcked })

	ctx := context.Background()
	if err := s.d.Engine().Pause(ctx, ""); err != nil { // no push of the requeued issue
		t.Fatal(err)
	}
	if err := s.d.Engine().CancelLease(ctx, l.ID, "test cancel", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "command's process group killed", func() bool { return dead(shPid) && dead(childPid) })
	if st, _ := s.issue(ids[0]); st != "open" {
		t.Errorf("cancelled issue has status %q, want open", st)
	}
	if r := lines(filepath.Join(logs, "runs")); len(r) != 0 {
		t.Errorf("cancelled command ran to its end: %v", r)
	}
	time.Sleep(100 * time.Millisecond) // a report of the cancelled lease would land now
	if st, _ := s.issue(ids[0]); st != "open" {
		t.Errorf("after cancel the issue became %q: the worker reported a cancelled lease", st)
	}
}

func TestWorkerResumesAfterServerRestart(t *testing.T) {
	dir := newWorkspace(t)
	long := func(c *daemon.Config) { c.Coord.Grace = 20 * time.Second }
	s := startServer(t, dir, long)
	ids := createIssues(t, dir, "Survives a restart")
	logs := t.TempDir()
	script := `echo "$GTC_ISSUE_ID $GTC_LEASE_ID" >> '` + logs + `/runs'; sleep 1.5; echo done`
	startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	waitFor(t, 10*time.Second, "command started", func() bool { return len(lines(filepath.Join(logs, "runs"))) == 1 })

	s.Stop() // the command keeps running; the worker reconnects with backoff
	s2 := startServer(t, dir, long)
	waitFor(t, 15*time.Second, "issue closed on the restarted server", func() bool { st, _ := s2.issue(ids[0]); return st == "closed" })
	if r := lines(filepath.Join(logs, "runs")); len(r) != 1 {
		t.Errorf("the resumed lease ran %d times, want once: %v", len(r), r)
	}
	// The worker is a worker again on the new server: new work reaches it.
	more := createIssues(t, dir, "After the restart")
	waitFor(t, 15*time.Second, "new issue closed", func() bool { st, _ := s2.issue(more[0]); return st == "closed" })
}

func TestWorkerDrainFinishesRunningWork(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ids := createIssues(t, dir, "First", "Second")
	logs := t.TempDir()
	script := `echo "$GTC_ISSUE_ID" >> '` + logs + `/runs'; sleep 0.5`
	w := startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	waitFor(t, 10*time.Second, "first command started", func() bool { return len(lines(filepath.Join(logs, "runs"))) == 1 })
	w.drain()
	waitFor(t, 3*time.Second, "worker marked draining", func() bool {
		for _, x := range s.d.Engine().Workers() {
			if x.Name == "w1" {
				return x.State == coord.WorkerDraining
			}
		}
		return false
	})
	if err := w.wait(t, 5*time.Second); err != nil {
		t.Fatalf("drain returned %v, want nil", err)
	}
	ran := lines(filepath.Join(logs, "runs"))
	if len(ran) != 1 {
		t.Fatalf("ran %v during the drain, want only the running one", ran)
	}
	if st, _ := s.issue(ran[0]); st != "closed" {
		t.Errorf("the running issue ended %q after the drain, want closed", st)
	}
	other := ids[0]
	if other == ran[0] {
		other = ids[1]
	}
	if st, _ := s.issue(other); st != "open" {
		t.Errorf("the other issue is %q, want open (not taken by a draining worker)", st)
	}
}

// TestWorkerExitsWhenDrainedByTheOperator: with --exit-when-drained (Drained set to the drain, as the
// command does), an operator's `gtc drain w1` makes the worker finish its running command, report it and
// return, taking nothing new; without it the worker stays, takes nothing while drained, and takes work
// again after `gtc drain --undo`.
func TestWorkerExitsWhenDrainedByTheOperator(t *testing.T) {
	for _, exit := range []bool{true, false} {
		t.Run(fmt.Sprintf("exit-when-drained=%v", exit), func(t *testing.T) {
			dir := newWorkspace(t)
			s := startServer(t, dir, nil)
			ids := createIssues(t, dir, "First", "Second")
			logs := t.TempDir()
			script := `echo "$GTC_ISSUE_ID" >> '` + logs + `/runs'; sleep 0.5`
			var w *testWorker
			w = startWorker(t, s, func(o *workerOptions) {
				o.Exec = script
				if exit {
					o.Drained = func() { w.drain() }
				}
			})
			waitFor(t, 10*time.Second, "first command started", func() bool { return len(lines(filepath.Join(logs, "runs"))) == 1 })
			must(t, dir, "drain", "w1")
			if exit {
				if err := w.wait(t, 5*time.Second); err != nil {
					t.Fatalf("worker returned %v after the operator's drain, want nil", err)
				}
				ran := lines(filepath.Join(logs, "runs"))
				if st, _ := s.issue(ran[0]); len(ran) != 1 || st != "closed" {
					t.Fatalf("ran %v, the first ended %q: want only the running one, closed", ran, st)
				}
				return
			}
			time.Sleep(1500 * time.Millisecond) // the running command ends; nothing new is pushed
			select {
			case err := <-w.done:
				t.Fatalf("worker returned %v without --exit-when-drained", err)
			default:
			}
			if ran := lines(filepath.Join(logs, "runs")); len(ran) != 1 {
				t.Fatalf("ran %v while drained, want only the first", ran)
			}
			must(t, dir, "drain", "w1", "--undo")
			waitFor(t, 10*time.Second, "the second issue after the undo", func() bool {
				st0, _ := s.issue(ids[0])
				st1, _ := s.issue(ids[1])
				return st0 == "closed" && st1 == "closed"
			})
		})
	}
}

func TestWorkerKillReleasesLeases(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ids := createIssues(t, dir, "Killed")
	logs := t.TempDir()
	script := `echo $$ > '` + logs + `/sh.pid'; sleep 30`
	w := startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	waitFor(t, 10*time.Second, "command started", func() bool { return len(lines(filepath.Join(logs, "sh.pid"))) == 1 })
	pid, _ := strconv.Atoi(lines(filepath.Join(logs, "sh.pid"))[0])
	if err := s.d.Engine().Pause(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	w.drain()
	w.kill()
	if err := w.wait(t, 5*time.Second); err != nil {
		t.Fatalf("killed worker returned %v, want nil", err)
	}
	if !dead(pid) {
		t.Error("command still running after kill")
	}
	if st, labels := s.issue(ids[0]); st != "open" || slices.Contains(labels, "gtc:failed") {
		t.Errorf("killed command left the issue %q %v, want open (released, no penalty)", st, labels)
	}
	if _, ok := leaseOf(s, ids[0]); ok {
		t.Error("the lease is still live after the worker released it")
	}
}

func TestWorkerUsage(t *testing.T) {
	dir := newWorkspace(t)
	for _, tc := range []struct {
		args []string
		frag string
	}{
		{[]string{"worker"}, "--exec"},
		{[]string{"worker", "--exec", "true", "--role", "boss"}, "--role"},
		{[]string{"worker", "--exec", "true", "--capacity", "0"}, "--capacity"},
		{[]string{"worker", "--exec", "true", "--kill-grace", "0s"}, "--kill-grace 0s: want more than 0"},
		{[]string{"worker", "--exec", "true", "extra"}, "no arguments"},
		{[]string{"worker", "--exec"}, "flag needs an argument"},
	} {
		want(t, dir, exitUsage, tc.args, tc.frag)
	}
}

func TestWorkerCommandDrainsOnSIGINT(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ids := createIssues(t, dir, "Via the CLI")
	t.Setenv("GTC_WORKER_NAME", "") // restored after the test
	os.Unsetenv("GTC_WORKER_NAME")
	t.Setenv("GTC_NAME", "w-cli") // the name the TypeScript client and the CLI's --as read too
	ch := make(chan result, 1)
	go func() {
		var out, errb lockedBuffer // the worker's goroutines and slog write concurrently (os.Stdout would take that)
		code := run([]string{"gtc", "--dir", dir, "worker", "--exec", `echo "hello from $GTC_ISSUE_ID"`}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	waitFor(t, 10*time.Second, "issue closed by the CLI worker", func() bool { st, _ := s.issue(ids[0]); return st == "closed" })
	if out := must(t, dir, "issue", "show", ids[0]); !strings.Contains(out, "w-cli") {
		t.Errorf("issue show after the run names no worker w-cli (from GTC_NAME):\n%s", out)
	}
	// The worker has said hello, so its signal handler is installed: SIGINT drains it, exit 0.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		if r.code != exitOK {
			t.Fatalf("worker exit %d after SIGINT, want 0; stderr %s", r.code, r.err)
		}
		if !strings.Contains(r.out, "["+ids[0]+"] hello from "+ids[0]) || !strings.Contains(r.err, "draining") {
			t.Errorf("worker stdout %q stderr %q", r.out, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not exit after SIGINT")
	}
}

func TestWorkerDrainGivesUpWhenServerStaysDown(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	createIssues(t, dir, "Orphaned")
	logs := t.TempDir()
	w := startWorker(t, s, func(o *workerOptions) {
		o.Exec = `echo started >> '` + logs + `/runs'; sleep 0.3`
		o.ReportTimeout = 300 * time.Millisecond
	})
	waitFor(t, 10*time.Second, "command started", func() bool { return len(lines(filepath.Join(logs, "runs"))) == 1 })
	s.Stop()
	w.drain()
	err := w.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "could not report 1 result") {
		t.Errorf("drain with the server gone returned %v, want a could-not-report error", err)
	}
}

// TestWorkerGate: --gate runs after --exec exits 0 and decides the attempt: exit 0 completes the
// issue; a failing gate, or one still running at --gate-timeout (killed with its process group),
// fails the attempt with the reason in the lease, until the issue is dead-lettered.
func TestWorkerGate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		gate    string
		timeout time.Duration
		closed  bool
		reason  string // in each failed lease's error
	}{
		{"passes", `echo gate ok`, 0, true, ""},
		{"fails", `echo broken tests; exit 3`, 0, false, "exited with status 3: broken tests"},
		{"hangs", `echo hung in TestSlow; sleep 30`, 300 * time.Millisecond, false, "still running after --gate-timeout 300ms: killed; its output: hung in TestSlow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newWorkspace(t)
			s := startServer(t, dir, nil)
			id := createIssues(t, dir, "Gated")[0]
			pids := filepath.Join(t.TempDir(), "pids")
			startWorker(t, s, func(o *workerOptions) {
				o.Exec = `echo done`
				o.Gate = `echo $$ >> '` + pids + `'; ` + tc.gate
				o.GateTimeout = tc.timeout
			})
			waitFor(t, 15*time.Second, "the gate to decide the issue", func() bool {
				st, labels := s.issue(id)
				return (tc.closed && st == "closed") || (!tc.closed && st == "blocked" && slices.Contains(labels, "gtc:failed"))
			})
			ls, err := s.d.Store().LeasesByIssue(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if !tc.closed {
				want = testCoord().MaxAttempts
			}
			if ran := lines(pids); len(ran) != want || len(ls) != want {
				t.Fatalf("gate ran %d times over %d leases, want %d", len(ran), len(ls), want)
			}
			for _, l := range ls {
				if tc.closed != (l.Outcome == "success") || !strings.Contains(l.Error, tc.reason) {
					t.Errorf("lease %s ended %q with error %q, want reason %q", l.ID, l.Outcome, l.Error, tc.reason)
				}
			}
			for _, p := range lines(pids) {
				pid, _ := strconv.Atoi(p)
				waitFor(t, 5*time.Second, "gate process "+p+" to end", func() bool { return dead(pid) })
			}
		})
	}
}

// TestFirstLine: the worker logs a failure's reason as its first line, cut on a rune boundary.
func TestFirstLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"exited with status 3: FAIL\nmore", 100, "exited with status 3: FAIL"},
		{"short", 100, "short"},
		{"abcdef", 3, "abc…"},
		{"héllo", 2, "h…"}, // the cut falls inside é: the broken byte is dropped
		{"", 5, ""},
	} {
		if got := firstLine(tc.in, tc.n); got != tc.want {
			t.Errorf("firstLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestWorkerSameNameRefused: a second worker started under the name of a connected one retries for
// NameWait (the holder may be its own crashed predecessor's connection the server has not dropped yet),
// then stops with the reason, instead of taking over the session and running its leases a second time;
// the first one keeps working.
func TestWorkerSameNameRefused(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	startWorker(t, s, func(o *workerOptions) { o.Exec = `sleep 30` })
	id := createIssues(t, dir, "Long one")[0]
	waitFor(t, 10*time.Second, "the first worker to run the issue", func() bool { _, ok := leaseOf(s, id); return ok })
	l, _ := leaseOf(s, id)
	second := startWorker(t, s, func(o *workerOptions) { o.Exec = `echo second >> /dev/null`; o.NameWait = 300 * time.Millisecond })
	err := second.wait(t, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "another connection") || !strings.Contains(err.Error(), "gave up after") ||
		exitCodeOf(err) != exitRefused {
		t.Fatalf("second worker under the same name: %v (exit %d), want refused", err, exitCodeOf(err))
	}
	if now, ok := leaseOf(s, id); !ok || now.ID != l.ID || now.Epoch != l.Epoch {
		t.Fatalf("the first worker's lease %s changed: %+v", l.ID, now)
	}
}

// TestWorkerTypesAndCodeComplete: --type keeps a worker to issues of those types (the epic is left
// alone), and --outcome code_complete on a server with a code-complete status leaves the finished issue
// in it for the merge queue to close, instead of closing it when the agent exits.
func TestWorkerTypesAndCodeComplete(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.Coord.CodeCompleteStatus = "code_complete" })
	epic := decode[issueView](t, must(t, dir, "issue", "create", "The epic", "--type", "epic", "--json")).ID
	task := decode[issueView](t, must(t, dir, "issue", "create", "A task", "--json")).ID
	startWorker(t, s, func(o *workerOptions) {
		o.Exec = `echo done`
		o.Filters = &coord.Filters{Types: []string{"task", "bug"}}
		o.Outcome = coord.OutcomeCodeComplete
	})
	waitFor(t, 10*time.Second, "the task to be code complete", func() bool { st, _ := s.issue(task); return st == "code_complete" })
	time.Sleep(200 * time.Millisecond) // room for a wrong push of the epic
	if st, _ := s.issue(epic); st != "open" {
		t.Errorf("the epic is %q: a worker taking tasks and bugs took it", st)
	}
	want(t, dir, exitUsage, []string{"worker", "--exec", "true", "--outcome", "done"}, "--outcome")
	if h := must(t, dir, "worker", "--help"); !strings.Contains(h, "--type value") || !strings.Contains(h, "--outcome value") {
		t.Errorf("worker --help lacks --type or --outcome:\n%s", h)
	}
	if h := must(t, dir, "serve", "--help"); !strings.Contains(h, "--code-complete-status value") {
		t.Errorf("serve --help lacks --code-complete-status:\n%s", h)
	}
}

// TestWorkerRestartAfterDrainTakesWork: a worker drained by Ctrl-C (its own drain of its session, while a
// command runs) and started again under its name takes work again. With drains made durable, its own
// drain stayed in force and the restarted worker sat idle for good.
func TestWorkerRestartAfterDrainTakesWork(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	logs := t.TempDir()
	script := `sleep 0.3; echo "$GTC_ISSUE_ID" >> '` + logs + `/runs'`
	first := startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	a := createIssues(t, dir, "First")[0]
	waitFor(t, 10*time.Second, "the first issue to run", func() bool { _, ok := leaseOf(s, a); return ok })
	first.drain() // Ctrl-C while the command runs
	if err := first.wait(t, 10*time.Second); err != nil {
		t.Fatalf("drained worker: %v", err)
	}
	startWorker(t, s, func(o *workerOptions) { o.Exec = script })
	b := createIssues(t, dir, "Second")[0]
	waitFor(t, 10*time.Second, "the restarted worker to run the second issue", func() bool { st, _ := s.issue(b); return st == "closed" })
	if st, _ := s.issue(a); st != "closed" {
		t.Errorf("the issue running at the drain is %q, want closed (finished and reported)", st)
	}
}

// TestWorkerTakesWorkWhileACancelledCommandStops: once the coordinator cancels a lease it counts the
// worker's slot free and may push at once (the same issue, here): the worker accepts it though the
// cancelled command is still stopping, instead of rejecting "at capacity" (which kept the issue from
// this worker, the only one, while it sat idle), and starts its command only once the cancelled one
// has died (two commands for one issue at once in one checkout, with capacity 1, would clash).
func TestWorkerTakesWorkWhileACancelledCommandStops(t *testing.T) {
	dir := newWorkspace(t)
	// a cancelled issue is kept from its worker for RejectHold: short here, so it comes back to w1
	// while the cancelled command still stops
	s := startServer(t, dir, func(c *daemon.Config) { c.Coord.RejectHold = 50 * time.Millisecond })
	ids := createIssues(t, dir, "Cancel me")
	logs := t.TempDir()
	// the first run ignores SIGTERM (stopped by the SIGKILL after the grace); later runs finish at once
	script := `L='` + logs + `'; if [ ! -e "$L/first" ]; then : > "$L/first"; trap "" TERM; echo $$ > "$L/sh.pid"; sleep 30; ` +
		`elif kill -0 "$(cat "$L/sh.pid")" 2>/dev/null; then echo overlap >> "$L/overlap"; fi; echo ran >> "$L/runs"`
	startWorker(t, s, func(o *workerOptions) { o.Exec = script; o.KillGrace = 3 * time.Second })
	var l coord.Lease
	waitFor(t, 10*time.Second, "first run acked", func() bool {
		var ok bool
		l, ok = leaseOf(s, ids[0])
		return ok && l.State == coord.LeaseAcked && len(lines(filepath.Join(logs, "sh.pid"))) == 1
	})
	shPid, _ := strconv.Atoi(lines(filepath.Join(logs, "sh.pid"))[0])
	if err := s.d.Engine().CancelLease(context.Background(), l.ID, "test cancel", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the issue run again and closed", func() bool { st, _ := s.issue(ids[0]); return st == "closed" })
	ls, err := s.d.Store().LeasesByIssue(context.Background(), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ls {
		if x.Outcome == "rejected" {
			t.Fatalf("the worker rejected the re-push while its cancelled command stopped: %+v", ls)
		}
	}
	if len(ls) != 2 || ls[1].Worker != "w1" {
		t.Fatalf("leases %+v, want the cancelled one and w1's second", ls)
	}
	if !dead(shPid) {
		t.Error("the issue closed while its cancelled command still ran")
	}
	if o := lines(filepath.Join(logs, "overlap")); len(o) != 0 {
		t.Error("the second run started while the cancelled command still ran (capacity 1)")
	}
}

// TestWorkerWarnsOfAnUnknownConvoy: gtc worker --convoy NAME says so when no convoy NAME exists (a typo
// took other work, or nothing with --convoy-only, without a word), and stays quiet for one that exists.
func TestWorkerWarnsOfAnUnknownConvoy(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	id := decode[issueView](t, must(t, dir, "issue", "create", "Convoy work", "--json")).ID
	must(t, dir, "convoy", "create", "alpha", id)
	for _, tc := range []struct {
		convoy string
		only   bool
		want   string // in the log; "" for no warning
	}{
		{"alhpa", false, "taking other work until it exists"},
		{"alhpa", true, "taking nothing until it exists"},
		{"alpha", true, ""},
	} {
		log := &lockedBuffer{}
		w := startWorker(t, s, func(o *workerOptions) {
			o.Name = "w-" + tc.convoy + strconv.FormatBool(tc.only)
			o.Exec = "sleep 5"
			o.Filters = &coord.Filters{Convoy: tc.convoy, ConvoyOnly: tc.only}
			o.Log = slog.New(slog.NewTextHandler(log, nil))
		})
		waitFor(t, 10*time.Second, "the worker to connect", func() bool { return strings.Contains(log.String(), "connected") })
		got := log.String()
		if tc.want == "" && strings.Contains(got, "no convoy") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("--convoy %s (only %v): log\n%s\nwant %q", tc.convoy, tc.only, got, tc.want)
		}
		w.kill()
		_ = w.wait(t, 10*time.Second)
	}
}

// TestWorkerDrainWaitsOutTheBackoff: a draining worker whose coordinator is down while its command
// still runs retries on its backoff (it spun: its drain context, already done, woke every wait, about
// 30,000 log lines a second at full CPU), and reports once the coordinator is back.
func TestWorkerDrainWaitsOutTheBackoff(t *testing.T) {
	dir := newWorkspace(t)
	long := func(c *daemon.Config) { c.Coord.Grace = 20 * time.Second }
	s := startServer(t, dir, long)
	ids := createIssues(t, dir, "Long one")
	logs := t.TempDir()
	var logBuf lockedBuffer
	w := startWorker(t, s, func(o *workerOptions) {
		o.Exec = `echo started >> '` + logs + `/runs'; sleep 1.5`
		o.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
		o.BackoffMin, o.BackoffMax = 100*time.Millisecond, 200*time.Millisecond
	})
	waitFor(t, 10*time.Second, "command started", func() bool { return len(lines(filepath.Join(logs, "runs"))) == 1 })
	w.drain()
	s.Stop()
	time.Sleep(800 * time.Millisecond)
	// 800 ms of backoffs of 100-200 ms: a handful of attempts, not thousands
	if n := strings.Count(logBuf.String(), "coordinator unreachable"); n > 12 {
		t.Fatalf("%d reconnect attempts in 800 ms with a backoff of 100-200 ms", n)
	}
	s2 := startServer(t, dir, long)
	if err := w.wait(t, 15*time.Second); err != nil {
		t.Fatalf("drain returned %v, want nil after reporting", err)
	}
	if st, _ := s2.issue(ids[0]); st != "closed" {
		t.Errorf("the issue is %q after the drain reported it, want closed", st)
	}
}
