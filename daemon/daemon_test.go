package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/gastown/gtc/rpc"
	"github.com/gastown/gtc/store"
)

// line is one classic bd record for the tests' workspaces.
func line(id, title string, prio int, blockers ...string) string {
	ts := "2026-01-02T03:04:05Z"
	s := fmt.Sprintf(`{"id":%q,"title":%q,"status":"open","priority":%d,"issue_type":"task","created_at":%q,"updated_at":%q`, id, title, prio, ts, ts)
	if len(blockers) > 0 {
		var deps []string
		for _, b := range blockers {
			deps = append(deps, fmt.Sprintf(`{"issue_id":%q,"depends_on_id":%q,"type":"blocks","created_at":%q}`, id, b, ts))
		}
		s += `,"dependencies":[` + strings.Join(deps, ",") + `]`
	}
	return s + `,"x_custom":{"keep":"me"}}`
}

type harness struct {
	t    testing.TB
	dir  string
	d    *Daemon
	stop context.CancelFunc
	done chan error
	once sync.Once
}

// start runs a coordinator on a new workspace holding lines, with short timeouts.
func start(t testing.TB, lines []string, tweak func(*Config)) *harness {
	t.Helper()
	return startIn(t, newWorkspace(t, lines), tweak)
}

// newWorkspace makes a workspace whose .beads/issues.jsonl holds lines and returns its directory.
func newWorkspace(t testing.TB, lines []string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".beads"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := ""
	if len(lines) > 0 {
		data = strings.Join(lines, "\n") + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, ".beads", "issues.jsonl"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startIn(t testing.TB, dir string, tweak func(*Config)) *harness {
	t.Helper()
	cfg := Config{Dir: dir, SyncInterval: 50 * time.Millisecond, HTTP: "127.0.0.1:0", Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Coord:  coord.Config{AckTimeout: time.Second, HeartbeatTimeout: 2 * time.Second, Grace: 300 * time.Millisecond, BackoffBase: 50 * time.Millisecond}}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &harness{t: t, dir: dir, d: d, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- d.Run(ctx) }()
	t.Cleanup(h.shutdown)
	return h
}

// shutdown stops the coordinator and waits for it (idempotent).
func (h *harness) shutdown() {
	h.once.Do(func() {
		h.stop()
		select {
		case err := <-h.done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			h.t.Error("coordinator did not stop within 15s")
		}
	})
}

// session dials the coordinator's socket and says hello with hp (protocol 1); closed when the test ends.
func (h *harness) session(hp rpc.HelloParams) (*rpc.Client, *rpc.HelloResult) {
	h.t.Helper()
	ctx := context.Background()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	hp.Protocol = 1
	res, err := c.Hello(ctx, hp)
	if err != nil {
		h.t.Fatal(err)
	}
	return c, res
}

// worker is a test worker: it records pushes and can answer them.
type worker struct {
	c       *rpc.Client
	mu      sync.Mutex
	got     []rpc.Assignment
	cancels []rpc.CancelParams
	ch      chan rpc.Assignment
}

func (h *harness) worker(name string, capacity int) *worker {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		h.t.Fatal(err)
	}
	w := &worker{c: c, ch: make(chan rpc.Assignment, 100)}
	c.OnAssign(func(_ context.Context, a rpc.Assignment) (bool, string) {
		w.mu.Lock()
		w.got = append(w.got, a)
		w.mu.Unlock()
		w.ch <- a
		return true, ""
	})
	c.OnCancel(func(p rpc.CancelParams) { w.mu.Lock(); w.cancels = append(w.cancels, p); w.mu.Unlock() })
	if _, err := c.Hello(ctx, rpc.HelloParams{Name: name, Capacity: capacity, Protocol: 1}); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = c.Close() })
	return w
}

// next waits for the next push.
func (w *worker) next(t *testing.T, within time.Duration) rpc.Assignment {
	t.Helper()
	select {
	case a := <-w.ch:
		return a
	case <-time.After(within):
		t.Fatalf("no assignment within %v", within)
		return rpc.Assignment{}
	}
}

