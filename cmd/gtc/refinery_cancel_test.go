package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/rpc"
)

// The refinery takes a merge push once per slot: a cancel read before the push (it runs on the reader,
// the push on a goroutine of its own), a second push of a slot queued or running (after a reconnect),
// and a push of a slot cancelled while it ran are not queued again.
func TestRefineryTakesASlotOnce(t *testing.T) {
	m := func(epoch int64) coord.MergeRequest {
		return coord.MergeRequest{ID: "MR-1", IssueID: "gt-1", Epoch: epoch}
	}
	cancel := func(epoch int64) rpc.CancelParams {
		return rpc.CancelParams{MergeID: "MR-1", Epoch: epoch, IssueID: "gt-1"}
	}
	tests := []struct {
		name  string
		steps func(r *refineryLoop)
		want  int // merges queued
	}{
		{"a push is queued", func(r *refineryLoop) { r.take(m(3)) }, 1},
		{"the same slot pushed twice", func(r *refineryLoop) { r.take(m(3)); r.take(m(3)) }, 1},
		{"a later slot of the request", func(r *refineryLoop) { r.take(m(3)); r.take(m(4)) }, 2},
		{"the cancel read before the push", func(r *refineryLoop) { r.cancel(cancel(3)); r.take(m(3)) }, 0},
		{"a cancel of another slot", func(r *refineryLoop) { r.cancel(cancel(2)); r.take(m(3)) }, 1},
		{"a lease cancel", func(r *refineryLoop) { r.cancel(rpc.CancelParams{LeaseID: "L-1", Epoch: 3}); r.take(m(3)) }, 1},
		{"a push of the slot running", func(r *refineryLoop) { cur := m(3); r.cur, r.stopCur = &cur, func() {}; r.take(m(3)) }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &refineryLoop{jobs: make(chan coord.MergeRequest, 8), queued: map[mergeSlot]bool{}, cancelled: map[mergeSlot]bool{}}
			tc.steps(r)
			if got := len(r.jobs); got != tc.want {
				t.Fatalf("%d merges queued, want %d", got, tc.want)
			}
		})
	}
	r := &refineryLoop{jobs: make(chan coord.MergeRequest, 8), queued: map[mergeSlot]bool{}, cancelled: map[mergeSlot]bool{}}
	for e := range int64(maxCancelled + 10) {
		r.cancel(cancel(e))
	}
	if len(r.cancelled) != maxCancelled || r.cancelled[mergeSlot{"MR-1", 0}] || !r.cancelled[mergeSlot{"MR-1", maxCancelled + 9}] {
		t.Fatalf("cancelled slots: %d kept, want the newest %d", len(r.cancelled), maxCancelled)
	}
}

// cutProxy forwards unix connections to addr; cut closes every connection open through it, and while
// down it closes the connections it accepts.
type cutProxy struct {
	mu     sync.Mutex
	conns  []net.Conn
	n      int
	down   bool
	frozen bool // forwards nothing, closes nothing: a network partition
}

func startCutProxy(t *testing.T, path, addr string) *cutProxy {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &cutProxy{}
	go func() {
		for {
			a, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				a.Close()
				continue
			}
			b, err := net.Dial("unix", addr)
			if err != nil {
				a.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, a, b)
			p.n++
			p.mu.Unlock()
			go func() { p.copy(a, b); a.Close(); b.Close() }()
			go func() { p.copy(b, a); a.Close(); b.Close() }()
		}
	}()
	return p
}

