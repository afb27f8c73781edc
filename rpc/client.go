package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/sourcegraph/jsonrpc2"
)

// DialOptions say where and how a Client connects.
type DialOptions struct {
	Network         string        // "unix" or "tcp"
	Addr            string        // socket path or host:port
	Token           string        // sent in hello (required over TCP)
	Framing         Framing       // FramingNDJSON (default) or FramingLSP
	MaxMessageBytes int           // cap on one incoming message (replies such as issue.list can be large). Defaults to 64 MiB.
	WriteTimeout    time.Duration // per write. Defaults to 10s.
}

// DefaultClientMaxMessageBytes caps one message a Client receives: replies (issue.list of a large
// workspace) are bigger than anything a server accepts from a peer.
const DefaultClientMaxMessageBytes = 64 << 20

// Client is a connection to a gtc server: one reader goroutine (jsonrpc2's, which also answers the
// server's pushes), writes serialised on the caller's goroutine. Register the On* callbacks before Hello.
type Client struct {
	jc    *jsonrpc2.Conn
	st    *clientStream
	token string

	slots replySlots // calls in flight (clientreply.go)
	// refusal is the error the server sent, with id null, before closing the connection (-32008 over
	// the size cap, -32009 over MaxConns): the calls the close ends report it (clientreply.go)
	refusal atomic.Pointer[jsonrpc2.Error]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // assign and merge callbacks
	gmu    sync.Mutex     // orders spawn's wg.Add before Close's wg.Wait
	closed bool           // under gmu: Close has begun, spawn runs nothing more

	mu         sync.RWMutex
	onAssign   func(ctx context.Context, a Assignment) (accepted bool, reason string)
	onCancel   func(CancelParams)
	onDrain    func(DrainNotice)
	onEvent    func(coord.Event)
	onShutdown func(reason string)
	onMerge    func(ctx context.Context, r coord.MergeRequest) bool // client_merge.go
}

// Dial connects to a server; call Hello next.
func Dial(ctx context.Context, o DialOptions) (*Client, error) {
	if o.Network == "" {
		o.Network = "unix"
	}
	if o.Framing == FramingAuto {
		o.Framing = FramingNDJSON
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultClientMaxMessageBytes
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, o.Network, o.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial gtc %s %s: %w", o.Network, o.Addr, err)
	}
	c := &Client{token: o.Token}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.st = &clientStream{c: c, nc: nc, fr: newFrameReader(nc, o.MaxMessageBytes, o.Framing), mode: o.Framing, wt: o.WriteTimeout}
	c.jc = jsonrpc2.NewConn(c.ctx, c.st, clientHandler{c}, jsonrpc2.SetLogger(log.New(io.Discard, "", 0)),
		jsonrpc2.OnSend(c.st.onSend))
	return c, nil
}

// OnAssign sets the callback that answers assign pushes (run on its own goroutine; its ctx ends on Close).
func (c *Client) OnAssign(f func(ctx context.Context, a Assignment) (accepted bool, reason string)) {
	c.mu.Lock()
	c.onAssign = f
	c.mu.Unlock()
}

// OnCancel sets the callback for cancel notifications (runs on the reader: must not block).
func (c *Client) OnCancel(f func(CancelParams)) { c.mu.Lock(); c.onCancel = f; c.mu.Unlock() }

// OnDrain sets the callback for drain notifications: an operator drained this worker or undid it
// (runs on the reader: must not block).
func (c *Client) OnDrain(f func(DrainNotice)) { c.mu.Lock(); c.onDrain = f; c.mu.Unlock() }

// OnEvent sets the callback for event notifications (runs on the reader: must not block).
func (c *Client) OnEvent(f func(coord.Event)) { c.mu.Lock(); c.onEvent = f; c.mu.Unlock() }

// OnShutdown sets the callback for the server's shutdown notification (runs on the reader).
func (c *Client) OnShutdown(f func(reason string)) { c.mu.Lock(); c.onShutdown = f; c.mu.Unlock() }

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.jc.DisconnectNotify() }

// Close ends the connection and waits for running assign callbacks.
func (c *Client) Close() error {
	err := c.jc.Close()
	c.cancel()
	c.gmu.Lock() // the reader may still be handing a push to a callback: no Add once Wait may run
	c.closed = true
	c.gmu.Unlock()
	c.wg.Wait()
	if errors.Is(err, jsonrpc2.ErrClosed) {
		err = nil
	}
	return err
}

// spawn runs f on a goroutine that Close waits for; once Close has begun it runs nothing and says so.
func (c *Client) spawn(f func()) bool {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Call sends any request and decodes its result into result (nil to ignore it). Error replies
// come back as *coord.Error (coord.ErrorCode works on them).
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	if err := c.call(ctx, method, params, result); err != nil {
		if errors.Is(err, jsonrpc2.ErrClosed) {
			return &coord.Error{Code: coord.EUnavailable, Message: "connection closed", Err: err}
		}
		return fromRPCError(err)
	}
	return nil
}

