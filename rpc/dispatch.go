package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/gastown/gtc/coord"
)

// methodFunc decodes params, calls the backend and returns the encoded result.
type methodFunc func(ctx context.Context, c *conn, name string, params json.RawMessage) ([]byte, error)

// asyncMethods are served by bindAsync when the backend is an AsyncBackend (methods has their
// synchronous form, used otherwise).
var asyncMethods = map[string]asyncMethodFunc{
	"complete":     bindAsync(bind(true, Backend.Complete), AsyncBackend.CompleteAsync),
	"fail":         bindAsync(bind(true, Backend.Fail), AsyncBackend.FailAsync),
	"issue.create": bindAsync(bind(true, Backend.IssueCreate), AsyncBackend.IssueCreateAsync),
}

// workerMethods act as the session's worker on its leases or merge slots. Over HTTP the worker name is
// only a header anyone with the token can set, so they are refused there (-32010): a lease claimed
// for a connected worker would be held by nobody and kept alive by that worker's heartbeats.
var workerMethods = map[string]bool{"claim": true, "heartbeat": true, "complete": true, "fail": true,
	"release": true, "merge.report": true}

// readerMethods are the asynchronous methods served on the connection's reader instead of a handler
// goroutine when they take their asynchronous form (a request needing the synchronous form goes to the
// pool as any other): issue.create, whose first push to an idle worker is the create→push latency and
// a goroutine hand-off less is ~60 µs of it on an idle machine. Its checks run on the reader (the id
// prefix may be read from config.yaml or the store once); the commit is not waited for.
var readerMethods = map[string]bool{"issue.create": true}

// errToPool says an asynchronous method asked to run on the reader needs its synchronous form, which
// runs on the connection's pool.
var errToPool = errors.New("rpc: serve on the pool")

// asyncMethodFunc serves a request whose reply may be sent later: it returns errReplyLater when it
// will, and otherwise the encoded result like a methodFunc.
type asyncMethodFunc func(c *conn, m *message) ([]byte, error)

// errReplyLater says an asynchronous method sends the reply itself.
var errReplyLater = errors.New("rpc: reply sent later")

// bindAsync serves a method the backend can decide without holding a goroutine while the decision is
// committed (at 1,000 agents a thousand handler goroutines sat waiting in complete). It falls back to
// the synchronous form for an HTTP request (answered in its own goroutine) or a backend that is not an
// AsyncBackend. A request with an idempotency key goes through the cache's asynchronous form: a retry
// gets the first attempt's outcome, and the first attempt keeps its place (a keyed create served on
// the reader is applied in arrival order like any other). The reply is handed to the connection's
// pool, so the backend's callback never waits for a slow peer.
func bindAsync[P any, R any](sync methodFunc, f func(AsyncBackend, context.Context, *Session, P, func(*R, error))) asyncMethodFunc {
	req := requiredFields(reflect.TypeFor[P]())
	return func(c *conn, m *message) (_ []byte, rerr error) {
		syncForm := func() ([]byte, error) {
			if m.onReader {
				return nil, errToPool
			}
			return sync(c.ctx, c, m.method, m.params)
		}
		ab, ok := c.srv.b.(AsyncBackend)
		if !ok || c.http != nil || m.reply == nil {
			return syncForm()
		}
		var p P
		if err := decodeParams(m.params, &p, req); err != nil {
			return nil, err
		}
		var sent atomic.Bool // one reply per request, whatever the backend does
		send := func(res []byte, err error) {
			if !sent.CompareAndSwap(false, true) {
				return
			}
			body, reply := c.answer(m, res, err), m.reply
			c.pool.add(func() { reply(body) }, true) // false: the connection is gone, and so is the reply
		}
		defer func() {
			// A backend that panics may have called back already (or still will): the request gets
			// one reply, the internal error only if nothing was sent.
			if r := recover(); r != nil {
				c.srv.opts.Logger.Error("rpc: handler panic", "method", m.method, "panic", r, "stack", string(debug.Stack()))
				send(nil, coord.Errorf(coord.EInternal, "internal error"))
				rerr = errReplyLater
			}
		}()
		run := func(finish func([]byte, error)) {
			f(ab, c.ctx, &c.sess, p, func(r *R, err error) {
				var res []byte
				if err == nil {
					if r == nil {
						err = coord.Errorf(coord.EInternal, "%s returned no result", m.method)
					} else {
						res, err = json.Marshal(r)
					}
				}
				finish(res, err)
			})
		}
		if k, ok := any(p).(interface{ IdemKey() string }); ok && k.IdemKey() != "" {
			c.srv.idem.doAsync(c.sess.Worker+"\x00"+m.method+"\x00"+k.IdemKey(), c.srv.idem.paramsSum(p), run, send)
		} else {
			run(send)
		}
		return nil, errReplyLater
	}
}