func (w *worker) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case a := <-w.ch:
		t.Fatalf("unexpected assignment of %s", a.Lease.IssueID)
	case <-time.After(within):
	}
}

func (w *worker) complete(t *testing.T, a rpc.Assignment) *rpc.CompleteResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := w.c.Complete(ctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success", Summary: "done"}})
	if err != nil {
		t.Fatalf("complete %s: %v", a.Lease.IssueID, err)
	}
	return r
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) fileLines() map[string]string {
	data, err := os.ReadFile(filepath.Join(h.dir, ".beads", "issues.jsonl"))
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var r struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			h.t.Fatalf("issues.jsonl line %q: %v", l, err)
		}
		out[r.ID] = l
	}
	return out
}

func statusOf(t *testing.T, l string) string {
	var r struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(l), &r); err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func TestPushesFollowPriorityAndDependencies(t *testing.T) {
	lines := []string{
		line("t-a", "P2 free", 2),
		line("t-b", "P0 free", 0),
		line("t-c", "P1 blocked by b", 1, "t-b"),
		line("t-d", "P3 free", 3),
	}
	h := start(t, lines, nil)
	w := h.worker("w1", 1)
	var order []string
	for range lines {
		a := w.next(t, 5*time.Second)
		if a.Lease.Epoch <= 0 || a.Lease.ID == "" || !bytes.Contains(a.Issue, []byte(`"x_custom":{"keep":"me"}`)) {
			t.Fatalf("push %+v lacks a lease or the whole record", a)
		}
		order = append(order, a.Lease.IssueID)
		if r := w.complete(t, a); r.Status != "closed" {
			t.Fatalf("complete %s: status %q", a.Lease.IssueID, r.Status)
		}
	}
	if want := []string{"t-b", "t-c", "t-a", "t-d"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v (P0 first; c only after b closed, then by priority)", order, want)
	}
	w.none(t, 100*time.Millisecond)
	eventually(t, 3*time.Second, "every issue closed in issues.jsonl", func() bool {
		for _, l := range h.fileLines() {
			if statusOf(t, l) != "closed" {
				return false
			}
		}
		return true
	})
	for id, l := range h.fileLines() {
		if !strings.Contains(l, `"x_custom":{"keep":"me"}`) || !strings.Contains(l, `"closed_at":`) {
			t.Errorf("%s: %s lost an unknown key or has no closed_at", id, l)
		}
	}
}

func TestEachIssueGoesToOneWorker(t *testing.T) {
	var lines []string
	for i := 0; i < 40; i++ {
		lines = append(lines, line(fmt.Sprintf("t-%02d", i), "work", i%5))
	}
	h := start(t, lines, nil)
	seen := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		w := h.worker(fmt.Sprintf("w%d", i), 2)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			for {
				select {
				case a := <-w.ch:
					mu.Lock()
					if prev, dup := seen[a.Lease.IssueID]; dup {
						t.Errorf("%s pushed to %s and %s", a.Lease.IssueID, prev, name)
					}
					seen[a.Lease.IssueID] = name
					mu.Unlock()
					w.complete(t, a)
				case <-time.After(time.Second):
					return
				}
			}
		}(fmt.Sprintf("w%d", i))
	}
	wg.Wait()
	if len(seen) != len(lines) {
		t.Fatalf("%d issues pushed, want %d", len(seen), len(lines))
	}
	st := h.d.Engine().Status()
	if st.Issues.Closed != len(lines) || st.Issues.Leased != 0 {
		t.Fatalf("status %+v: want all %d closed", st.Issues, len(lines))
	}
}

