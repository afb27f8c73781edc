package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testToken = "s3cret-token"

// fakeBackend is a small in-memory Backend recording what the server hands it.
type fakeBackend struct {
	creates      atomic.Int64
	acked        chan string
	rejected     chan string
	disconnected chan string
	claimBlock   chan struct{} // when set, claim waits for it or ctx
	sessions     sync.Map      // worker name → session ID of its last hello
	helloDelay   time.Duration // how long Hello takes (a hello waiting for a commit)
}

func newFake() *fakeBackend {
	return &fakeBackend{acked: make(chan string, 16), rejected: make(chan string, 16), disconnected: make(chan string, 64)}
}

func issueJSON(id string) json.RawMessage {
	return json.RawMessage(`{"id":"` + id + `","title":"T","status":"open","x_unknown":{"k":[1,2.50,"z"]}}`)
}

func (f *fakeBackend) Hello(_ context.Context, s *Session, p HelloParams) (*HelloResult, error) {
	time.Sleep(f.helloDelay)
	if p.Name == "deny" {
		return nil, coord.Errorf(coord.EConflict, "name taken")
	}
	f.sessions.Store(p.Name, s.ID)
	return &HelloResult{HeartbeatMS: 1000}, nil
}
func (f *fakeBackend) Heartbeat(context.Context, *Session, HeartbeatParams) (*HeartbeatResult, error) {
	return &HeartbeatResult{Deadline: time.Unix(100, 0).UTC()}, nil
}
func (f *fakeBackend) Complete(_ context.Context, _ *Session, p CompleteParams) (*CompleteResult, error) {
	if p.Epoch != 7 {
		return nil, coord.Errorf(coord.EStaleEpoch, "epoch %d is stale", p.Epoch)
	}
	return &CompleteResult{IssueID: "bd-1", Status: "closed", Outcome: p.Outcome}, nil
}
func (f *fakeBackend) Fail(context.Context, *Session, FailParams) (*FailResult, error) {
	return &FailResult{IssueID: "bd-1", Status: "open", Attempt: 2}, nil
}
func (f *fakeBackend) Release(context.Context, *Session, ReleaseParams) (*ReleaseResult, error) {
	return &ReleaseResult{IssueID: "bd-1", Status: "open"}, nil
}
func (f *fakeBackend) Claim(ctx context.Context, _ *Session, p ClaimParams) (*ClaimResult, error) {
	if f.claimBlock != nil {
		select {
		case <-f.claimBlock:
		case <-ctx.Done():
			return nil, coord.Errorf(coord.EUnavailable, "closed")
		}
	}
	return &ClaimResult{}, nil
}
func (f *fakeBackend) IssueGet(_ context.Context, _ *Session, p IssueGetParams) (*IssueResult, error) {
	switch p.ID {
	case "missing":
		return nil, coord.Errorf(coord.ENotFound, "no issue %q", p.ID)
	case "boom":
		return nil, errors.New("disk on fire")
	case "panic":
		panic("handler bug")
	}
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueList(context.Context, *Session, IssueListParams) (*IssueListResult, error) {
	return &IssueListResult{Issues: []json.RawMessage{issueJSON("bd-1"), issueJSON("bd-2")}}, nil
}
func (f *fakeBackend) IssueReady(context.Context, *Session, IssueReadyParams) (*IssueListResult, error) {
	return &IssueListResult{Issues: []json.RawMessage{}}, nil
}
func (f *fakeBackend) IssueCreate(_ context.Context, _ *Session, p IssueCreateParams) (*IssueResult, error) {
	n := f.creates.Add(1)
	return &IssueResult{Issue: json.RawMessage(`{"id":"bd-` + string(rune('0'+n)) + `","title":` + string(mustJSON(p.Title)) + `}`)}, nil
}
func (f *fakeBackend) IssueUpdate(_ context.Context, _ *Session, p IssueUpdateParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueClose(_ context.Context, _ *Session, p IssueCloseParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueDepAdd(_ context.Context, _ *Session, p IssueDepParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueDepRemove(_ context.Context, _ *Session, p IssueDepParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueLabelAdd(_ context.Context, _ *Session, p IssueLabelParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueLabelRemove(_ context.Context, _ *Session, p IssueLabelParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) IssueComment(_ context.Context, _ *Session, p IssueCommentParams) (*IssueResult, error) {
	return &IssueResult{Issue: issueJSON(p.ID)}, nil
}
func (f *fakeBackend) CoordStatus(context.Context, *Session, EmptyParams) (*StatusResult, error) {
	return &StatusResult{Issues: IssueCounts{Ready: 3, Total: 5}}, nil
}
func (f *fakeBackend) CoordWorkers(_ context.Context, s *Session, _ EmptyParams) (*WorkersResult, error) {
	return &WorkersResult{Workers: []WorkerInfo{{Name: s.Worker, Role: s.Role, Capacity: s.Capacity}}}, nil
}
func (f *fakeBackend) CoordPause(context.Context, *Session, PauseParams) (*PauseResult, error) {
	return &PauseResult{Paused: true}, nil
}
func (f *fakeBackend) CoordResume(context.Context, *Session, PauseParams) (*PauseResult, error) {
	return &PauseResult{Paused: false}, nil
}
func (f *fakeBackend) EventsSubscribe(context.Context, *Session, SubscribeParams) (*SubscribeResult, error) {
	return &SubscribeResult{Subscribed: true}, nil
}
func (f *fakeBackend) Acked(_ context.Context, s *Session, leaseID string, epoch int64) {
	f.acked <- s.Worker + "/" + leaseID
}
func (f *fakeBackend) Rejected(_ context.Context, s *Session, leaseID string, epoch int64, reason string) {
	f.rejected <- s.Worker + "/" + leaseID + "/" + reason
}
func (f *fakeBackend) Disconnected(_ context.Context, s *Session) {
	select {
	case f.disconnected <- s.Worker:
	default:
	}
}

// testServer is a Server listening on a Unix socket and on 127.0.0.1.
type testServer struct {
	*Server
	b        *fakeBackend
	unixPath string
	tcpAddr  string
}

func startServer(t testing.TB, opts Options, b *fakeBackend) *testServer {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	if b == nil {
		b = newFake()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := NewServer(b, opts)
	ul, err := ListenUnix(filepath.Join(t.TempDir(), "gtc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, l := range []net.Listener{ul, tl} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Serve(l) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx, "test over")
		wg.Wait()
	})
	return &testServer{Server: s, b: b, unixPath: ul.Addr().String(), tcpAddr: tl.Addr().String()}
}

// rawPeer speaks bytes to a server.
type rawPeer struct {
	t    testing.TB
	nc   net.Conn
	fr   *frameReader
	mode Framing
}

func dialRaw(t testing.TB, network, addr string, mode Framing) *rawPeer {
	t.Helper()
	nc, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, fr: newFrameReader(nc, 16<<20, mode), mode: mode}
}

func (p *rawPeer) send(body string) {
	p.t.Helper()
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(appendFrame(nil, p.mode, []byte(body))); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

func (p *rawPeer) recvErr() (string, error) {
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := p.fr.next()
	return string(b), err
}

func (p *rawPeer) recv() string {
	p.t.Helper()
	s, err := p.recvErr()
	if err != nil {
		p.t.Fatalf("recv: %v", err)
	}
	return s
}

// call sends a request and returns its reply.
func (p *rawPeer) call(body string) string {
	p.t.Helper()
	p.send(body)
	return p.recv()
}

func (p *rawPeer) hello(token string) string {
	p.t.Helper()
	return p.helloAs("w1", token)
}

// helloAs says hello as worker name.
func (p *rawPeer) helloAs(name, token string) string {
	p.t.Helper()
	return p.call(`{"jsonrpc":"2.0","id":"h","method":"hello","params":{"name":"` + name + `","token":"` + token + `"}}`)
}

const sentinel = `{"jsonrpc":"2.0","id":"sentinel","method":"no.such.method"}`

// exchange sends body then a sentinel and returns every reply that came before the sentinel's.
func (p *rawPeer) exchange(body string) []string {
	p.t.Helper()
	p.send(body)
	p.send(sentinel)
	var out []string
	for {
		r := p.recv()
		if bytes.Contains([]byte(r), []byte(`"sentinel"`)) {
			return out
		}
		out = append(out, r)
	}
}

// expectClosed asserts the server closes the connection (after any number of frames it still sends).
func (p *rawPeer) expectClosed() {
	p.t.Helper()
	for i := 0; i < 100; i++ {
		if _, err := p.recvErr(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				p.t.Fatal("connection not closed within 5s")
			}
			return
		}
	}
	p.t.Fatal("connection not closed")
}

// canon normalises a reply for comparison: numbers kept as written, error messages dropped,
// batch entries sorted.
func canon(t testing.TB, s string) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("reply %q is not JSON: %v", s, err)
	}
	return canonValue(v)
}

func canonValue(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = canonValue(e)
		}
		sort.Strings(parts)
		b, _ := json.Marshal(parts)
		return string(b)
	case map[string]any:
		if e, ok := x["error"].(map[string]any); ok {
			delete(e, "message")
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func newHTTPTestServer(t testing.TB, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/rpc", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return srv.URL
}

func (f *fakeBackend) sessionOf(t testing.TB, worker string) uint64 {
	t.Helper()
	v, ok := f.sessions.Load(worker)
	if !ok {
		t.Fatalf("no session for %s", worker)
	}
	return v.(uint64)
}

// wait receives from ch or fails after 5s.
func wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func dialClient(t testing.TB, o DialOptions) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// assignParams is appendAssignParams into a new buffer: the params of an assign push on their own.
func assignParams(a *AssignPayload) ([]byte, error) {
	return appendAssignParams(make([]byte, 0, assignParamsSize(a)), a)
}