// methods is the protocol's method table (hello is handled by conn.hello).
var methods = map[string]methodFunc{
	"hello":              nil,
	"heartbeat":          bind(false, Backend.Heartbeat),
	"complete":           bind(true, Backend.Complete),
	"fail":               bind(true, Backend.Fail),
	"release":            bind(true, Backend.Release),
	"claim":              bind(true, Backend.Claim),
	"issue.get":          bind(false, Backend.IssueGet),
	"issue.list":         bind(false, Backend.IssueList),
	"issue.ready":        bind(false, Backend.IssueReady),
	"issue.create":       bind(true, Backend.IssueCreate),
	"issue.update":       bind(true, Backend.IssueUpdate),
	"issue.close":        bind(true, Backend.IssueClose),
	"issue.dep.add":      bind(true, Backend.IssueDepAdd),
	"issue.dep.remove":   bind(true, Backend.IssueDepRemove),
	"issue.label.add":    bind(true, Backend.IssueLabelAdd),
	"issue.label.remove": bind(true, Backend.IssueLabelRemove),
	"issue.comment":      bind(true, Backend.IssueComment),
	"coord.status":       bind(false, Backend.CoordStatus),
	"coord.workers":      bind(false, Backend.CoordWorkers),
	"coord.pause":        bind(true, Backend.CoordPause),
	"coord.resume":       bind(true, Backend.CoordResume),
	"coord.profile":      bind(false, Backend.CoordProfile),
	"events.subscribe":   subscribeMethod,
	"events.list":        bind(false, Backend.EventsList),
	"merge.submit":       bind(true, Backend.MergeSubmit),
	"merge.list":         bind(false, Backend.MergeList),
	"merge.report":       bind(true, Backend.MergeReport),
	"merge.cancel":       bind(true, Backend.MergeCancel),
	"convoy.create":      bind(true, Backend.ConvoyCreate),
	"convoy.list":        bind(false, Backend.ConvoyList),
	"convoy.show":        bind(false, Backend.ConvoyShow),
	"coord.health":       bind(false, Backend.CoordHealth),
	"coord.drain":        bind(true, Backend.CoordDrain),
	"lease.cancel":       bind(true, Backend.LeaseCancel),
}

// Methods lists the client → server method names.
func Methods() []string {
	out := make([]string, 0, len(methods))
	for m := range methods {
		out = append(out, m)
	}
	return out
}

// bind adapts one typed Backend method: decode once, check required fields, apply idempotency.
func bind[P any, R any](mutating bool, f func(Backend, context.Context, *Session, P) (*R, error)) methodFunc {
	req := requiredFields(reflect.TypeFor[P]())
	return func(ctx context.Context, c *conn, name string, params json.RawMessage) ([]byte, error) {
		var p P
		if err := decodeParams(params, &p, req); err != nil {
			return nil, err
		}
		key := ""
		if k, ok := any(p).(interface{ IdemKey() string }); ok && mutating {
			key = k.IdemKey()
		}
		parks := false
		if pk, ok := any(p).(interface{ Parks() bool }); ok && pk.Parks() && c.http == nil {
			if !c.parkClaim() {
				return nil, coord.Errorf(coord.EBusy, "%d claims already wait for work on this connection, the most it takes (its heartbeats and reports need a handler too); retry once one has returned",
					c.maxParkedClaims())
			}
			parks = true
			defer c.parkedClaims.Add(-1)
		}
		runCtx := ctx
		if key != "" {
			// The first attempt of a keyed request runs to its decision even if the connection ends
			// meanwhile, so the retry on the next connection gets its result: given up when ctx ended,
			// it was an "unavailable" (not remembered) while the engine applied it, and the retry ran
			// again (a release then got stale_epoch). A parked claim keeps ctx: abandoned, its lease is
			// given back, and a retry claims anew.
			if !parks {
				runCtx = context.WithoutCancel(ctx)
			}
		}
		run := func() ([]byte, error) {
			r, err := f(c.srv.b, runCtx, &c.sess, p)
			if err != nil {
				return nil, err
			}
			if r == nil {
				return nil, coord.Errorf(coord.EInternal, "%s returned no result", name)
			}
			return json.Marshal(r)
		}
		if key != "" {
			return c.srv.idem.do(ctx, c.sess.Worker+"\x00"+name+"\x00"+key, c.srv.idem.paramsSum(p), run)
		}
		return run()
	}
}