func TestDeadWorkersLeaseIsReassignedAfterGrace(t *testing.T) {
	h := start(t, []string{line("t-1", "only", 1)}, nil)
	w1 := h.worker("w1", 1)
	a := w1.next(t, 5*time.Second)
	w2 := h.worker("w2", 1)
	killed := time.Now()
	_ = w1.c.Close() // the worker dies mid-lease
	b := w2.next(t, 5*time.Second)
	if b.Lease.IssueID != "t-1" || b.Lease.Epoch <= a.Lease.Epoch {
		t.Fatalf("reassigned lease %+v after %+v: want the same issue with a higher epoch", b.Lease, a.Lease)
	}
	if waited := time.Since(killed); waited < 300*time.Millisecond {
		t.Fatalf("reassigned after %v, before the 300ms grace", waited)
	}
	// The old holder's epoch is now stale.
	ctx := context.Background()
	w3 := h.worker("w1", 1) // the dead worker's name comes back
	_, err := w3.c.Complete(ctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success"}})
	if code := coord.ErrorCode(err); code != coord.EStaleEpoch && code != coord.ENotHolder {
		t.Fatalf("complete with the expired lease: %v, want stale_epoch or not_holder", err)
	}
	if r := w2.complete(t, b); r.Status != "closed" {
		t.Fatalf("status %q", r.Status)
	}
}

func TestStaleEpochAndWrongHolderAreRefused(t *testing.T) {
	h := start(t, []string{line("t-1", "only", 1)}, nil)
	w1 := h.worker("w1", 1)
	a := w1.next(t, 5*time.Second)
	ctx := context.Background()
	_, err := w1.c.Complete(ctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch + 7, SessionResult: rpc.SessionResult{Outcome: "success"}})
	if coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("stale epoch: %v, want stale_epoch", err)
	}
	_, err = w1.c.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch + 5})
	if coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("heartbeat with another epoch: %v, want stale_epoch", err)
	}
	// a lease named without its epoch is bad params, not a stale epoch (epochs start at 1)
	_, err = w1.c.Heartbeat(ctx, rpc.HeartbeatParams{LeaseID: a.Lease.ID})
	if coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), `invalid params: missing "epoch"`) {
		t.Fatalf("heartbeat without an epoch: %v, want invalid params naming epoch", err)
	}
	w2 := h.worker("w2", 1)
	_, err = w2.c.Complete(ctx, rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success"}})
	if coord.ErrorCode(err) != coord.ENotHolder {
		t.Fatalf("complete by another worker: %v, want not_holder", err)
	}
	if r := w1.complete(t, a); r.Status != "closed" {
		t.Fatalf("the holder's complete: %q", r.Status)
	}
}

func TestIdempotentRetryReturnsTheFirstResult(t *testing.T) {
	h := start(t, []string{line("t-1", "only", 1)}, nil)
	w := h.worker("w1", 1)
	a := w.next(t, 5*time.Second)
	ctx := context.Background()
	p := rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success"},
		Idempotency: rpc.Idempotency{IdempotencyKey: "k1"}}
	r1, err := w.c.Complete(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := w.c.Complete(ctx, p)
	if err != nil || *r2 != *r1 {
		t.Fatalf("retry: %+v, %v; want the first result %+v", r2, err, r1)
	}
	p.IdempotencyKey = "k2"
	if _, err := w.c.Complete(ctx, p); err == nil {
		t.Fatal("a new key completing an ended lease succeeded")
	}
}

