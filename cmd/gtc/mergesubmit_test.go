package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestMergeSubmitWaitsForARestartingServer: `gtc merge submit` run while no coordinator answers (one
// restarting under an agent) retries for --wait instead of failing the agent's attempt at once; with
// --wait 0 it fails at once (exit 3), as before.
func TestMergeSubmitWaitsForARestartingServer(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	s.Stop()

	if r := gtc(t, dir, "merge", "submit", "t-1", "b/t-1", "--file", "a.go", "--wait", "0"); r.code != exitNoServer {
		t.Fatalf("--wait 0 without a server: exit %d (%q), want %d", r.code, r.err, exitNoServer)
	}
	succeedsOnceServed(t, dir, "queued MR-", "merge", "submit", "t-1", "b/t-1", "--file", "a.go", "--wait", "20s")
	if out := must(t, dir, "merge", "list"); strings.Count(out, "MR-") != 1 {
		t.Fatalf("merge list after the retried submit:\n%s", out)
	}
}

// TestIssueCreateWaitsForARestartingServer: issue create --wait retries while no coordinator answers
// and creates the issue once, when one is back (a script's creates failed during each restart); without
// --wait it fails at once.
func TestIssueCreateWaitsForARestartingServer(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	s.Stop()
	if r := gtc(t, dir, "issue", "create", "Too early"); r.code != exitNoServer {
		t.Fatalf("create without a server: exit %d (%q), want %d", r.code, r.err, exitNoServer)
	}
	succeedsOnceServed(t, dir, "created ", "issue", "create", "Patient", "--wait", "20s")
	if out := must(t, dir, "issue", "list"); strings.Count(out, "Patient") != 1 || strings.Contains(out, "Too early") {
		t.Fatalf("issues after the retried create:\n%s", out)
	}
}

// succeedsOnceServed runs the CLI command args in dir while no coordinator serves it: it must still be
// retrying 700 ms later, and succeed, printing want, once a coordinator is started there.
func succeedsOnceServed(t *testing.T, dir, want string, args ...string) {
	t.Helper()
	done := make(chan result, 1)
	go func() { done <- gtc(t, dir, args...) }()
	time.Sleep(700 * time.Millisecond) // the command finds no server, and retries
	select {
	case r := <-done:
		t.Fatalf("%s returned before a server came back: exit %d %q", args[0], r.code, r.err)
	default:
	}
	startServer(t, dir, nil)
	select {
	case r := <-done:
		if r.code != exitOK || !strings.Contains(r.out, want) {
			t.Fatalf("%s after the restart: exit %d out %q err %q", args[0], r.code, r.out, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not finish after the server came back", args[0])
	}
}

// TestMergeSubmitNotesAReadyIssue: a submit for an issue still handed out says on stderr that a worker may
// take it and that the merge will not close it (a trial: the branch merged, the issue stayed open and was
// done again); a closed issue's submit says nothing more.
func TestMergeSubmitNotesAReadyIssue(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	must(t, dir, "issue", "create", "two", "--id", "t-2")
	must(t, dir, "issue", "close", "t-2", "--reason", "done")
	r := gtc(t, dir, "merge", "submit", "t-1", "b/t-1")
	if r.code != exitOK || !strings.HasPrefix(r.out, "queued MR-") || !strings.Contains(r.err, "note: t-1 is ready: a worker may take it while this merges, and the merge will not close it") {
		t.Fatalf("submit of a ready issue: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	if r := gtc(t, dir, "merge", "submit", "t-2", "b/t-2"); r.code != exitOK || r.err != "" {
		t.Fatalf("submit of a closed issue: exit %d, stderr %q", r.code, r.err)
	}
}

// TestNotFoundHintsAndEmptyTargets: a missing convoy, merge request or worker points at its own list,
// and merge list --target onto a branch nothing targets says requests wait onto others (CLI trial: each
// said to check `gtc issue list`, and "the merge queue is empty" beside pending requests onto main).
func TestNotFoundHintsAndEmptyTargets(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	must(t, dir, "merge", "submit", "t-1", "b/t-1", "--file", "a.go")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"convoy", "show", "nope"}, "`gtc convoy list`"},
		{[]string{"merge", "cancel", "MR-999"}, "`gtc merge list`"},
		{[]string{"merge", "cancel", "t-1"}, "`gtc merge cancel --issue t-1`"}, // an issue id for the request's
		{[]string{"drain", "nosuchworker"}, "`gtc workers --all`"},
	} {
		if r := gtc(t, dir, tc.args...); r.code != exitRefused || !strings.Contains(r.err, tc.want) {
			t.Errorf("gtc %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), r.code, r.err, exitRefused, tc.want)
		}
	}
	if out := must(t, dir, "merge", "list", "--target", "nope"); !strings.Contains(out, "no merge requests onto nope (1 onto other branches") {
		t.Errorf("merge list --target nope: %q", out)
	}
}

// TestOperatorActionsNameTheirActor: pause, resume, drain, undrain and cancel record the CLI session that
// asked as the event's actor, shown as "(by …)" (CLI trial: each said actor "gtc", so the audit log could
// not say who paused the fleet or took a lease).
func TestOperatorActionsNameTheirActor(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	must(t, dir, "claim", "--as", "holder")
	must(t, dir, "drain", "holder")
	must(t, dir, "drain", "holder", "--undo")
	must(t, dir, "cancel", "t-1")
	must(t, dir, "merge", "submit", "t-1", "b/t-1", "--file", "a.go")
	must(t, dir, "merge", "cancel", "--issue", "t-1")
	must(t, dir, "pause")
	must(t, dir, "resume")
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(must(t, dir, "events", "--json", "--limit", "0")), "\n") {
		ev := decode[coord.Event](t, line)
		got[ev.Kind] = ev.Actor
	}
	me := cliUserName()
	for _, k := range []string{"draining", "undrained", "cancelled", "merge_cancelled", "paused", "resumed"} {
		if got[k] != me {
			t.Errorf("%s event: actor %q, want %q", k, got[k], me)
		}
	}
	if got["claimed"] != "gtc" {
		t.Errorf("the scheduler's own event: actor %q", got["claimed"])
	}
	if out := must(t, dir, "events"); !strings.Contains(out, "(by "+me+")") {
		t.Errorf("gtc events does not show the actor:\n%s", out)
	}
}

// TestConvoyShowWrapsItsIssues: gtc convoy show prints a big convoy's ids wrapped, at most convoyShowIDs
// of them, and says how to see the rest (CLI trial: 2,000 ids on one 31,731-character line).
func TestConvoyShowWrapsItsIssues(t *testing.T) {
	dir := newWorkspace(t)
	var lines []string
	ids := []string{"convoy", "create", "big"}
	for i := range convoyShowIDs + 30 {
		id := fmt.Sprintf("t-%d", i) // unpadded: shown in natural order, t-2 before t-10
		lines = append(lines, fmt.Sprintf(`{"id":%q,"title":"x","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z"}`, id))
		ids = append(ids, id)
	}
	if err := os.WriteFile(filepath.Join(dir, ".beads", "issues.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir, nil)
	must(t, dir, ids...)
	out := must(t, dir, "convoy", "show", "big")
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 110 {
			t.Fatalf("a line of %d characters:\n%s", len(l), out)
		}
	}
	if !strings.Contains(out, "t-199") || strings.Contains(out, "t-200") || !strings.Contains(out, "… and 30 more") {
		t.Fatalf("convoy show big:\n%s", out)
	}
}

// TestMergeListCountsTheRunningTry: TRIES counts the attempts started, the one a refinery runs included
// (trial: a merging request showed TRIES 0 while its merge_started event said "attempt 1").
func TestMergeListCountsTheRunningTry(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, nil)
	must(t, dir, "issue", "create", "one", "--id", "t-1")
	must(t, dir, "merge", "submit", "t-1", "b/t-1", "--file", "a.go")
	row := func() []string {
		for _, l := range strings.Split(must(t, dir, "merge", "list"), "\n") {
			if strings.HasPrefix(l, "MR-") {
				return strings.Fields(l)
			}
		}
		t.Fatal("no request in merge list")
		return nil
	}
	// ID ISSUE STATE BRANCH TARGET TRIES ...
	if r := row(); r[2] != "pending" || r[5] != "0" {
		t.Fatalf("a pending request never tried: %v", r)
	}
	if _, err := s.d.Engine().Connect(context.Background(), coord.Hello{Name: "rf", Role: coord.RoleRefinery, Capacity: 1}, 777); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the refinery to take the request", func() bool { return row()[2] == "merging" })
	if r := row(); r[5] != "1" || r[6] != "rf" {
		t.Fatalf("a request merging on its first attempt: %v, want TRIES 1 on rf", r)
	}
}