// parkClaim counts one more claim that may wait for work on c (ClaimParams.Parks) and reports whether
// it may: each holds one of the connection's Workers handler goroutines while it waits, and with all of
// them taken the connection's heartbeats, acks and reports queued behind the claims until one returned —
// a worker long-polling one claim per free slot lost its running lease to the heartbeat timeout. At
// most Workers-1 wait at once (one, if Workers is 1); the caller undoes the count when the claim ends.
func (c *conn) parkClaim() bool {
	if c.parkedClaims.Add(1) > int32(c.maxParkedClaims()) {
		c.parkedClaims.Add(-1)
		return false
	}
	return true
}

func (c *conn) maxParkedClaims() int { return max(1, c.srv.opts.Workers-1) }

type reqField struct {
	index []int
	name  string
}

// requiredFields lists the fields tagged rpc:"required" (embedded structs included).
func requiredFields(t reflect.Type) []reqField {
	var out []reqField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for _, sub := range requiredFields(f.Type) {
				out = append(out, reqField{index: append([]int{i}, sub.index...), name: sub.name})
			}
			continue
		}
		if f.Tag.Get("rpc") == "required" {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out = append(out, reqField{index: f.Index, name: name})
		}
	}
	return out
}

// decodeParams decodes a params object into p (a pointer to a zero struct); absent or null params
// decode as {}. Plain params take the fast path of decodeParamsFast (scan.go); the rest, errors
// included, is encoding/json's.
func decodeParams(params json.RawMessage, p any, req []reqField) error {
	v := reflect.ValueOf(p).Elem()
	if len(params) != 0 && string(params) != "null" {
		if params[0] != '{' {
			return newWireError(CodeInvalidParams, "invalid params: params must be an object")
		}
		if !decodeParamsFast(params, v, planOf(v.Type())) {
			v.SetZero()
			if err := json.Unmarshal(params, p); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) && te.Field != "" {
					return newWireError(CodeInvalidParams, fmt.Sprintf("invalid params: field %q must be %s, not %s", te.Field, jsonKind(te.Type), te.Value))
				}
				return newWireError(CodeInvalidParams, "invalid params: "+err.Error())
			}
		}
	}
	for _, f := range req {
		if fv := v.FieldByIndex(f.index); fv.IsZero() {
			return missingField(f.name, fv.Kind())
		}
	}
	return nil
}

// missingField refuses a required field left out, or sent as its zero value, which decodes the same: for
// a number the message says 0 is not taken (a trial read `"epoch":0` called missing as a bug).
func missingField(name string, kind reflect.Kind) error {
	msg := fmt.Sprintf("invalid params: missing required field %q", name)
	switch kind {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		msg += " (0 is not a value it takes)"
	}
	return newWireError(CodeInvalidParams, msg)
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// call serves one request and returns its encoded reply (nil for a notification); later says the
// reply will be sent by an asynchronous method instead (see bindAsync).
func (c *conn) call(m *message) (body []byte, later bool) {
	m.start = time.Now()
	var res []byte
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.srv.opts.Logger.Error("rpc: handler panic", "method", m.method, "panic", r, "stack", string(debug.Stack()))
				err = coord.Errorf(coord.EInternal, "internal error")
			}
		}()
		res, err = c.invoke(m)
	}()
	if err == errReplyLater || err == errToPool {
		m.toPool = err == errToPool
		return nil, true
	}
	return c.answer(m, res, err), false
}

// answer encodes a request's outcome as its reply (nil for a notification) and records the call.
func (c *conn) answer(m *message, res []byte, err error) (body []byte) {
	code := 0
	if err != nil {
		we := toWireError(err)
		code = we.Code
		if m.id != nil {
			body = encodeError(m.id, we)
		}
	} else if m.id != nil {
		body = encodeResult(m.id, res)
	}
	c.srv.opts.Observer.RPC(m.method, code, time.Since(m.start))
	return body
}