func TestBdEditsReachTheScheduler(t *testing.T) {
	h := start(t, []string{line("t-1", "first", 1)}, nil)
	w := h.worker("w1", 2)
	a := w.next(t, 5*time.Second)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	eventually(t, 10*time.Second, "the claim is exported", func() bool {
		return statusOf(t, h.fileLines()["t-1"]) == "hooked" || statusOf(t, h.fileLines()["t-1"]) == "in_progress"
	})
	// bd adds an issue: an idle slot gets it within a tick or two.
	data, _ := os.ReadFile(path)
	data = append(data, []byte(line("t-2", "added by bd", 0)+"\n")...)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b := w.next(t, 10*time.Second) // a tick or two; bounded generously for a loaded CI machine
	if b.Lease.IssueID != "t-2" {
		t.Fatalf("pushed %s, want t-2", b.Lease.IssueID)
	}
	// bd closes t-1 while it is leased: the lease is cancelled and the worker told.
	lines := h.fileLines()
	closed := strings.Replace(lines["t-1"], `"status":"in_progress"`, `"status":"closed"`, 1)
	closed = strings.Replace(closed, `"status":"hooked"`, `"status":"closed"`, 1)
	closed = strings.Replace(closed, `"updated_at":"`, `"closed_at":"2099-01-01T00:00:00Z","updated_at":"2099-01-01T00:00:00Z","x":"`, 1)
	var out []string
	for _, id := range []string{"t-1", "t-2"} {
		if id == "t-1" {
			out = append(out, closed)
		} else {
			out = append(out, lines[id])
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "cancel of t-1 reaches the worker", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, c := range w.cancels {
			if c.LeaseID == a.Lease.ID {
				return true
			}
		}
		return false
	})
	_, err := w.c.Complete(context.Background(), rpc.CompleteParams{LeaseID: a.Lease.ID, Epoch: a.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success"}})
	if err == nil {
		t.Fatal("completing a cancelled lease succeeded")
	}
}

func TestRestartResumesLeasesAndShutdownExports(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 2)}, func(c *Config) { c.SyncInterval = time.Hour })
	w := h.worker("w1", 2)
	a := w.next(t, 5*time.Second)
	b := w.next(t, 5*time.Second)
	w.complete(t, a)
	_ = w.c.Close()
	h.shutdown() // SIGTERM path: flush and export although the tick never came
	lines := h.fileLines()
	if statusOf(t, lines[a.Lease.IssueID]) != "closed" {
		t.Fatalf("%s not closed in the file after shutdown: %s", a.Lease.IssueID, lines[a.Lease.IssueID])
	}
	h2 := startIn(t, h.dir, func(c *Config) { c.Coord.Grace = 5 * time.Second })
	ctx := context.Background()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h2.d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Hello(ctx, rpc.HelloParams{Name: "w1", Capacity: 2, Protocol: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Leases) != 1 || res.Leases[0].Lease.ID != b.Lease.ID || res.Leases[0].Lease.Epoch != b.Lease.Epoch {
		t.Fatalf("hello after restart resumed %+v, want lease %s/%d", res.Leases, b.Lease.ID, b.Lease.Epoch)
	}
	if _, err := c.Complete(ctx, rpc.CompleteParams{LeaseID: b.Lease.ID, Epoch: b.Lease.Epoch, SessionResult: rpc.SessionResult{Outcome: "success"}}); err != nil {
		t.Fatalf("complete the resumed lease: %v", err)
	}
}