func call[R any](ctx context.Context, c *Client, method string, params any) (*R, error) {
	var r R
	if err := c.Call(ctx, method, params, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return &r, nil
}

// Hello opens the session; the dial token and protocol 1 are filled in when empty.
func (c *Client) Hello(ctx context.Context, p HelloParams) (*HelloResult, error) {
	if p.Token == "" {
		p.Token = c.token
	}
	if p.Protocol == 0 {
		p.Protocol = ProtocolVersion
	}
	return call[HelloResult](ctx, c, "hello", p)
}

// Heartbeat extends a lease (or reports liveness when p.LeaseID is empty).
func (c *Client) Heartbeat(ctx context.Context, p HeartbeatParams) (*HeartbeatResult, error) {
	return call[HeartbeatResult](ctx, c, "heartbeat", p)
}

// Complete ends a lease with a session result.
func (c *Client) Complete(ctx context.Context, p CompleteParams) (*CompleteResult, error) {
	return call[CompleteResult](ctx, c, "complete", p)
}

// Fail ends a lease as failed.
func (c *Client) Fail(ctx context.Context, p FailParams) (*FailResult, error) {
	return call[FailResult](ctx, c, "fail", p)
}

// Release gives a lease back.
func (c *Client) Release(ctx context.Context, p ReleaseParams) (*ReleaseResult, error) {
	return call[ReleaseResult](ctx, c, "release", p)
}

// Claim asks for work, waiting up to p.WaitMS.
func (c *Client) Claim(ctx context.Context, p ClaimParams) (*ClaimResult, error) {
	return call[ClaimResult](ctx, c, "claim", p)
}

// IssueGet returns one issue record.
func (c *Client) IssueGet(ctx context.Context, p IssueGetParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.get", p)
}

// IssueList lists issue records.
func (c *Client) IssueList(ctx context.Context, p IssueListParams) (*IssueListResult, error) {
	return call[IssueListResult](ctx, c, "issue.list", p)
}

// IssueReady lists ready issues in assignment order.
func (c *Client) IssueReady(ctx context.Context, p IssueReadyParams) (*IssueListResult, error) {
	return call[IssueListResult](ctx, c, "issue.ready", p)
}

// IssueCreate creates an issue.
func (c *Client) IssueCreate(ctx context.Context, p IssueCreateParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.create", p)
}

// IssueUpdate changes an issue.
func (c *Client) IssueUpdate(ctx context.Context, p IssueUpdateParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.update", p)
}

// IssueClose closes an issue.
func (c *Client) IssueClose(ctx context.Context, p IssueCloseParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.close", p)
}

// IssueDepAdd adds a dependency.
func (c *Client) IssueDepAdd(ctx context.Context, p IssueDepParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.dep.add", p)
}

// IssueDepRemove removes a dependency.
func (c *Client) IssueDepRemove(ctx context.Context, p IssueDepParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.dep.remove", p)
}

// IssueLabelAdd adds a label.
func (c *Client) IssueLabelAdd(ctx context.Context, p IssueLabelParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.label.add", p)
}

// IssueLabelRemove removes a label.
func (c *Client) IssueLabelRemove(ctx context.Context, p IssueLabelParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.label.remove", p)
}

// IssueComment appends a comment.
func (c *Client) IssueComment(ctx context.Context, p IssueCommentParams) (*IssueResult, error) {
	return call[IssueResult](ctx, c, "issue.comment", p)
}

// CoordStatus returns the coordinator's counters.
func (c *Client) CoordStatus(ctx context.Context) (*StatusResult, error) {
	return call[StatusResult](ctx, c, "coord.status", EmptyParams{})
}

// CoordWorkers lists the workers.
func (c *Client) CoordWorkers(ctx context.Context) (*WorkersResult, error) {
	return call[WorkersResult](ctx, c, "coord.workers", EmptyParams{})
}

// CoordPause stops assignments.
func (c *Client) CoordPause(ctx context.Context, p PauseParams) (*PauseResult, error) {
	return call[PauseResult](ctx, c, "coord.pause", p)
}

// CoordResume restarts assignments.
func (c *Client) CoordResume(ctx context.Context, p PauseParams) (*PauseResult, error) {
	return call[PauseResult](ctx, c, "coord.resume", p)
}

// EventsList returns a page of the audit log.
func (c *Client) EventsList(ctx context.Context, p EventsListParams) (*EventsListResult, error) {
	return call[EventsListResult](ctx, c, "events.list", p)
}

// EventsSubscribe starts event notifications (delivered to OnEvent).
func (c *Client) EventsSubscribe(ctx context.Context, p SubscribeParams) (*SubscribeResult, error) {
	return call[SubscribeResult](ctx, c, "events.subscribe", p)
}

// clientHandler serves the server → client requests that reach jsonrpc2 (clientStream answers the
// ones it recognises before the library sees them).
type clientHandler struct{ c *Client }

// Handle implements jsonrpc2.Handler; it runs on the reader goroutine.
func (h clientHandler) Handle(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) {
	m := pushMsg{method: req.Method, id: req.ID, notif: req.Notif}
	if req.Params != nil {
		m.params = *req.Params
	}
	h.c.handlePush(m)
}
