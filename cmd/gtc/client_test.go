package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// liveServer is a coordinator running in-process on a temporary workspace.
type liveServer struct {
	t    *testing.T
	dir  string
	cfg  daemon.Config
	d    *daemon.Daemon
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// testCoord is a scheduler configuration with short timeouts.
func testCoord() coord.Config {
	return coord.Config{AckTimeout: 2 * time.Second, HeartbeatTimeout: 3 * time.Second, Grace: 2 * time.Second,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond, MaxAttempts: 2}
}

// newWorkspace creates an empty gtc workspace.
func newWorkspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := initWorkspace(dir, "t", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startServer runs a coordinator on dir until the test ends (or Stop).
func startServer(t *testing.T, dir string, tweak func(*daemon.Config)) *liveServer {
	t.Helper()
	cfg := daemon.Config{Dir: dir, SyncInterval: 50 * time.Millisecond, Coord: testCoord(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &liveServer{t: t, dir: dir, cfg: cfg, d: d, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- d.Run(ctx) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the coordinator down and waits for it (idempotent).
func (s *liveServer) Stop() {
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				s.t.Errorf("daemon Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			s.t.Error("coordinator did not stop within 15s")
		}
	})
}

// issue reads an issue from the store.
func (s *liveServer) issue(id string) (status string, labels []string) {
	s.t.Helper()
	is, _, err := s.d.Store().GetIssue(context.Background(), id)
	if err != nil {
		s.t.Fatalf("get issue %s: %v", id, err)
	}
	return is.Status, is.Labels
}

// result is one CLI run.
type result struct {
	out, err string
	code     int
}

// gtc runs the CLI against dir.
func gtc(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"gtc", "--dir", dir}, args...), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// must runs the CLI and fails the test unless it exits 0.
func must(t *testing.T, dir string, args ...string) string {
	t.Helper()
	r := gtc(t, dir, args...)
	if r.code != exitOK {
		t.Fatalf("gtc %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.err)
	}
	return r.out
}

// want runs the CLI and checks its exit code and that stderr is one line containing each of frags.
func want(t *testing.T, dir string, code int, args []string, frags ...string) result {
	t.Helper()
	r := gtc(t, dir, args...)
	if r.code != code {
		t.Fatalf("gtc %s: exit %d, want %d; stdout %q stderr %q", strings.Join(args, " "), r.code, code, r.out, r.err)
	}
	if code != exitOK && code != exitUsage && strings.Count(strings.TrimSpace(r.err), "\n") != 0 {
		t.Errorf("gtc %s: error is not one line: %q", strings.Join(args, " "), r.err)
	}
	for _, f := range frags {
		if !strings.Contains(r.err, f) {
			t.Errorf("gtc %s: stderr %q does not contain %q", strings.Join(args, " "), r.err, f)
		}
	}
	return r
}

// decode parses a --json output.
func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, s)
	}
	return v
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// createIssues creates issues with the given titles (priority = index mod 5) and returns their ids.
func createIssues(t *testing.T, dir string, titles ...string) []string {
	t.Helper()
	var ids []string
	for i, title := range titles {
		out := must(t, dir, "issue", "create", title, "--priority", fmt.Sprint(i%5), "--json")
		ids = append(ids, decode[issueView](t, out).ID)
	}
	return ids
}

func TestClientNoServer(t *testing.T) {
	dir := newWorkspace(t)
	for _, args := range [][]string{{"status"}, {"ready"}, {"workers", "--json"}, {"complete", "L-1"}, {"issue", "list"}, {"watch"}} {
		r := want(t, dir, exitNoServer, args, "no coordinator at ", ".beads/gtc.sock", "gtc serve")
		if r.out != "" {
			t.Errorf("%v: stdout %q, want nothing", args, r.out)
		}
	}
	want(t, dir, exitNoServer, []string{"status", "--addr", "127.0.0.1:1"}, "no coordinator at 127.0.0.1:1")
}

func TestClientCommandsLive(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ids := createIssues(t, dir, "Write docs", "Fix login", "Add retries", "Tune cache")

	// status: table and JSON.
	out := must(t, dir, "status")
	if !strings.Contains(out, "READY") || !strings.Contains(out, "assigning work") {
		t.Errorf("status table:\n%s", out)
	}
	st := decode[rpc.StatusResult](t, must(t, dir, "status", "--json"))
	if st.Issues.Total != 4 || st.Issues.Ready != 4 || st.Paused {
		t.Errorf("status --json = %+v, want 4 ready of 4, not paused", st)
	}
	if st.Workers != (rpc.WorkerCounts{}) {
		t.Errorf("status --json counts CLI sessions as workers: %+v (no worker runs)", st.Workers)
	}

	// ready: the engine's assignment order, in both forms.
	order := s.d.Engine().Ready(3)
	rd := decode[rpc.IssueListResult](t, must(t, dir, "ready", "--limit", "3", "--json"))
	if len(rd.Issues) != 3 {
		t.Fatalf("ready --limit 3 gave %d issues", len(rd.Issues))
	}
	for i, raw := range rd.Issues {
		if got := viewOf(raw).ID; got != order[i] {
			t.Errorf("ready[%d] = %s, want %s (engine order %v)", i, got, order[i], order)
		}
	}
	lines := strings.Split(strings.TrimSpace(must(t, dir, "ready")), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "#") || !strings.Contains(lines[1], order[0]) || strings.HasSuffix(lines[1], " ") {
		t.Errorf("ready table (header + 4 rows, first %s, no trailing blanks):\n%s", order[0], strings.Join(lines, "\n"))
	}

	// issue create/show/list/update/close.
	created := decode[issueView](t, must(t, dir, "issue", "create", "--title", "CLI issue", "-d", "do it", "-l", "cli", "-p", "4", "--json"))
	if created.ID == "" || created.Title != "CLI issue" || created.Priority == nil || *created.Priority != 4 {
		t.Fatalf("issue create --json = %+v", created)
	}
	shown := decode[issueView](t, must(t, dir, "issue", "show", created.ID, "--json"))
	if shown.Description != "do it" || len(shown.Labels) != 1 || shown.Labels[0] != "cli" {
		t.Errorf("issue show --json = %+v", shown)
	}
	if out := must(t, dir, "issue", "show", created.ID); !strings.Contains(out, "CLI issue") || !strings.Contains(out, "P4") {
		t.Errorf("issue show:\n%s", out)
	}
	if out := must(t, dir, "issue", "list", "--label", "cli"); !strings.Contains(out, created.ID) || strings.Contains(out, ids[0]) {
		t.Errorf("issue list --label cli:\n%s", out)
	}
	upd := decode[issueView](t, must(t, dir, "issue", "update", created.ID, "--notes", "careful", "--priority", "1", "--json"))
	if upd.Notes != "careful" || *upd.Priority != 1 {
		t.Errorf("issue update --json = %+v", upd)
	}
	want(t, dir, exitUsage, []string{"issue", "update", created.ID}, "nothing to update")
	lab := decode[issueView](t, must(t, dir, "issue", "update", created.ID, "--add-label", "needs-review", "--add-label", "ui",
		"--remove-label", "cli", "--json"))
	if !slices.Equal(lab.Labels, []string{"needs-review", "ui"}) {
		t.Errorf("labels after --add-label needs-review --add-label ui --remove-label cli: %v", lab.Labels)
	}
	// a label to remove that is not there: refused before anything changes
	want(t, dir, exitError, []string{"issue", "update", created.ID, "--title", "renamed", "--remove-label", "nope"}, `no label "nope"`, "nothing changed")
	if v := decode[issueView](t, must(t, dir, "issue", "show", created.ID, "--json")); v.Title == "renamed" {
		t.Error("the title changed though the update was refused")
	}
	if r := gtc(t, dir, "issue", "update", "--help"); !strings.Contains(r.out, "(default: unchanged)") {
		t.Errorf("issue update --help does not say an absent --priority leaves it unchanged:\n%s", r.out)
	}
	must(t, dir, "issue", "close", created.ID, "--reason", "done by hand")
	if st, _ := s.issue(created.ID); st != "closed" {
		t.Errorf("closed issue has status %q in the store", st)
	}
	want(t, dir, exitRefused, []string{"issue", "close", created.ID}, "already closed")
	want(t, dir, exitRefused, []string{"issue", "show", "t-nope"}, "not_found")
	want(t, dir, exitUsage, []string{"issue", "create"}, "title")
	// the dead-letter label is refused before anything changes (re-trial: the status was applied, then
	// the label edit failed and the command exited 2)
	want(t, dir, exitUsage, []string{"issue", "update", created.ID, "--status", "open", "--remove-label", "gtc:failed"}, "dead-letter label")

	// claim → workers → complete with a stale epoch (refused) → complete by issue id.
	cl := decode[struct {
		Worker     string
		Assignment *rpc.Assignment
	}](t, must(t, dir, "claim", "--as", "bob", "--json"))
	if cl.Worker != "bob" || cl.Assignment == nil || cl.Assignment.Lease.IssueID != order[0] || cl.Assignment.Lease.State != coord.LeaseAcked {
		t.Fatalf("claim --json = %+v, want an acked lease of %s", cl, order[0])
	}
	l := cl.Assignment.Lease
	ws := decode[rpc.WorkersResult](t, must(t, dir, "workers", "--json"))
	found := false
	for _, w := range ws.Workers {
		if w.Name == "bob" && len(w.Leases) == 1 && w.Leases[0].ID == l.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("workers --json does not show bob holding %s: %+v", l.ID, ws)
	}
	if out := must(t, dir, "workers"); !strings.Contains(out, "bob") || !strings.Contains(out, l.ID) {
		t.Errorf("workers table:\n%s", out)
	}
	want(t, dir, exitRefused, []string{"complete", l.ID, "--epoch", fmt.Sprint(l.Epoch + 5)}, "stale_epoch", "gtc workers")
	want(t, dir, exitRefused, []string{"complete", l.ID, "--as", "mallory"}, "not_holder")
	done := decode[leaseResult](t, must(t, dir, "complete", l.IssueID, "--summary", "by hand", "--json"))
	if done.LeaseID != l.ID || done.Status != "closed" || done.Outcome != "success" {
		t.Errorf("complete --json = %+v", done)
	}
	if st, _ := s.issue(l.IssueID); st != "closed" {
		t.Errorf("completed issue has status %q in the store", st)
	}
	want(t, dir, exitRefused, []string{"complete", l.ID}, "stale_epoch")
	want(t, dir, exitRefused, []string{"complete", l.IssueID}, "is closed and has no live lease: nothing to report")

	// fail (flags after the argument) → requeued with an attempt counted; release → no penalty.
	l2 := decode[struct{ Assignment *rpc.Assignment }](t, must(t, dir, "claim", "--as", "bob", "--json")).Assignment.Lease
	want(t, dir, exitUsage, []string{"fail", l2.ID}, "--reason")
	fr := decode[leaseResult](t, must(t, dir, "fail", l2.ID, "--reason", "tests red", "--json"))
	if fr.IssueID != l2.IssueID || fr.Status != "open" || fr.DeadLettered {
		t.Errorf("fail --json = %+v", fr)
	}
	// issue show lists the attempts: who, how each ended, and why
	if out := must(t, dir, "issue", "show", l2.IssueID); !strings.Contains(out, "attempts") ||
		!regexp.MustCompile(l2.ID+` +1 +bob +ended +failure +[0-9-]+ [0-9:]+ \S+ +tests red`).MatchString(out) {
		t.Errorf("issue show lacks the failed attempt:\n%s", out)
	}
	out = must(t, dir, "claim", "--as", "carol")
	// the grace it states is the server's (testCoord: 2 s), not the default
	if !strings.Contains(out, "claimed ") || !strings.Contains(out, "as carol") || !strings.Contains(out, "--grace (2s)") {
		t.Errorf("claim output:\n%s", out)
	}
	held := decode[rpc.WorkersResult](t, must(t, dir, "workers", "--json"))
	var l3 coord.Lease
	for _, w := range held.Workers {
		if w.Name == "carol" && len(w.Leases) == 1 {
			l3 = w.Leases[0]
		}
	}
	if l3.ID == "" {
		t.Fatalf("carol holds no lease after claim: %+v", held)
	}
	if out := must(t, dir, "heartbeat", l3.ID, "--progress", "half way"); !strings.Contains(out, "renewed lease "+l3.ID) {
		t.Errorf("heartbeat output: %q", out)
	}
	if out := must(t, dir, "release", l3.IssueID, "--reason", "lunch"); !strings.Contains(out, "released "+l3.IssueID) {
		t.Errorf("release output: %q", out)
	}
	if st, _ := s.issue(l3.IssueID); st != "open" {
		t.Errorf("released issue has status %q", st)
	}

	// pause refuses claims (exit 4); resume.
	if p := decode[rpc.PauseResult](t, must(t, dir, "pause", "--json")); !p.Paused {
		t.Error("pause --json: paused = false")
	}
	if out := must(t, dir, "status"); !strings.Contains(out, "PAUSED") {
		t.Errorf("status while paused:\n%s", out)
	}
	want(t, dir, exitRefused, []string{"claim"}, "paused", "gtc resume")
	must(t, dir, "resume")
	r := want(t, dir, exitError, []string{"claim", "--label", "no-such-label", "--json"}, "nothing ready")
	if v := decode[struct{ Assignment *rpc.Assignment }](t, r.out); v.Assignment != nil {
		t.Errorf("claim with no match printed an assignment: %s", r.out)
	}

	// usage errors.
	want(t, dir, exitUsage, []string{"status", "extra"}, "takes 0 argument")
	want(t, dir, exitUsage, []string{"ready", "--bogus"})
	want(t, dir, exitUsage, []string{"complete"}, "takes 1 argument")
	want(t, dir, exitUsage, []string{"complete", "L-1", "--outcome", "great"}, "--outcome")
	want(t, dir, exitUsage, []string{"complete", "L-1", "--nope"}, "not defined", "(see gtc complete --help)")
	want(t, dir, exitUsage, []string{"issue", "create", "T", "--deps", "x"}, "not defined: -deps", "(see gtc issue create --help)")
}

func TestClientLeaseHeldByConnectedWorker(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	createIssues(t, dir, "One")
	// A live worker gets the issue pushed and acks it.
	c, err := rpc.Dial(context.Background(), rpc.DialOptions{Network: "unix", Addr: s.d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := make(chan rpc.Assignment, 1)
	c.OnAssign(func(_ context.Context, a rpc.Assignment) (bool, string) { got <- a; return true, "" })
	cancels := make(chan rpc.CancelParams, 1)
	c.OnCancel(func(p rpc.CancelParams) { cancels <- p })
	if _, err := c.Hello(context.Background(), rpc.HelloParams{Name: "w-live", Capacity: 1}); err != nil {
		t.Fatal(err)
	}
	var a rpc.Assignment
	select {
	case a = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no push")
	}
	waitFor(t, 3*time.Second, "ack recorded", func() bool { l, ok := s.d.Engine().Lease(a.Lease.ID); return ok && l.State == coord.LeaseAcked })
	want(t, dir, exitRefused, []string{"complete", a.Lease.IssueID}, "w-live", "connected", "gtc cancel")
	// --force does not let complete act in a connected worker's name (re-trial: it tried to take the
	// session over and the name was refused); release --force takes the lease back, as gtc cancel
	want(t, dir, exitRefused, []string{"complete", a.Lease.IssueID, "--force"}, "connected", "release")
	if out := must(t, dir, "release", a.Lease.IssueID, "--force", "--reason", "operator"); !strings.Contains(out, "took lease "+a.Lease.ID) {
		t.Errorf("release --force output %q", out)
	}
	select {
	case p := <-cancels:
		if p.LeaseID != a.Lease.ID || p.Reason != "operator" {
			t.Errorf("cancel notification %+v", p)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the worker was not told of the cancel")
	}
	want(t, dir, exitRefused, []string{"cancel", a.Lease.ID}, "not_found")
}

func TestClientClaimOutlivesCommandOnlyForGrace(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.Coord.Grace = 300 * time.Millisecond })
	ids := createIssues(t, dir, "Short claim")
	l := decode[struct{ Assignment *rpc.Assignment }](t, must(t, dir, "claim", "--as", "dave", "--json")).Assignment.Lease
	// Disconnected after the command: the lease expires once the grace has passed.
	waitFor(t, 5*time.Second, "lease expiry after grace", func() bool { _, ok := s.d.Engine().Lease(l.ID); return !ok })
	want(t, dir, exitRefused, []string{"complete", l.ID}, "stale_epoch")
	if st, _ := s.issue(ids[0]); st != "open" {
		t.Errorf("expired claim left status %q, want open", st)
	}
}

func TestClientWatch(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ch := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"gtc", "--dir", dir, "watch", "--kind", "claimed", "--count", "1", "--json"}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	// urfave/cli is not safe for concurrent runs (global help flag): the claims go through rpc.Client.
	c := clientSession(t, s, "eve")
	ctx := context.Background()
	// Claim until the watcher has seen one (it may subscribe after the first claim).
	deadline := time.After(10 * time.Second)
	for {
		if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "Watched"}); err != nil {
			t.Fatal(err)
		}
		if r, err := c.Claim(ctx, rpc.ClaimParams{}); err != nil || r.Assignment == nil {
			t.Fatalf("claim: %v %+v", err, r)
		}
		select {
		case r := <-ch:
			if r.code != exitOK {
				t.Fatalf("watch exit %d: %s", r.code, r.err)
			}
			ev := decode[coord.Event](t, r.out)
			if ev.Kind != "claimed" || ev.Worker != "eve" || ev.LeaseID == "" {
				t.Errorf("watch --json event = %+v", ev)
			}
			// the live event carries its audit-log number: gtc events lists it under that number
			logged := decode[coord.Event](t, must(t, dir, "events", "--after", strconv.FormatInt(ev.Seq-1, 10), "--limit", "1", "--json"))
			if ev.Seq == 0 || !logged.Time.Equal(ev.Time) || logged.Kind != ev.Kind || logged.LeaseID != ev.LeaseID || logged.Seq != ev.Seq {
				t.Errorf("watched event %+v; gtc events lists %+v under its seq", ev, logged)
			}
			return
		case <-deadline:
			t.Fatal("watch printed nothing")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestClientTCPToken(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.Listen = "127.0.0.1:0"; c.Token = "sekret" })
	addr, _ := s.d.Addrs()
	if st := decode[rpc.StatusResult](t, must(t, dir, "status", "--addr", addr, "--token", "sekret", "--json")); st.Paused {
		t.Errorf("status over TCP: %+v", st)
	}
	want(t, dir, exitRefused, []string{"status", "--addr", addr, "--token", "wrong"}, "refused the token", "--token")
}

// clientSession opens a client-role session named name on s's socket, closed when the test ends.
func clientSession(t *testing.T, s *liveServer, name string) *rpc.Client {
	t.Helper()
	c, err := rpc.Dial(context.Background(), rpc.DialOptions{Network: "unix", Addr: s.d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Hello(context.Background(), rpc.HelloParams{Name: name, Role: "client"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientWatchSurvivesARestart: gtc watch, left running in a terminal, keeps watching across a
// coordinator restart: it says it lost the connection, reconnects when the server is back, says so, and
// prints the events that come after.
func TestClientWatchSurvivesARestart(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ch := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"gtc", "--dir", dir, "watch", "--kind", "claimed", "--count", "1"}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	connected := func(s *liveServer) func() bool {
		return func() bool {
			for _, w := range s.d.Engine().Workers() {
				if w.Name == cliName && w.Connected {
					return true
				}
			}
			return false
		}
	}
	waitFor(t, 5*time.Second, "watcher connected", connected(s))
	time.Sleep(100 * time.Millisecond) // let it subscribe
	s.Stop()
	select {
	case r := <-ch:
		t.Fatalf("watch ended when the server stopped: exit %d, stderr %q", r.code, r.err)
	case <-time.After(1500 * time.Millisecond): // it retries meanwhile
	}
	s2 := startServer(t, dir, nil)
	waitFor(t, 10*time.Second, "watcher reconnected", connected(s2))
	time.Sleep(100 * time.Millisecond) // let it subscribe again
	c := clientSession(t, s2, "eve")
	ctx := context.Background()
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "After the restart"}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Claim(ctx, rpc.ClaimParams{}); err != nil || r.Assignment == nil {
		t.Fatalf("claim: %v %+v", err, r)
	}
	select {
	case r := <-ch:
		if r.code != exitOK || !strings.Contains(r.out, "claimed") || !strings.Contains(r.out, "eve") {
			t.Errorf("watch after the restart: exit %d, out %q", r.code, r.out)
		}
		if !strings.Contains(r.err, "the connection to the coordinator at") || !strings.Contains(r.err, "reconnected to") {
			t.Errorf("watch did not say it lost and regained the coordinator: stderr %q", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch printed nothing after the restart")
	}
}

// TestClientWatchStopsOnARefusedToken: a coordinator that comes back with another token refuses
// watch's reconnects for good; watch says so and exits instead of retrying every second forever.
func TestClientWatchStopsOnARefusedToken(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.Listen = "127.0.0.1:0"; c.Token = "sekret" })
	addr, _ := s.d.Addrs()
	ch := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run([]string{"gtc", "--dir", dir, "watch", "--addr", addr, "--token", "sekret"}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	waitFor(t, 5*time.Second, "watcher connected", func() bool { return cliConnected(s) })
	s.Stop()
	startServer(t, dir, func(c *daemon.Config) { c.Listen = addr; c.Token = "rotated" })
	select {
	case r := <-ch:
		if r.code != exitRefused || !strings.Contains(r.err, "refused the token") {
			t.Errorf("watch against a rotated token: exit %d, stderr %q", r.code, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch kept retrying a refused token")
	}
}

// TestStatusColumnsAddUp: gtc status names readiness-blocked issues as such and puts the rest of the
// total in OTHER (a workflow type is never schedulable), and does not count its own CLI session.
func TestStatusColumnsAddUp(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	first := decode[issueView](t, must(t, dir, "issue", "create", "First", "--json")).ID
	must(t, dir, "issue", "create", "Second", "--dep", first)
	must(t, dir, "issue", "create", "A molecule", "--type", "molecule")
	out := must(t, dir, "status")
	// ISSUES READY LEASED CLOSED DEAD-LETTERED BLOCKED-BY-DEPS OTHER TOTAL
	if !strings.Contains(out, "BLOCKED BY DEPS") || !regexp.MustCompile(`\n\s+1\s+0\s+0\s+0\s+1\s+1\s+3\s*\n`).MatchString(out) {
		t.Errorf("status: want 1 ready, 1 blocked by deps, 1 other of 3:\n%s", out)
	}
	if strings.Contains(out, "CLI session") {
		t.Errorf("status counted its own session:\n%s", out)
	}
	// nor the session of a command that just ended, whose disconnect the server may not have seen yet
	for i := range 40 {
		must(t, dir, "issue", "list")
		if out := must(t, dir, "status"); strings.Contains(out, "CLI session") {
			t.Fatalf("run %d: status counted the previous command's session:\n%s", i, out)
		}
	}
}

// TestStatusNamesReadyIssuesWaitingForAnAbsentAssignee: a ready issue assigned to a worker goes to that
// worker only; status says how many of the READY ones wait for a worker that is not connected (CLI trial:
// READY counted them with the rest while idle workers got nothing), and not one whose worker is here.
func TestStatusNamesReadyIssuesWaitingForAnAbsentAssignee(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ctx := context.Background()
	if _, err := s.d.Engine().Connect(ctx, coord.Hello{Name: "bob", Capacity: 1}, 901); err != nil {
		t.Fatal(err)
	}
	must(t, dir, "drain", "bob") // connected, but takes nothing: its issue stays ready
	must(t, dir, "issue", "create", "For alice", "--assignee", "alice")
	must(t, dir, "issue", "create", "For bob", "--assignee", "bob")
	must(t, dir, "issue", "create", "Anyone's")
	out := must(t, dir, "status")
	if !regexp.MustCompile(`\n\s+3\s+0\s+0\s+0\s+0\s+0\s+3\s*\n`).MatchString(out) ||
		!strings.Contains(out, "(1 of the ready issues are assigned to workers not connected") {
		t.Errorf("status: want 3 ready, 1 of them waiting for an absent worker:\n%s", out)
	}
	js := decode[rpc.StatusResult](t, must(t, dir, "status", "--json"))
	if js.Issues.Ready != 3 || js.Issues.ReadyForAbsent != 1 {
		t.Errorf("status --json issues %+v: want ready 3, ready_for_absent 1", js.Issues)
	}
	if _, err := s.d.Engine().Connect(ctx, coord.Hello{Name: "alice", Capacity: 1}, 902); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "alice to take her issue", func() bool {
		return decode[rpc.StatusResult](t, must(t, dir, "status", "--json")).Issues.Leased == 1
	})
	if out := must(t, dir, "status"); strings.Contains(out, "not connected") {
		t.Errorf("status with every assignee connected:\n%s", out)
	}
}

// TestClientsReachAServerOnItsOwnSocket: a coordinator started with `gtc serve --socket PATH` (or
// GTC_SOCKET) is reached by every client command through --socket or GTC_SOCKET, from any --dir (trial: no
// command could reach one but over TCP); --addr wins over both, and "-" (serve's "no socket") is the default.
func TestClientsReachAServerOnItsOwnSocket(t *testing.T) {
	dir := newWorkspace(t)
	sock := filepath.Join(t.TempDir(), "g.sock")
	startServer(t, dir, func(c *daemon.Config) { c.Socket = sock })
	elsewhere := t.TempDir()
	want(t, elsewhere, exitNoServer, []string{"status"}, "no coordinator at", "--socket")
	if out := must(t, elsewhere, "issue", "create", "over the socket", "--socket", sock); !strings.Contains(out, "over the socket") {
		t.Errorf("issue create --socket: %s", out)
	}
	t.Setenv("GTC_SOCKET", sock)
	if out := must(t, elsewhere, "issue", "list"); !strings.Contains(out, "over the socket") {
		t.Errorf("issue list with GTC_SOCKET: %s", out)
	}
	want(t, elsewhere, exitNoServer, []string{"status", "--addr", "127.0.0.1:1"}, "no coordinator at 127.0.0.1:1")
	t.Setenv("GTC_SOCKET", "-")
	want(t, elsewhere, exitNoServer, []string{"status"}, filepath.Join(elsewhere, ".beads", "gtc.sock"))
}

// TestWorkersHidesGoneCLISessions: `gtc workers` leaves out CLI sessions that are gone and hold no
// lease (one row per name that ever ran a command piled up), says how many, and --all shows them; a CLI
// session holding a lease stays listed.
func TestWorkersHidesGoneCLISessions(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	createIssues(t, dir, "One", "Two")
	must(t, dir, "claim", "--as", "holder")
	p := decode[struct{ Assignment *rpc.Assignment }](t, must(t, dir, "claim", "--as", "passerby", "--json")).Assignment.Lease
	must(t, dir, "release", p.ID, "--as", "passerby")
	// the server sees each command's connection end a moment after the command exits
	waitFor(t, 10*time.Second, "the CLI sessions to be gone", func() bool {
		for _, w := range s.d.Engine().Workers() {
			if (w.Name == "passerby" || w.Name == "holder") && w.Connected {
				return false
			}
		}
		return true
	})
	out := must(t, dir, "workers")
	if !strings.Contains(out, "holder") || strings.Contains(out, "passerby") || !strings.Contains(out, "not shown; --all shows them") {
		t.Errorf("workers:\n%s", out)
	}
	if out := must(t, dir, "workers", "--all"); !strings.Contains(out, "passerby") {
		t.Errorf("workers --all:\n%s", out)
	}
}

// TestWorkersShowsADrainedGoneWorker: a drained worker that is gone still reads as drained in
// `gtc workers` (its state says gone, which used to hide the drain it will come back under), until
// `gtc drain --undo`.
func TestWorkersShowsADrainedGoneWorker(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	ctx := context.Background()
	if _, err := s.d.Engine().Connect(ctx, coord.Hello{Name: "wx", Capacity: 1}, 999); err != nil {
		t.Fatal(err)
	}
	if err := s.d.Engine().Disconnect(ctx, "wx", 999); err != nil {
		t.Fatal(err)
	}
	must(t, dir, "drain", "wx")
	if out := must(t, dir, "workers"); !regexp.MustCompile(`wx\s+worker\s+gone \(drained\)`).MatchString(out) {
		t.Errorf("workers after draining a gone worker:\n%s", out)
	}
	if out := must(t, dir, "drain", "wx", "--undo"); !strings.Contains(out, "pushed work again") {
		t.Errorf("drain --undo: %s", out)
	}
	if out := must(t, dir, "workers"); strings.Contains(out, "drained") {
		t.Errorf("workers after the undo:\n%s", out)
	}
}

// TestEventsHistory: `gtc events --issue ID` prints that issue's past events in order (claimed, failed,
// requeued, claimed, completed), --limit pages through the log, --json gives one event per line, and a
// multi-line detail stays on its row.
func TestEventsHistory(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	ids := createIssues(t, dir, "Watched", "Other")
	l := decode[struct{ Assignment *rpc.Assignment }](t, must(t, dir, "claim", "--as", "bob", "--json")).Assignment.Lease
	must(t, dir, "fail", l.ID, "--reason", "flaky\nsecond line", "--as", "bob")
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(must(t, dir, "events", "--issue", l.IssueID, "--json")), "\n") {
		ev := decode[coord.Event](t, line)
		if ev.IssueID != l.IssueID {
			t.Fatalf("event of %s listed for %s: %s", ev.IssueID, l.IssueID, line)
		}
		kinds = append(kinds, ev.Kind)
	}
	if !slices.Contains(kinds, "claimed") || !slices.Contains(kinds, "requeued") || slices.Index(kinds, "claimed") > slices.Index(kinds, "requeued") {
		t.Fatalf("history of %s: %v", l.IssueID, kinds)
	}
	all := strings.Split(strings.TrimSpace(must(t, dir, "events", "--json")), "\n")
	one := strings.Split(strings.TrimSpace(must(t, dir, "events", "--json", "--limit", "1")), "\n")
	if len(all) < len(kinds) || len(one) != 1 || one[0] != all[0] {
		t.Fatalf("events: %d in all, --limit 1 gave %d: %v", len(all), len(one), one)
	}
	// a cut log says where the rest is; a whole one says nothing
	first := decode[coord.Event](t, one[0])
	if r := gtc(t, dir, "events", "--limit", "1"); !strings.Contains(r.err, "more follow: gtc events --after "+strconv.FormatInt(first.Seq, 10)) {
		t.Errorf("events --limit 1 of %d: stderr %q", len(all), r.err)
	}
	if r := gtc(t, dir, "events"); r.err != "" {
		t.Errorf("events (all of them): stderr %q", r.err)
	}
	// --limit 0 is all of them, as for issue list and ready (a trial: it was refused here alone)
	if got := strings.Split(strings.TrimSpace(must(t, dir, "events", "--json", "--limit", "0")), "\n"); len(got) != len(all) {
		t.Errorf("events --limit 0: %d events, want all %d", len(got), len(all))
	}
	firstOf := decode[coord.Event](t, strings.Split(must(t, dir, "events", "--issue", l.IssueID, "--json"), "\n")[0])
	if r := gtc(t, dir, "events", "--issue", l.IssueID, "--limit", "1"); !strings.Contains(r.err,
		"more follow: gtc events --issue "+l.IssueID+" --after "+strconv.FormatInt(firstOf.Seq, 10)) {
		t.Errorf("events --issue %s --limit 1: stderr %q", l.IssueID, r.err)
	}
	if out := must(t, dir, "events", "--issue", l.IssueID); !strings.Contains(out, "requeued") || !strings.Contains(out, "bob") ||
		!strings.HasPrefix(strings.TrimSpace(out), "SEQ") || strings.Count(out, "SEQ") != 1 {
		t.Errorf("events table (one header, then the events):\n%s", out)
	} else if !strings.Contains(out, "flaky ⏎ second line") || strings.Contains(out, "\nsecond line") {
		t.Errorf("a multi-line detail broke the table's rows:\n%s", out)
	}
	// an operator's change shows who made it; an issue that does not exist is an error, not "no events"
	must(t, dir, "issue", "close", ids[1], "--reason", "not needed")
	if out := must(t, dir, "events", "--issue", ids[1]); !strings.Contains(out, "status_changed") ||
		!strings.Contains(out, "status open → closed (by "+cliUserName()+")") || userName() != "" && cliUserName() != "gtc-cli@"+userName() {
		t.Errorf("events of an issue closed by hand:\n%s", out)
	}
	want(t, dir, exitRefused, []string{"events", "--issue", "no-such-issue"}, "not_found")

	// a name longer than the columns' widths widens them: the table stays aligned (scale trial: ids of
	// over 12 characters pushed every later column of their rows to the right). The claim waits for the
	// failed issue's retry backoff (20-50 ms here; without the wait it failed 1 run in ~10).
	long := decode[struct{ Assignment *rpc.Assignment }](t, must(t, dir, "claim", "--as", "polecat-with-a-long-name-7", "--wait", "5s", "--json")).Assignment.Lease
	must(t, dir, "release", long.ID, "--as", "polecat-with-a-long-name-7")
	out := strings.Split(strings.TrimRight(must(t, dir, "events"), "\n"), "\n")
	at := strings.Index(out[0], "DETAIL")
	for _, row := range out[1:] {
		if r := []rune(row); len(r) > at && (r[at-1] != ' ' || r[at] == ' ') {
			t.Errorf("row not aligned under the header's DETAIL (column %d):\n%s\n%s", at, out[0], row)
		}
	}
}

// TestStatusAndHealthShowAFailingSync: a file gtc cannot read (conflict markers) stops the JSONL sync;
// `gtc status` says so and `gtc health` is degraded with the reason, until the file is fixed.
func TestStatusAndHealthShowAFailingSync(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	createIssues(t, dir, "One")
	waitFor(t, 5*time.Second, "a sync that succeeded", func() bool {
		return strings.Contains(must(t, dir, "status"), "JSONL sync: ok")
	})
	path := filepath.Join(dir, ".beads", "issues.jsonl")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := "<<<<<<< HEAD\n" + string(good) + "=======\n" + string(good) + ">>>>>>> branch\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "status shows the failing sync", func() bool {
		out := must(t, dir, "status")
		return strings.Contains(out, "JSONL sync: FAILING since") && strings.Contains(out, "conflict")
	})
	waitFor(t, 5*time.Second, "health degraded by the sync", func() bool {
		r := gtc(t, dir, "health")
		return r.code == exitOK && strings.HasPrefix(r.out, "degraded") && strings.Contains(r.out, "JSONL sync failing since")
	})
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the sync recovered", func() bool {
		return strings.Contains(must(t, dir, "status"), "JSONL sync: ok") && strings.HasPrefix(gtc(t, dir, "health").out, "healthy")
	})
}

// TestClaimConvoyFirst: gtc claim --convoy takes the convoy's ready issue before a higher-ranked one
// outside it, and --convoy-only takes nothing else (the filters existed in the protocol only).
func TestClaimConvoyFirst(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	ids := createIssues(t, dir, "Urgent, outside", "In the convoy", "Also outside") // priorities 0, 1, 2
	must(t, dir, "convoy", "create", "alpha", ids[1])
	type claimOut struct{ Assignment *rpc.Assignment }
	got := decode[claimOut](t, must(t, dir, "claim", "--as", "c1", "--convoy", "alpha", "--json"))
	if got.Assignment == nil || got.Assignment.Lease.IssueID != ids[1] {
		t.Fatalf("claim --convoy alpha took %+v, want %s", got.Assignment, ids[1])
	}
	// the convoy's only issue is taken: --convoy-only finds nothing, though two others are ready
	want(t, dir, exitError, []string{"claim", "--as", "c2", "--convoy", "alpha", "--convoy-only"}, "nothing ready in convoy alpha to claim")
	want(t, dir, exitUsage, []string{"claim", "--convoy-only"}, "--convoy-only goes with --convoy")
	want(t, dir, exitRefused, []string{"claim", "--as", "c3", "--convoy", "alpah"}, `no convoy "alpah"`) // a typo claims nothing
}

// TestIssueShowSaysWhyNotReady: gtc issue show has a "ready" row naming what holds the issue back.
func TestIssueShowSaysWhyNotReady(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	first := decode[issueView](t, must(t, dir, "issue", "create", "First", "--json")).ID
	second := decode[issueView](t, must(t, dir, "issue", "create", "Second", "--dep", first, "--json")).ID
	if out := must(t, dir, "issue", "show", second); !strings.Contains(out, "not ready: blocked by "+first+" (open)") {
		t.Errorf("issue show of a blocked issue:\n%s", out)
	}
	if out := must(t, dir, "issue", "show", first); !regexp.MustCompile(`(?m)^\s*ready\s+ready\s*$`).MatchString(out) {
		t.Errorf("issue show of a ready issue:\n%s", out)
	}
}

// TestIssueShowReportsTheSummary: issue show's attempt history carries a completion's summary and commit
// (only gtc events had them), and a failed attempt's error.
func TestIssueShowReportsTheSummary(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	ids := createIssues(t, dir, "Fix login")
	must(t, dir, "claim", "--as", "w1")
	must(t, dir, "fail", ids[0], "--as", "w1", "--reason", "tests red")
	must(t, dir, "claim", "--as", "w1", "--wait", "5s") // after the backoff (50 ms at most here)
	must(t, dir, "complete", ids[0], "--as", "w1", "--summary", "token refresh fixed", "--commit", "abc123")
	out := must(t, dir, "issue", "show", ids[0])
	for _, re := range []string{`(?m)^\s*\S+\s+1\s+w1\s+ended\s+failure\s+[0-9-]+ [0-9:]+ \S+\s+tests red$`,
		`(?m)^\s*\S+\s+2\s+w1\s+ended\s+success\s+[0-9-]+ [0-9:]+ \S+\s+token refresh fixed \(commit abc123\)$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("issue show lacks %s:\n%s", re, out)
		}
	}
}

// TestIssueCreateParent: issue create --parent numbers the child as bd does and links it to the parent.
func TestIssueCreateParent(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	epic := decode[issueView](t, must(t, dir, "issue", "create", "Epic", "--type", "epic", "--json")).ID
	for i, title := range []string{"First step", "Second step"} {
		child := decode[issueView](t, must(t, dir, "issue", "create", title, "--parent", epic, "--json"))
		if want := fmt.Sprintf("%s.%d", epic, i+1); child.ID != want || len(child.Dependencies) != 1 ||
			child.Dependencies[0].DependsOnID != epic || child.Dependencies[0].Type != "parent-child" {
			t.Fatalf("child %d: %+v, want %s with a parent-child dependency on %s", i+1, child, want, epic)
		}
	}
	want(t, dir, exitRefused, []string{"issue", "create", "Orphan", "--parent", "t-nope"}, "parent t-nope does not exist")
	// the epic's show lists its children
	out := must(t, dir, "issue", "show", epic)
	for i, title := range []string{"First step", "Second step"} {
		re := fmt.Sprintf(`(?m)^%s\.%d\s+parent-child\s+open\s+%s$`, regexp.QuoteMeta(epic), i+1, title)
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("issue show %s lacks child %d:\n%s", epic, i+1, out)
		}
	}
}

// TestIssueDepAndComment: issue dep add holds an issue back until the other is closed, dep remove lets
// it go, a cycle is refused; issue comment shows in issue show.
func TestIssueDepAndComment(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	ids := createIssues(t, dir, "Build", "Deploy")
	must(t, dir, "issue", "dep", "add", ids[1], ids[0])
	if out := must(t, dir, "issue", "show", ids[1]); !strings.Contains(out, "not ready: blocked by "+ids[0]+" (open)") {
		t.Fatalf("after dep add:\n%s", out)
	}
	want(t, dir, exitRefused, []string{"issue", "dep", "add", ids[0], ids[1]}, "dependency cycle")
	want(t, dir, exitUsage, []string{"issue", "dep", "add", ids[0]}, "takes 2 argument(s)")
	must(t, dir, "issue", "dep", "remove", ids[1], ids[0])
	if out := must(t, dir, "issue", "show", ids[1]); !regexp.MustCompile(`(?m)^\s*ready\s+ready\s*$`).MatchString(out) {
		t.Fatalf("after dep remove:\n%s", out)
	}
	want(t, dir, exitRefused, []string{"issue", "dep", "remove", ids[1], ids[0]}, "no blocks dependency")
	must(t, dir, "issue", "comment", ids[0], "needs the new\nbuild image", "--author", "mayor")
	if out := must(t, dir, "issue", "show", ids[0]); !regexp.MustCompile(`(?m)^\S+  mayor:\n  needs the new\n  build image$`).MatchString(out) {
		t.Fatalf("comment not shown:\n%s", out)
	}
	// without --author the comment is the user's, not the CLI session's name
	must(t, dir, "issue", "comment", ids[0], "second thoughts")
	if out := must(t, dir, "issue", "show", ids[0]); !strings.Contains(out, "  "+userName()+":\n  second thoughts") || userName() == "" {
		t.Fatalf("comment without --author not by %q:\n%s", userName(), out)
	}
}

// TestClientWatchCatchesUpAfterARestart: the events committed between a coordinator's restart and the
// watch's reconnect are printed from the audit log when it is back (they were lost: only live events
// were shown), once each, the live ones after them; also by a watch that had printed nothing yet (its
// catch-up starts where its first subscription began).
func TestClientWatchCatchesUpAfterARestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		claimBefore bool
	}{{"after printing one", true}, {"before printing any", false}} {
		t.Run(tc.name, func(t *testing.T) { watchAcrossRestart(t, tc.claimBefore) })
	}
}

// createAndClaim creates an issue and claims one (the claimed event a watch waits for) as eve.
func createAndClaim(t *testing.T, s *liveServer, title string) {
	t.Helper()
	c := clientSession(t, s, "eve")
	ctx := context.Background()
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: title}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Claim(ctx, rpc.ClaimParams{}); err != nil || r.Assignment == nil {
		t.Fatalf("claim: %v %+v", err, r)
	}
}

// cliConnected says whether a CLI session (a watch) is connected to s.
func cliConnected(s *liveServer) bool {
	for _, w := range s.d.Engine().Workers() {
		if w.Name == cliName && w.Connected {
			return true
		}
	}
	return false
}

func watchAcrossRestart(t *testing.T, claimBefore bool) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	prev := watchRetry
	watchRetry = 3 * time.Second // room for a restart and a claim before the watch is back, on a loaded machine
	t.Cleanup(func() { watchRetry = prev })
	want := 2
	if claimBefore {
		want = 3
	}
	claim := func(s *liveServer, title string) { t.Helper(); createAndClaim(t, s, title) }
	if !claimBefore {
		claim(s, "Before the watch") // not the watch's to print, restart or not
	}
	ch := make(chan result, 1)
	var out, errb lockedBuffer
	go func() {
		code := run([]string{"gtc", "--dir", dir, "watch", "--kind", "claimed", "--count", strconv.Itoa(want), "--json"}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	subscribed := func() bool { return cliConnected(s) }
	waitFor(t, 5*time.Second, "watcher connected", subscribed)
	time.Sleep(100 * time.Millisecond) // let it subscribe
	if claimBefore {
		claim(s, "Before the restart")
		waitFor(t, 5*time.Second, "first claim printed", func() bool { return strings.Contains(out.String(), `"claimed"`) })
	}
	s.Stop()
	// the watch retries every 3 s: the restarted server commits a claim before it is back
	waitFor(t, 5*time.Second, "watch retrying", func() bool { return strings.Contains(errb.String(), "retrying every 3s") })
	s = startServer(t, dir, nil)
	claim(s, "While the watch was away")
	if subscribed() {
		t.Fatal("the watch reconnected before the claim: the test needs it to come after")
	}
	waitFor(t, 10*time.Second, "watcher reconnected", subscribed)
	time.Sleep(100 * time.Millisecond) // let it subscribe again
	claim(s, "After it came back")
	select {
	case r := <-ch:
		if r.code != exitOK {
			t.Fatalf("watch exit %d: %s", r.code, r.err)
		}
		var seqs []int64
		var titles []string
		for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
			ev := decode[coord.Event](t, line)
			seqs = append(seqs, ev.Seq)
			titles = append(titles, ev.IssueID)
		}
		if len(seqs) != want || !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != want {
			t.Fatalf("watched %v (seq %v), want the %d claims in order, once each", titles, seqs, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not print %d claims; stdout %q stderr %q", want, out.String(), errb.String())
	}
}

// TestClientStatusShowsStore: gtc status says how big gtc.db is and how long it keeps its history, and
// when it last pruned; with --retain 0 (Retain < 0) that it keeps everything.
func TestClientStatusShowsStore(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, func(c *daemon.Config) { c.Retain, c.PruneEvery = time.Hour, 20*time.Millisecond })
	createIssues(t, dir, "Write docs")
	waitFor(t, 5*time.Second, "a prune in status", func() bool {
		return regexp.MustCompile(`(?m)^store: \S+gtc\.db \d+\.\d MB \(WAL \d+\.\d MB\); history kept 1h, pruned \d+s ago$`).
			MatchString(must(t, dir, "status"))
	})
	st := decode[rpc.StatusResult](t, must(t, dir, "status", "--json"))
	if si := st.Store; si == nil || si.Bytes == 0 || si.RetainMS != 3600000 || si.LastPrune == nil || si.Pruned == nil {
		t.Errorf("status --json store = %+v, want size, retention, last prune and counts", si)
	}

	dir = newWorkspace(t)
	startServer(t, dir, func(c *daemon.Config) { c.Retain = -1 })
	if out := must(t, dir, "status"); !strings.Contains(out, "history kept for good (--retain 0)") {
		t.Errorf("status with Retain < 0:\n%s", out)
	}
}

// TestClientWatchSaysWhatRetentionPruned: events pruned by the restarted coordinator's retention before
// the watch was back cannot be caught up; the watch says which ones it could not show.
func TestClientWatchSaysWhatRetentionPruned(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	prev := watchRetry
	watchRetry = 2 * time.Second
	t.Cleanup(func() { watchRetry = prev })
	ch := make(chan result, 1)
	var out, errb lockedBuffer
	go func() {
		code := run([]string{"gtc", "--dir", dir, "watch", "--kind", "claimed", "--count", "2", "--json"}, &out, &errb)
		ch <- result{out.String(), errb.String(), code}
	}()
	claim := func(s *liveServer, title string) { t.Helper(); createAndClaim(t, s, title) }
	waitFor(t, 5*time.Second, "watcher connected", func() bool { return cliConnected(s) })
	time.Sleep(100 * time.Millisecond) // let it subscribe
	claim(s, "Before the restart")
	waitFor(t, 5*time.Second, "first claim printed", func() bool { return strings.Contains(out.String(), `"claimed"`) })
	s.Stop()
	// back two hours later by its clock, keeping one hour: what the first server logged is pruned
	s = startServer(t, dir, func(c *daemon.Config) {
		c.Clock, c.Retain, c.PruneEvery = coord.NewFakeClock(time.Now().Add(2*time.Hour)), time.Hour, 20*time.Millisecond
	})
	claim(s, "While the watch was away")
	waitFor(t, 5*time.Second, "the first server's events pruned", func() bool {
		evs, err := s.d.Store().Events(context.Background(), 0, 1)
		return err == nil && len(evs) == 1 && evs[0].Seq > 1
	})
	select {
	case r := <-ch:
		if r.code != exitOK || strings.Count(r.out, `"claimed"`) != 2 {
			t.Fatalf("watch exit %d, printed:\n%s\nstderr: %s", r.code, r.out, r.err)
		}
		if !regexp.MustCompile(`events \d+ to \d+ were pruned from the audit log \(gtc serve --retain\) before the watch was back`).MatchString(r.err) {
			t.Errorf("the watch did not say what was pruned; stderr:\n%s", r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("watch did not print two claims; stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{720 * time.Hour: "720h", 90 * time.Minute: "1h30m", time.Hour + 30*time.Second: "1h0m30s",
		10 * time.Minute: "10m", 90 * time.Second: "1m30s", 45 * time.Second: "45s", 1500 * time.Millisecond: "1.5s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestIssueShowSaysWhenNoAttemptIsOnRecord: a closed issue without leases (closed by hand, or its attempt
// history pruned) says so instead of looking never worked on; an open, unstarted one says nothing.
func TestIssueShowSaysWhenNoAttemptIsOnRecord(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	ids := createIssues(t, dir, "Closed by hand", "Still open")
	must(t, dir, "issue", "close", ids[0])
	const note = "no attempts on record (gtc keeps the attempt history for `gtc serve --retain`"
	if out := must(t, dir, "issue", "show", ids[0]); !strings.Contains(out, note) {
		t.Errorf("closed issue without leases:\n%s", out)
	}
	if out := must(t, dir, "issue", "show", ids[1]); strings.Contains(out, "no attempts on record") {
		t.Errorf("open issue never started:\n%s", out)
	}
}

// TestSeqGaps: the catch-up names every run of numbers missing from the log it reads, not only one before
// the first event (a batch stamped ahead by a wrong clock outlives the old ones after it).
func TestSeqGaps(t *testing.T) {
	for _, tc := range []struct {
		from int64
		seqs []int64
		want [][2]int64
	}{
		{10, []int64{11, 12, 13}, nil},
		{10, []int64{14, 15}, [][2]int64{{11, 13}}},
		{1, []int64{2, 4, 5, 9}, [][2]int64{{3, 3}, {6, 8}}},
		{0, []int64{1}, nil},
	} {
		g := seqGaps{next: tc.from + 1}
		var got [][2]int64
		for _, s := range tc.seqs {
			if lo, hi, gap := g.see(s); gap {
				got = append(got, [2]int64{lo, hi})
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after %d reading %v: gaps %v, want %v", tc.from, tc.seqs, got, tc.want)
		}
	}
}

// TestIssueUpdateSaysTheSchedulerActed: a status set by hand that the scheduler acts on at once (an idle
// worker takes the reopened issue) prints the status asked for beside the one the issue has now (fleet
// trial: `--status open` printed "hooked" alone).
func TestIssueUpdateSaysTheSchedulerActed(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	id := createIssues(t, dir, "Parked")[0]
	must(t, dir, "issue", "update", id, "--status", "blocked")
	if _, err := s.d.Engine().Connect(context.Background(), coord.Hello{Name: "idle-worker", Capacity: 1}, 4242); err != nil {
		t.Fatal(err)
	}
	out := must(t, dir, "issue", "update", id, "--status", "open")
	if !strings.Contains(out, "(status set to open; it is hooked now") && !strings.Contains(out, "(status set to open; it is in_progress now") {
		t.Errorf("update of an issue an idle worker takes at once:\n%s", out)
	}
	if out := must(t, dir, "issue", "update", id, "--priority", "0"); strings.Contains(out, "status set to") {
		t.Errorf("an update without --status talks of a status:\n%s", out)
	}
}