func TestHTTPServesRPCMetricsAndHealth(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	_, addr := h.d.Addrs()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	for _, req := range []struct{ method, path string }{{"DELETE", "/metrics"}, {"POST", "/healthz"}, {"PUT", "/metrics"}} {
		r, _ := http.NewRequest(req.method, "http://"+addr+req.path, nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", req.method, req.path, resp.StatusCode)
		}
	}
	if r, err := http.Head("http://" + addr + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Errorf("HEAD /healthz: %v %v", r, err)
	}
	code, body := get("/metrics")
	for _, name := range []string{"gtc_issues", "gtc_sqlite_operation_seconds", "gtc_merge_queue_depth", "go_goroutines", "process_resident_memory_bytes"} {
		if code != 200 || !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s (status %d)", name, code)
		}
	}
	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/rpc", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post("", `{"jsonrpc":"2.0","id":1,"method":"coord.status"}`); code != http.StatusUnauthorized {
		t.Fatalf("/rpc without token: %d, want 401", code)
	}
	code, body = post(h.d.Token(), `{"jsonrpc":"2.0","id":1,"method":"coord.status"}`)
	if code != 200 || !strings.Contains(body, `"ready":1`) {
		t.Fatalf("/rpc coord.status: %d %s", code, body)
	}
	tok, err := os.ReadFile(filepath.Join(h.dir, ".beads", "gtc.token"))
	if err != nil || strings.TrimSpace(string(tok)) != h.d.Token() {
		t.Fatalf("token file: %q, %v", tok, err)
	}
	if st, _ := os.Stat(filepath.Join(h.dir, ".beads", "gtc.token")); st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestOpenWithoutBeadsSaysWhatToDo(t *testing.T) {
	_, err := Open(context.Background(), Config{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "gtc init") {
		t.Fatalf("Open on an empty dir: %v; want advice to run gtc init", err)
	}
}

func TestSecondServerOnWorkspaceIsRefused(t *testing.T) {
	h := start(t, nil, nil)
	_, err := Open(context.Background(), Config{Dir: h.dir, Socket: "-"})
	if err == nil || !strings.Contains(err.Error(), "another gtc") {
		t.Fatalf("second Open: %v; want 'another gtc is serving'", err)
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("unexpected")
	}
}

func TestDependenciesMustNameKnownIssues(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	ctx := context.Background()
	c, _ := h.session(rpc.HelloParams{Name: "cli", Role: "client"})
	_, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "x", Deps: []rpc.DepSpec{{ID: "t-404"}}})
	if coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("create with a dependency on a missing issue: %v, want not_found", err)
	}
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{ID: "t-1", Title: "again"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("create with the id of an existing issue: %v, want conflict", err)
	}
	res, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "y", Deps: []rpc.DepSpec{{ID: "t-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var is struct{ ID string }
	_ = json.Unmarshal(res.Issue, &is)
	if _, err := c.IssueDepAdd(ctx, rpc.IssueDepParams{ID: is.ID, DependsOn: "nope-1"}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("dep.add on a missing issue: %v, want not_found", err)
	}
	if ready := h.d.Engine().Ready(0); slices.Contains(ready, is.ID) {
		t.Fatalf("%s is ready although t-1 blocks it: %v", is.ID, ready)
	}
}

func TestClientSessionsLeaveNoAuditNoise(t *testing.T) {
	h := start(t, nil, nil)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Hello(ctx, rpc.HelloParams{Name: "gtc-cli", Role: "client", Protocol: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoordStatus(ctx); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	w := h.worker("w1", 1)
	_ = w
	var kinds []string
	eventually(t, 3*time.Second, "the worker's connect event", func() bool {
		evs, err := h.d.Store().Events(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		kinds = kinds[:0]
		found := false
		for _, e := range evs {
			if e.Worker == "gtc-cli" {
				t.Fatalf("client session logged %q", e.Kind)
			}
			if e.Worker == "w1" && e.Kind == "worker_connected" {
				found = true
			}
			kinds = append(kinds, e.Kind)
		}
		return found
	})
	for _, ws := range h.d.Engine().Workers() {
		if ws.Name == "gtc-cli" && ws.Capacity != 0 {
			t.Fatalf("client capacity %d, want 0", ws.Capacity)
		}
	}
}

func TestIssueEditFromAnEarlierReadKeepsTheCompletion(t *testing.T) {
	h := start(t, []string{line("t-a", "a", 1)}, nil)
	w := h.worker("w1", 1)
	a := w.next(t, 3*time.Second)
	ctx := context.Background()
	is, _, err := h.d.db.GetIssue(ctx, "t-a") // issue.comment's read, while the issue is hooked
	if err != nil {
		t.Fatal(err)
	}
	w.complete(t, a) // the worker completes it before the comment is written
	is.Comments = append(is.Comments, beads.Comment{ID: "1", IssueID: "t-a", Author: "x", Text: "hi"})
	is.UpdatedAt = time.Now()
	if _, err := h.d.issues.put(ctx, is, true); err != nil {
		t.Fatal(err)
	}
	got, _, _ := h.d.db.GetIssue(ctx, "t-a")
	if got.Status != "closed" || got.ClosedAt == nil || len(got.Comments) != 1 {
		t.Fatalf("after completion + comment: status %q closed_at %v comments %d; want closed with the comment", got.Status, got.ClosedAt, len(got.Comments))
	}
	if st := h.d.Engine().Status(); st.Issues.Closed != 1 || st.Issues.Leased != 0 {
		t.Fatalf("scheduler: %+v", st.Issues)
	}
}

func TestPushPromptFollowsProtocolEdits(t *testing.T) {
	h := start(t, []string{line("t-a", "old title", 1)}, func(c *Config) { c.SyncInterval = time.Hour })
	ctx := context.Background()
	if err := h.d.Engine().Pause(ctx, ""); err != nil {
		t.Fatal(err)
	}
	w := h.worker("w1", 1)
	nt, nd := "new title", "new description"
	if _, err := h.d.issues.update(ctx, "test", rpc.IssueUpdateParams{ID: "t-a", Title: &nt, Description: &nd}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Engine().Resume(ctx, ""); err != nil {
		t.Fatal(err)
	}
	a := w.next(t, 3*time.Second)
	if a.Prompt != "new title\n\nnew description" {
		t.Fatalf("prompt %q, want the edited title and description", a.Prompt)
	}
}

// TestSchedulerStopsBeforeFinalExport: at shutdown no scheduler decision can follow the final export
// (a lease expiring after it would reach issues.jsonl only at the next start): the engine has stopped
// when the export begins, and the exported file agrees with the store.
func TestSchedulerStopsBeforeFinalExport(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 2)}, func(c *Config) { c.SyncInterval = time.Hour })
	stoppedFirst := make(chan bool, 1)
	h.d.beforeFinalExport = func() {
		select {
		case <-h.d.engine.Stopped():
			stoppedFirst <- true
		default:
			stoppedFirst <- false
		}
	}
	w := h.worker("w1", 2)
	a := w.next(t, 5*time.Second)
	w.complete(t, a)
	h.shutdown()
	select {
	case ok := <-stoppedFirst:
		if !ok {
			t.Fatal("the scheduler was still running when the final export began")
		}
	default:
		t.Fatal("the final export did not run")
	}
	if statusOf(t, h.fileLines()[a.Lease.IssueID]) != "closed" {
		t.Fatalf("%s not closed in the file after shutdown", a.Lease.IssueID)
	}
}

// TestFinalExportImportsAnEditFirst: a file edited outside gtc since the last sync (a git pull, bd) is
// imported by the final export at shutdown, which therefore runs while the scheduler does: the run
// ends cleanly, the completion and the edit are both in the file.
func TestFinalExportImportsAnEditFirst(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 2)}, func(c *Config) { c.SyncInterval = time.Hour })
	w := h.worker("w1", 1)
	a := w.next(t, 5*time.Second)
	w.complete(t, a)
	_ = w.c.Close()
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(line("t-3", "added by bd", 3) + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	h.shutdown() // fails the test if Run returns an error
	lines := h.fileLines()
	if statusOf(t, lines[a.Lease.IssueID]) != "closed" {
		t.Fatalf("%s not closed in the file after shutdown: %s", a.Lease.IssueID, lines[a.Lease.IssueID])
	}
	if _, ok := lines["t-3"]; !ok {
		t.Fatalf("the issue added outside gtc is gone: %v", lines)
	}
}