// copy forwards src to dst, holding what it read while the proxy is frozen.
func (p *cutProxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for {
			p.mu.Lock()
			frozen := p.frozen
			p.mu.Unlock()
			if !frozen {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze stops forwarding (nothing is closed), or resumes it.
func (p *cutProxy) freeze(on bool) { p.mu.Lock(); p.frozen = on; p.mu.Unlock() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// setDown cuts the open connections and refuses new ones while down.
func (p *cutProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

func (p *cutProxy) accepted() int { p.mu.Lock(); defer p.mu.Unlock(); return p.n }

// proxiedRefinery is a refinery merging MR-1 (issue gt-1, branch f1) through a cutProxy, with a gate
// that counts its runs and waits for release.
type proxiedRefinery struct {
	t     *testing.T
	d     *daemon.Daemon
	dir   string
	pre   string // main before the merge
	marks string
	px    *cutProxy
	out   *lockedBuffer
}

// startProxiedRefinery serves gt-1 with MR-1 submitted and runs a refinery on it through a proxy until
// the test ends; backoffMax bounds its reconnect delay.
func startProxiedRefinery(t *testing.T, backoffMax time.Duration, tweak ...func(*refineryOptions)) *proxiedRefinery {
	dir := t.TempDir()
	d := rfServe(t, dir, "gt-1")
	rfBranch(t, dir, "f1", "a.txt", "one\n")
	r := &proxiedRefinery{t: t, d: d, dir: dir, pre: rfGit(t, dir, "rev-parse", "main"), marks: t.TempDir(), out: &lockedBuffer{}}
	gate := `echo x >> ` + r.marks + `/runs; while [ ! -f ` + r.marks + `/release ]; do sleep 0.05; done`
	rfMust(t, dir, "merge", "submit", "gt-1", "f1")
	sock := filepath.Join(t.TempDir(), "p.sock")
	r.px = startCutProxy(t, sock, d.SocketPath())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := refineryOptions{Target: dialTarget{Network: "unix", Addr: sock},
		Name: "ref", Repo: dir, Gate: gate, Out: r.out, BackoffMax: backoffMax,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range tweak {
		f(&o)
	}
	go func() { done <- runRefineryLoop(ctx, o) }()
	t.Cleanup(func() { stop(); <-done })
	return r
}

// runs counts the gate's runs.
func (r *proxiedRefinery) runs() int {
	b, _ := os.ReadFile(filepath.Join(r.marks, "runs"))
	return strings.Count(string(b), "x")
}

// release lets the running gate pass.
func (r *proxiedRefinery) release() {
	if err := os.WriteFile(filepath.Join(r.marks, "release"), nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// waitFor polls f for up to 20 s.
func (r *proxiedRefinery) waitFor(what string, f func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; refinery output:\n%s", what, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitDisconnected waits until the coordinator has seen the refinery's connection end.
func (r *proxiedRefinery) waitDisconnected() {
	r.t.Helper()
	r.waitFor("the refinery to be disconnected", func() bool {
		for _, w := range r.d.Engine().Workers() {
			if w.Name == "ref" {
				return !w.Connected
			}
		}
		return false
	})
}

// cancelMR1 cancels the merge request through the engine.
func (r *proxiedRefinery) cancelMR1() {
	if _, err := r.d.Engine().MergeCancel(context.Background(), coord.MergeCancel{ID: "MR-1", Reason: "wrong branch"}); err != nil {
		r.t.Fatal(err)
	}
}

// A refinery whose connection blips while it merges gets its slot pushed again on reconnect; a
// merge.cancel then stops the running merge, and the second push must not merge the cancelled
// request (it did: the target moved, the queue said cancelled).
func TestRefineryCancelAfterReconnectDoesNotLand(t *testing.T) {
	r := startProxiedRefinery(t, 200*time.Millisecond)
	r.waitFor("the gate to start", func() bool { return r.runs() == 1 })
	r.px.cut() // the refinery's connection blips while the gate runs
	r.waitFor("the refinery to reconnect", func() bool { return r.px.accepted() >= 2 })
	time.Sleep(500 * time.Millisecond) // the slot it holds is pushed again on the new session
	r.cancelMR1()
	r.waitFor("the running merge to stop", func() bool { return strings.Contains(r.out.String(), "stopped before it landed") })
	r.release()
	time.Sleep(time.Second) // room for a second copy to run, if one was queued
	if n := r.runs(); n != 1 {
		t.Fatalf("the gate ran %d times, want once; refinery output:\n%s", n, r.out.String())
	}
	if got := rfGit(t, r.dir, "rev-parse", "main"); got != r.pre {
		t.Fatalf("MR-1 was cancelled, yet main moved %s -> %s; refinery output:\n%s", r.pre, got, r.out.String())
	}
}

// A refinery disconnected when its merge is cancelled gets no cancel (nothing is connected to take
// it) and its slot is not pushed again on reconnect: it checks the slots it holds against merge.list
// and stops the cancelled one. Left running, the merge landed on main once the gate passed.
func TestRefineryCancelledWhileDisconnectedStops(t *testing.T) {
	r := startProxiedRefinery(t, 100*time.Millisecond)
	r.waitFor("the gate to start", func() bool { return r.runs() == 1 })
	r.px.setDown(true) // the refinery is away while the merge is cancelled
	r.waitDisconnected()
	r.cancelMR1()
	r.px.setDown(false)
	r.waitFor("the running merge to stop", func() bool { return strings.Contains(r.out.String(), "stopped before it landed") })
	r.release()
	time.Sleep(500 * time.Millisecond) // room for the merge to land, if it still ran
	if got := rfGit(t, r.dir, "rev-parse", "main"); got != r.pre || r.runs() != 1 {
		t.Fatalf("MR-1 was cancelled, yet main moved %s -> %s (gate ran %d times); refinery output:\n%s", r.pre, got, r.runs(), r.out.String())
	}
}

// TestMergeSubmitFromWorkerScript: `gtc merge submit` run by a worker's --exec for its issue (GTC_ISSUE_ID,
// GTC_LEASE_ID, GTC_LEASE_EPOCH set) is filed under the lease's worker, not the CLI's name, without
// acting as that worker; with an epoch that is no longer the lease's it is refused (exit 4) — an agent
// that outlived its lease cannot queue its work.
func TestMergeSubmitFromWorkerScript(t *testing.T) {
	dir := t.TempDir()
	rfServe(t, dir)
	rfBranch(t, dir, "f1", "a.txt", "one\n")
	rfMust(t, dir, "issue", "create", "Work", "--id", "gt-1")
	var claimed struct {
		Assignment struct {
			Lease struct {
				ID    string
				Epoch int64
			}
		}
	}
	if err := json.Unmarshal([]byte(rfMust(t, dir, "claim", "--as", "agent-7", "--json")), &claimed); err != nil {
		t.Fatal(err)
	}
	l := claimed.Assignment.Lease
	t.Setenv("GTC_ISSUE_ID", "gt-1")
	t.Setenv("GTC_LEASE_ID", l.ID)
	t.Setenv("GTC_LEASE_EPOCH", strconv.FormatInt(l.Epoch+1, 10))
	if r := rfRun(dir, "merge", "submit", "gt-1", "f1"); r.code != exitRefused || !strings.Contains(r.err, "stale_epoch") {
		t.Fatalf("submit with an epoch not the lease's: exit %d %q", r.code, r.err)
	}
	t.Setenv("GTC_LEASE_EPOCH", strconv.FormatInt(l.Epoch, 10))
	var sub struct{ Request coord.MergeRequest }
	if err := json.Unmarshal([]byte(rfMust(t, dir, "merge", "submit", "gt-1", "f1", "--json")), &sub); err != nil {
		t.Fatal(err)
	}
	if sub.Request.Worker != "agent-7" {
		t.Fatalf("request filed under %q, want the lease's worker agent-7", sub.Request.Worker)
	}
}

// TestRefineryCutOffDoesNotLand: a refinery cut off from the coordinator when its gate passes cannot
// confirm it still holds the slot (which may have expired and gone to another refinery merging into
// the same target): it does not land the merge while it cannot, and once back it confirms the slot and
// lands it, once. Before, a refinery cut off by a network partition landed merges after its slot had
// expired (a trial saw two merges onto one target at once).
func TestRefineryCutOffDoesNotLand(t *testing.T) {
	r := startProxiedRefinery(t, 100*time.Millisecond)
	r.waitFor("the gate to start", func() bool { return r.runs() == 1 })
	r.px.setDown(true)
	r.waitDisconnected()
	r.release()
	r.waitFor("the merge to wait for its slot", func() bool { return strings.Contains(r.out.String(), "waiting to confirm the slot") })
	time.Sleep(1500 * time.Millisecond) // it asks again every second meanwhile
	if got := rfGit(t, r.dir, "rev-parse", "main"); got != r.pre {
		t.Fatalf("a refinery cut off from the coordinator landed MR-1: main %s -> %s; output:\n%s", r.pre, got, r.out.String())
	}
	r.px.setDown(false)
	r.waitFor("MR-1 merged after the refinery came back", func() bool {
		ms, err := r.d.Engine().MergeList("")
		return err == nil && len(ms) == 0 && rfGit(t, r.dir, "rev-parse", "main") != r.pre
	})
	if n := strings.Count(rfGit(t, r.dir, "log", "--format=%s", "main"), "Merge gt-1"); n != 1 {
		t.Fatalf("main holds %d merges of gt-1, want 1; output:\n%s", n, r.out.String())
	}
}

// TestRefineryReconnectsWhenHeartbeatsGoUnanswered: a refinery whose heartbeat gets no answer (a
// partition: the connection stays open, nothing gets through) opens a new connection, as gtc worker
// does, instead of waiting for the kernel to get the old one through; back, it merges as before.
// Before, it only logged the failure at debug level and kept the dead connection.
func TestRefineryReconnectsWhenHeartbeatsGoUnanswered(t *testing.T) {
	logs := &lockedBuffer{}
	r := startProxiedRefinery(t, 100*time.Millisecond, func(o *refineryOptions) {
		o.HeartbeatEvery, o.HeartbeatWait = 100*time.Millisecond, 300*time.Millisecond
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})
	r.waitFor("the gate to start", func() bool { return r.runs() == 1 })
	r.px.freeze(true)
	r.waitFor("a new connection after an unanswered heartbeat", func() bool {
		return strings.Contains(logs.String(), "heartbeat failed; reconnecting") && r.px.accepted() >= 2
	})
	r.px.freeze(false)
	r.release()
	r.waitFor("MR-1 merged", func() bool {
		ms, err := r.d.Engine().MergeList("")
		return err == nil && len(ms) == 0 && rfGit(t, r.dir, "rev-parse", "main") != r.pre
	})
}

// TestRefineryUnconfirmedSlotComesBack: a check before landing that gets no answer in time (a short
// partition: the connection stays, nothing gets through) is asked again, and the merge lands once the
// coordinator answers. Before, the merge was dropped unlanded and unreported while the refinery's own
// heartbeats kept renewing the slot: stuck until MaxHold (1 h), the refinery taking nothing else (review).
func TestRefineryUnconfirmedSlotComesBack(t *testing.T) {
	r := startProxiedRefinery(t, 100*time.Millisecond)
	r.waitFor("the gate to start", func() bool { return r.runs() == 1 })
	r.px.freeze(true)
	r.release()
	r.waitFor("the check before landing to go unanswered", func() bool { return strings.Contains(r.out.String(), "waiting to confirm the slot") })
	r.px.freeze(false)
	r.waitFor("MR-1 merged", func() bool {
		ms, err := r.d.Engine().MergeList("")
		return err == nil && len(ms) == 0 && rfGit(t, r.dir, "rev-parse", "main") != r.pre
	})
}