func (c *conn) invoke(m *message) ([]byte, error) {
	if c.http != nil && workerMethods[m.method] {
		return nil, coord.Errorf(coord.ENotImplemented, "%s acts on a worker's leases: it needs that worker's own socket connection (hello)", m.method)
	}
	if c.readOnly.Load() && !readMethods[m.method] {
		return nil, coord.Errorf(coord.EUnavailable, "storage failed when this session began: it can read, not %s; reconnect once the storage works (gtc status)", m.method)
	}
	if af := asyncMethods[m.method]; af != nil && c.authed.Load() {
		return af(c, m)
	}
	fn, ok := methods[m.method]
	if !ok {
		return nil, newWireError(CodeMethodNotFound, fmt.Sprintf("method not found: %q", m.method))
	}
	if m.method == "hello" {
		return c.hello(m.params)
	}
	if !c.authed.Load() && c.pushable.Load() {
		// hello is still being served but its pushes went out: a request answering one of them
		// (a fast worker's complete) waits for hello to finish instead of being refused.
		c.helloMu.Lock()
		c.helloMu.Unlock() //nolint:staticcheck // a barrier: wait for the running hello
	}
	if !c.authed.Load() {
		return nil, coord.Errorf(coord.EUnauthorized, "say hello first")
	}
	return fn(c.ctx, c, m.method, m.params)
}

var helloRequired = requiredFields(reflect.TypeFor[HelloParams]())

// readMethods are the calls a read-only session (HelloResult.ReadOnly) may make: they change nothing.
var readMethods = map[string]bool{"issue.get": true, "issue.list": true, "issue.ready": true, "coord.status": true,
	"coord.workers": true, "coord.profile": true, "coord.health": true, "events.list": true, "events.subscribe": true,
	"merge.list": true, "convoy.list": true, "convoy.show": true}

// hello authenticates the connection and opens its session.
func (c *conn) hello(params json.RawMessage) (_ []byte, err error) {
	if c.http != nil {
		return nil, coord.Errorf(coord.ENotImplemented, "hello is for socket connections; HTTP is authorised per request by its bearer token")
	}
	c.helloMu.Lock()
	defer c.helloMu.Unlock()
	if c.authed.Load() {
		return nil, coord.Errorf(coord.EConflict, "hello already done on this connection")
	}
	var p HelloParams
	if err := decodeParams(params, &p, helloRequired); err != nil {
		return nil, err
	}
	if c.authFailed.Load() {
		return nil, coord.Errorf(coord.EUnauthorized, "authentication failed; connection closing")
	}
	if c.sess.Transport != TransportUnix && !c.srv.tokenOK(p.Token) {
		c.authFailed.Store(true)
		c.closeLater(c.srv.opts.AuthFailDelay)
		return nil, coord.Errorf(coord.EUnauthorized, "missing or wrong token; connection will be closed")
	}
	// The peer has said hello in time: the time the server takes from here (a probe of the name's
	// holder, a backend waiting for a hung commit) is not held against it. Refused, the peer has
	// HelloTimeout again to say a good one.
	c.stopHelloTimer()
	defer func() {
		if err != nil {
			c.armHelloTimer()
		}
	}()
	if p.Protocol != 0 && p.Protocol != ProtocolVersion {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: field \"protocol\": %d not supported, this server speaks %d", p.Protocol, ProtocolVersion)
	}
	switch p.Role {
	case "":
		p.Role = "worker"
	case "worker", "refinery", "client":
	default:
		return nil, coord.Errorf(coord.EInvalid, "invalid params: field \"role\" must be worker, refinery or client")
	}
	if len(p.Name) > MaxNameBytes || strings.ContainsFunc(p.Name, unicode.IsControl) {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: field \"name\": at most %d bytes, no control characters", MaxNameBytes)
	}
	if p.Capacity < 0 {
		return nil, coord.Errorf(coord.EInvalid, "invalid params: field \"capacity\" must be >= 0")
	}
	if p.Capacity == 0 && p.Role != "client" {
		// Absent, capacity defaults to 1; an explicit 0 for a role that takes pushes would be read as 1
		// and pushed work the peer meant not to take.
		if capacityGiven(params) {
			return nil, coord.Errorf(coord.EInvalid, "invalid params: field \"capacity\": capacity 0 takes no work: use role \"client\" (or leave capacity out for 1)")
		}
		p.Capacity = 1
	}
	// One connection per worker name: a second process under a connected worker's name (two workers
	// left at the default name, a script acting --as a worker) would take over its session and be
	// handed the leases the first one is running. Clients share names (concurrent CLI commands).
	// a worker or refinery restarted while its old connection is half-open pings it away; a client
	// never takes a worker's name (it would take over the worker's session and leases)
	if !c.srv.claimName(c, p.Name, p.Role) && (p.Role == "client" || !c.srv.takeNameFromSilent(c.ctx, c, p.Name, p.Role)) {
		return nil, coord.Errorf(coord.EConflict, "worker %q is connected on another connection: two processes under one name "+
			"would run the same work; give each worker its own name (gtc worker --name), or retry once the other has gone", p.Name)
	}
	c.sess.Worker, c.sess.Role, c.sess.Capacity = p.Name, p.Role, p.Capacity
	if p.Filters != nil {
		c.sess.Filters = *p.Filters
	}
	// The backend may push assignments while it serves hello (a reconnecting worker's leases, or
	// ready work): those pushes are queued already, possibly ahead of hello's reply.
	c.pushable.Store(true)
	defer func() {
		if err != nil {
			c.pushable.Store(false)
			// The backend may have applied the hello before failing (the connection ended while the
			// engine committed it, or a later step failed): tell it this session is gone, or the worker
			// stays connected for good and its leases outlive the grace. A session the backend never
			// connected is ignored there.
			sess := c.sess
			c.srv.b.Disconnected(context.Background(), &sess)
			c.srv.releaseName(c)
		}
	}()
	r, err := c.srv.b.Hello(c.ctx, &c.sess, p)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, coord.Errorf(coord.EInternal, "hello returned no result")
	}
	if r.Server == "" {
		r.Server = "gtc"
	}
	if r.Version == "" {
		r.Version = c.srv.opts.Version
	}
	if r.Protocol == 0 {
		r.Protocol = ProtocolVersion
	}
	if r.Worker == "" {
		r.Worker = p.Name
	}
	if r.AckTimeoutMS == 0 {
		r.AckTimeoutMS = c.srv.opts.AckTimeout.Milliseconds()
	}
	if r.Leases == nil {
		r.Leases = []Assignment{}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	c.readOnly.Store(r.ReadOnly)
	c.authed.Store(true)
	return b, nil
}