// TestOpenRefusesParallelMergeSlots: Merge.MaxParallel above 1 is refused before the workspace is
// touched, with the reason; the workspace can then be served with a valid configuration.
func TestOpenRefusesParallelMergeSlots(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".beads"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), Config{Dir: dir, Socket: "-", Merge: mergeq.Config{MaxParallel: 3}})
	if err == nil || !strings.Contains(err.Error(), "MaxParallel 3") || !strings.Contains(err.Error(), "one merge per target") {
		t.Fatalf("Open with MaxParallel 3: %v", err)
	}
	startIn(t, dir, func(c *Config) { c.Merge.MaxParallel = 1 })
}

// TestMergeCancelOverTheWire: merge.cancel through a live coordinator: a pending request cancelled by
// issue id is gone without a word to the refinery; the merging one, cancelled by id, reaches its
// refinery as a cancel notification naming merge_id and the slot's epoch, and the refinery's later
// merge.report is refused as a conflict. Both are cancelled in SQLite when the calls return.
func TestMergeCancelOverTheWire(t *testing.T) {
	h := start(t, []string{line("gt-1", "one", 2), line("gt-2", "two", 2)}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func() *rpc.Client {
		c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	ref := dial()
	merges := make(chan coord.MergeRequest, 4)
	cancels := make(chan rpc.CancelParams, 4)
	ref.OnMerge(func(_ context.Context, m coord.MergeRequest) bool { merges <- m; return true })
	ref.OnCancel(func(p rpc.CancelParams) { cancels <- p })
	if _, err := ref.Hello(ctx, rpc.HelloParams{Name: "ref", Role: coord.RoleRefinery, Capacity: 1, Protocol: 1}); err != nil {
		t.Fatal(err)
	}
	op := dial()
	if _, err := op.Hello(ctx, rpc.HelloParams{Name: "op", Role: "client", Protocol: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"gt-1", "gt-2"} {
		if _, err := op.MergeSubmit(ctx, rpc.MergeSubmitParams{IssueID: id, Branch: "b/" + id}); err != nil {
			t.Fatal(err)
		}
	}
	var m coord.MergeRequest
	select {
	case m = <-merges:
	case <-ctx.Done():
		t.Fatal("no merge push")
	}
	stored := func(issue string) coord.MergeRequest {
		t.Helper()
		rs, err := h.d.Store().MergeRequests(ctx, store.MergeFilter{IssueID: issue})
		if err != nil || len(rs) != 1 {
			t.Fatalf("merge requests of %s: %+v %v", issue, rs, err)
		}
		return rs[0]
	}

	r, err := op.MergeCancel(ctx, rpc.MergeCancelParams{IssueID: "gt-2"})
	if err != nil || r.Request.ID != "MR-2" || r.Request.State != "cancelled" || r.Request.Error != "cancelled by operator" {
		t.Fatalf("cancel by issue: %+v %v", r, err)
	}
	if s := stored("gt-2"); s.State != "cancelled" {
		t.Fatalf("MR-2 in SQLite: %+v", s)
	}
	r, err = op.MergeCancel(ctx, rpc.MergeCancelParams{ID: m.ID, Reason: "wrong branch"})
	if err != nil || r.Request.State != "cancelled" {
		t.Fatalf("cancel by id: %+v %v", r, err)
	}
	if s := stored("gt-1"); s.State != "cancelled" || s.Error != "wrong branch" {
		t.Fatalf("MR-1 in SQLite: %+v", s)
	}
	select {
	case p := <-cancels:
		if p != (rpc.CancelParams{MergeID: m.ID, Epoch: m.Epoch, IssueID: "gt-1", Reason: "wrong branch"}) {
			t.Fatalf("cancel notification %+v for slot %s@%d", p, m.ID, m.Epoch)
		}
	case <-ctx.Done():
		t.Fatal("the refinery was not told")
	}
	if len(cancels) != 0 {
		t.Fatalf("%d extra cancel notifications (the pending MR-2 needs none)", len(cancels))
	}
	if _, err := ref.MergeReport(ctx, rpc.MergeReportParams{ID: m.ID, Epoch: m.Epoch, Merged: true}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("report of the cancelled merge: %v", err)
	}
	if _, err := op.MergeCancel(ctx, rpc.MergeCancelParams{IssueID: "gt-1"}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("second cancel by issue: %v", err)
	}
}