// capacityGiven says whether hello's params carry a non-null "capacity" (HelloParams.Capacity cannot tell
// an explicit 0 from an absent field; only a hello with capacity 0 pays for this second decode).
func capacityGiven(params json.RawMessage) bool {
	var q struct {
		Capacity *int `json:"capacity"`
	}
	return len(params) != 0 && json.Unmarshal(params, &q) == nil && q.Capacity != nil
}

// tokenOK compares a presented token in constant time (over SHA-256 digests, so the length does not
// leak either); with no server token every token is wrong.
func (s *Server) tokenOK(tok string) bool {
	if s.opts.Token == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(tok)), sha256.Sum256([]byte(s.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

var subscribeRequired = requiredFields(reflect.TypeFor[SubscribeParams]())

func subscribeMethod(ctx context.Context, c *conn, _ string, params json.RawMessage) ([]byte, error) {
	if c.http != nil {
		return nil, coord.Errorf(coord.ENotImplemented, "events need a socket connection")
	}
	var p SubscribeParams
	if err := decodeParams(params, &p, subscribeRequired); err != nil {
		return nil, err
	}
	if err := checkEventKinds(p.Kinds); err != nil {
		return nil, err
	}
	r, err := c.srv.b.EventsSubscribe(ctx, &c.sess, p)
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &SubscribeResult{Subscribed: true}
	}
	if r.Subscribed {
		r.Seq = c.srv.subscribe(c, p.Kinds)
	}
	return json.Marshal(r)
}

// pool runs a connection's requests on at most `workers` goroutines with at most `pending` queued.
type pool struct {
	mu      sync.Mutex
	q       []func()
	active  int
	workers int
	pending int
	closed  bool
	inline  bool     // HTTP: run in the caller
	runner  *workers // the server's parked goroutines (nil: a new goroutine per run)
	wg      sync.WaitGroup
}

func (p *pool) init(workers, pending int) { p.workers, p.pending = workers, pending }

// submit queues f; false when the pool is full (force ignores the queue bound) or closed.
func (p *pool) submit(f func()) bool { return p.add(f, false) }

func (p *pool) add(f func(), force bool) bool {
	if p.inline {
		f()
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return false
	case p.active < p.workers:
		p.active++
		p.wg.Add(1)
		if p.runner != nil {
			p.runner.run(func() { p.run(f) })
		} else {
			go p.run(f)
		}
	case len(p.q) < p.pending || force:
		p.q = append(p.q, f)
	default:
		return false
	}
	return true
}

func (p *pool) run(f func()) {
	defer p.wg.Done()
	for {
		f()
		p.mu.Lock()
		if len(p.q) == 0 {
			p.active--
			p.q = nil
			p.mu.Unlock()
			return
		}
		f = p.q[0]
		p.q[0] = nil
		p.q = p.q[1:]
		p.mu.Unlock()
	}
}

// close refuses new work, drops queued work (its connection is gone: the client retries, with its
// idempotency key) and waits for the running work to finish.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	clear(p.q)
	p.q = nil
	p.mu.Unlock()
	p.wg.Wait()
}
