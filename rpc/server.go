package rpc

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gastown/gtc/coord"
)

// Options configure a Server; zero fields take the documented defaults.
type Options struct {
	Token           string        // required from TCP and HTTP peers; no token means they are all refused
	Version         string        // server version reported by hello (the backend may override)
	MaxMessageBytes int           // cap on one message. Defaults to 1 MiB.
	MaxConns        int           // concurrent stream connections. Defaults to 10,000.
	QueueLen        int           // outgoing frames queued per connection. Defaults to 1,024.
	MaxQueuedBytes  int           // outgoing bytes queued per connection; a peer over it is disconnected. Defaults to 64 MiB.
	WriteTimeout    time.Duration // a peer that does not take a write within it is disconnected. Defaults to 10s.
	IdleTimeout     time.Duration // a peer that sends nothing within it is disconnected. Defaults to 5m.
	HelloTimeout    time.Duration // a stream peer that has not completed hello this long after connecting is disconnected. Defaults to 10s.
	ProbeTimeout    time.Duration // a worker's connection that does not answer a ping within it gives its name to a new hello. Defaults to 3s.
	Workers         int           // requests of one connection running at once (on goroutines shared by all connections). Defaults to 4.
	Pending         int           // requests queued per connection beyond the running ones (over it: -32009). Defaults to 256.
	MaxBatch        int           // elements in one batch; a longer batch is refused whole with one -32600. Defaults to 256.
	AckTimeout      time.Duration // wait for the reply to an assign. Defaults to 30s.
	AuthFailDelay   time.Duration // delay before closing after a wrong token. Defaults to 200ms.
	IdempotencyKeys int           // idempotency results kept (LRU). Defaults to 4,096.
	Observer        Observer      // optional metrics hooks
	Logger          *slog.Logger  // optional; defaults to slog.Default()
}

func (o *Options) defaults() {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10000
	}
	if o.QueueLen <= 0 {
		o.QueueLen = 1024
	}
	if o.MaxQueuedBytes <= 0 {
		o.MaxQueuedBytes = 64 << 20
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 3 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Pending <= 0 {
		o.Pending = 256
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 30 * time.Second
	}
	if o.AuthFailDelay <= 0 {
		o.AuthFailDelay = 200 * time.Millisecond
	}
	if o.IdempotencyKeys <= 0 {
		o.IdempotencyKeys = 4096
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server serves the gtc protocol on any number of listeners and over HTTP.
type Server struct {
	b    Backend
	opts Options
	idem *idemCache

	nextSession atomic.Uint64
	nextPush    atomic.Uint64
	nsubs       atomic.Int64 // connections subscribed to events (len(subs)): Publish returns at once when 0
	eventSeq    atomic.Int64 // the highest seq published (or noted by NoteEventSeq): where a subscription begins

	mu        sync.Mutex
	conns     map[uint64]*conn
	named     map[string]*nameHold // the connections that said hello (or are saying it) under each name
	subs      map[*conn]struct{}   // the connections of conns subscribed to events
	listeners map[net.Listener]struct{}
	closed    bool
	nconns    int
	refusing  int // refusals being answered

	wg      sync.WaitGroup // accept loops and connections
	workers *workers       // parked request goroutines, shared by the connections

	// writerStarts counts writer goroutines started, partialWrites the frames a sender wrote only in
	// part itself (both on the slow paths only: tests and diagnostics).
	writerStarts  atomic.Int64
	partialWrites atomic.Int64
}

// NewServer returns a server calling b.
func NewServer(b Backend, opts Options) *Server {
	opts.defaults()
	return &Server{
		b: b, opts: opts, idem: newIdemCache(opts.IdempotencyKeys),
		conns: map[uint64]*conn{}, named: map[string]*nameHold{}, subs: map[*conn]struct{}{}, listeners: map[net.Listener]struct{}{}, workers: newWorkers(),
	}
}

// maxRefusing bounds the goroutines answering connections over MaxConns.
const maxRefusing = 64

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("rpc: server closed")

// Serve accepts connections on l until l is closed or Shutdown is called (other accept errors, such as
// running out of file descriptors, are retried with backoff). Unix-socket peers are trusted;
// peers on any other network must present the token in hello.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	transport := TransportTCP
	if l.Addr().Network() == "unix" {
		transport = TransportUnix
	}
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, l)
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else (out of file descriptors: EMFILE, ENFILE; ECONNABORTED; a timeout) passes:
			// retry with backoff. Returning would leave the socket in place with nobody accepting.
			s.opts.Logger.Warn("rpc: accept failed; retrying", "err", err)
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			s.mu.Lock()
			s.listeners[l] = struct{}{}
			s.mu.Unlock()
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if s.nconns >= s.opts.MaxConns {
			if s.refusing >= maxRefusing { // a flood: no reply, just close
				s.mu.Unlock()
				nc.Close()
				continue
			}
			s.refusing++
			s.wg.Add(1)
			s.mu.Unlock()
			go s.refuse(nc)
			continue
		}
		s.nconns++
		s.wg.Add(1)
		s.mu.Unlock()
		s.serveConn(nc, transport)
	}
}

// refuse answers an excess connection with -32009 (in its framing if it sends within a second) and closes it.
func (s *Server) refuse(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.refusing--
		s.mu.Unlock()
	}()
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(time.Second))
	fr := newFrameReader(nc, s.opts.MaxMessageBytes, FramingAuto)
	mode := FramingNDJSON
	if fr.detect() == nil {
		mode = fr.mode
	}
	body := encodeError(nullID, toWireError(coord.Errorf(coord.EBusy, "too many connections; retry later")))
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(appendFrame(nil, mode, body))
}

// Shutdown stops accepting, sends every peer a shutdown notification, closes the connections
// (waiting up to ctx for queued replies to be written) and waits for all goroutines.
func (s *Server) Shutdown(ctx context.Context, reason string) error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	body := encodeNotification("shutdown", mustJSON(ShutdownParams{Reason: reason}))
	for _, c := range conns {
		c.enqueue(outItem{body: body, closeAfter: true}, false)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.workers.stop(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for _, c := range s.conns {
		c.kill()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// outItem is one frame body for the writer; closeAfter closes the connection once it is written;
// pooled gives body back to framePool once written (nothing else holds it); skip is how much of the
// framed frame was written already (by its sender, conn.writeInline).
type outItem struct {
	body       []byte
	skip       uint32
	closeAfter bool
	pooled     bool
}

// conn is one peer: a stream connection (nc != nil) or one HTTP request (nc == nil).
type conn struct {
	srv  *Server
	nc   net.Conn
	raw  syscall.RawConn // nc's socket, written directly by writeInline (nil: TLS or another kind of conn)
	sess Session

	ctx    context.Context
	cancel context.CancelFunc

	mode   atomic.Int32 // Framing
	fr     *frameReader
	out    *outQueue
	done   chan struct{} // closed by kill
	killed sync.Once
	// helloTimer closes a stream connection that has not completed hello in time (stopped by finish).
	helloTimer *time.Timer
	// heldName is the name its hello claimed (Server.named; "" none), heldAsWorker whether as a worker
	// or refinery; both under srv.mu
	heldName     string
	heldAsWorker bool

	queued     atomic.Int64 // bytes in out, not yet written
	inlineAt   atomic.Int64 // when the last direct write (writeInline) ended, in monoNow's nanoseconds
	authed     atomic.Bool
	pushable   atomic.Bool // hello is being served: pushes may already be queued (they can precede its reply)
	authFailed atomic.Bool // a wrong token was presented: no second try
	readOnly   atomic.Bool // a client session opened while the storage failed (HelloResult.ReadOnly)
	helloMu    sync.Mutex

	pool         pool
	parkedClaims atomic.Int32 // claims waiting for work (parkClaim)

	pmu     sync.Mutex
	pending map[string]*pushState
	probes  map[string]chan struct{} // pings sent (probe), by JSON id, closed by their reply
	subs    atomic.Pointer[subscription]

	http *httpCollector
}

func (s *Server) newConn(parent context.Context, nc net.Conn, transport string) *conn {
	c := &conn{srv: s, nc: nc, done: make(chan struct{}), pending: map[string]*pushState{}}
	c.sess = Session{ID: s.nextSession.Add(1), Transport: transport}
	c.ctx, c.cancel = context.WithCancel(parent)
	c.pool.init(s.opts.Workers, s.opts.Pending)
	c.pool.runner = s.workers
	if nc != nil {
		c.sess.Remote = nc.RemoteAddr().String()
		c.out = newOutQueue(s.opts.QueueLen)
		c.raw = rawConnOf(nc)
		c.fr = newFrameReader(nc, s.opts.MaxMessageBytes, FramingAuto)
	}
	return c
}

// serveConn starts serving one stream connection (on the accept loop: it does not block). The
// connection's reader goroutine (readLoop) is all it holds while idle: a writer runs only while frames
// are queued (enqueue starts it), and the reader cleans up once its stream has ended (finish).
//
// jsonrpc2.Conn is not used here: the server answers requests and matches the replies to its pushes
// itself, so a jsonrpc2.Conn had nothing to do but cost two goroutines (its reader and its context
// watcher) and ~1 KB of heap per connection.
func (s *Server) serveConn(nc net.Conn, transport string) {
	c := s.newConn(context.Background(), nc, transport)
	s.opts.Observer.Conns(transport, 1)
	s.mu.Lock()
	s.conns[c.sess.ID] = c
	s.mu.Unlock()

	// A peer must complete hello soon after connecting; one that does not gives its slot back.
	c.helloTimer = time.AfterFunc(s.opts.HelloTimeout, func() {
		if !c.authed.Load() {
			c.kill()
		}
	})
	go c.readLoop()
}

// stopHelloTimer stops the hello timer of a stream connection (an HTTP request has none).
func (c *conn) stopHelloTimer() {
	if c.helloTimer != nil {
		c.helloTimer.Stop()
	}
}

// armHelloTimer gives a stream connection HelloTimeout again to complete hello.
func (c *conn) armHelloTimer() {
	if c.helloTimer != nil {
		c.helloTimer.Reset(c.srv.opts.HelloTimeout)
	}
}

// finish cleans up a stream connection, on its reader goroutine as the read loop ends: the reader
// hands nothing more to the backend, and finish waits for a running writer and the running requests,
// so Disconnected, and Shutdown's return, come after them.
func (c *conn) finish() {
	s := c.srv
	c.kill()
	c.stopHelloTimer()
	c.out.close()
	c.pool.close()
	s.releaseName(c) // after a running hello (it may claim the name), before Disconnected
	c.dropPending()
	c.unsubscribe()
	if c.authed.Load() {
		s.b.Disconnected(context.Background(), &c.sess)
	}
	s.forget(c)
	s.opts.Observer.Conns(c.sess.Transport, -1)
	s.wg.Done()
}

// nameHold is who said hello under a name: one worker or refinery connection, or any number of client
// connections (concurrent CLI commands share names) — not both.
type nameHold struct {
	worker  *conn
	clients int
}

// claimName records c's hello under name in role; false when it would share the name with another
// worker or refinery connection, or (as a worker or refinery) with a client connection — a worker
// draining (reconnected as a client) or a command acting as it.
func (s *Server) claimName(c *conn, name, role string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.named[name]
	if h == nil {
		h = &nameHold{}
		s.named[name] = h
	}
	asWorker := role != "client"
	switch {
	case h.worker != nil && h.worker != c, asWorker && h.clients > 0:
		return false
	case asWorker:
		h.worker = c
	default:
		h.clients++
	}
	c.heldName, c.heldAsWorker = name, asWorker
	return true
}

// releaseName gives up the hold c has on its name, if any.
func (s *Server) releaseName(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.heldName == "" {
		return
	}
	h := s.named[c.heldName]
	switch {
	case h == nil:
	case c.heldAsWorker && h.worker == c:
		h.worker = nil
	case !c.heldAsWorker:
		h.clients--
	}
	if h != nil && h.worker == nil && h.clients <= 0 {
		delete(s.named, c.heldName)
	}
	c.heldName = ""
}

// forget takes an ended connection out of the server's tables, with a subscription it may have gained
// since unsubscribe.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.sess.ID)
	s.dropSub(c)
	s.nconns--
	s.mu.Unlock()
}

// kill closes the connection now; safe from any goroutine, never blocks.
func (c *conn) kill() {
	c.killed.Do(func() {
		close(c.done)
		c.cancel()
		if c.nc != nil {
			c.nc.Close()
		}
	})
}

// enqueue hands a frame to the writer. wait=false (pushes, events) disconnects the peer when
// its queue is full; wait=true (replies) waits for room, bounded by the write timeout.
func (c *conn) enqueue(it outItem, wait bool) bool {
	if c.http != nil {
		c.http.add(it.body)
		return true
	}
	select {
	case <-c.done:
		return false
	default:
	}
	if n := int64(len(it.body)); c.queued.Add(n) > int64(c.srv.opts.MaxQueuedBytes) {
		c.queued.Add(-n)
		c.srv.opts.Logger.Warn("rpc: outgoing bytes over the cap (the peer does not read, or an answer is too big), disconnecting peer",
			"session", c.sess.ID, "worker", c.sess.Worker, "remote", c.sess.Remote, "frame_bytes", n, "cap_bytes", c.srv.opts.MaxQueuedBytes)
		c.kill()
		return false
	}
	ok, start, mine, room := c.out.putOrClaim(it, c.canInline(it))
	if mine {
		c.writeInline(it)
		return true
	}
	if start {
		c.startWriter()
	}
	if ok {
		return true
	}
	if room == nil { // the connection is being cleaned up
		c.queued.Add(-int64(len(it.body)))
		return false
	}
	if !wait {
		c.queued.Add(-int64(len(it.body)))
		c.srv.opts.Logger.Warn("rpc: outgoing queue full (the peer does not read fast enough), disconnecting peer",
			"session", c.sess.ID, "worker", c.sess.Worker, "remote", c.sess.Remote)
		c.kill()
		return false
	}
	t := time.NewTimer(c.srv.opts.WriteTimeout)
	defer t.Stop()
	for {
		select {
		case <-room:
			if ok, start, mine, room = c.out.putOrClaim(it, c.canInline(it)); mine {
				c.writeInline(it)
				return true
			}
			if start {
				c.startWriter()
			}
			if ok {
				return true
			}
			if room == nil {
				c.queued.Add(-int64(len(it.body)))
				return false
			}
		case <-c.done:
			c.queued.Add(-int64(len(it.body)))
			return false
		case <-t.C:
			c.queued.Add(-int64(len(it.body)))
			c.kill()
			return false
		}
	}
}

// startWriter starts the connection's writer goroutine (the caller holds the writer role for it).
func (c *conn) startWriter() {
	c.srv.writerStarts.Add(1)
	c.srv.workers.run(c.writeLoop)
}

// errNotTried: a direct write was not attempted (the socket's write deadline, set by a writer
// goroutine, has passed): the frame goes to a writer goroutine, which sets a new one.
var errNotTried = errors.New("rpc: direct write not tried")

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// canInline says whether it may be written by its sender (writeInline) should the connection's
// queue be empty with no writer running: the connection is a TCP or Unix socket, its framing is
// known (it is set once, from the peer's first frame, so a frame's rest is framed the same later),
// and the last direct write did not end just now (burstGap).
func (c *conn) canInline(it outItem) bool {
	return c.raw != nil && Framing(c.mode.Load()) != FramingAuto && uint64(len(it.body)) < math.MaxUint32-64 &&
		monoNow()-c.inlineAt.Load() >= int64(burstGap)
}

// burstGap: a frame enqueued within this time of the end of the connection's last direct write goes
// to a writer goroutine. Frames that close follow one another from one sender (the engine publishing
// a commit's events, pushes in a row): written directly, each would cost its sender a syscall
// (BenchmarkPush: 2.0-2.2 µs a push before direct writes, 3.3-3.9 µs with them, and ~2.4 µs more CPU
// in all), where the writer writes all that accumulates while it runs with one. A peer's request and
// its reply, or a push after the peer's last frame, are further apart (a round trip on a Unix socket
// is ~20 µs on a 2-vCPU VM).
const burstGap = 5 * time.Microsecond

// monoBase and monoNow: monotonic nanoseconds, cheaper than a time.Time to keep and compare.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) }

// writeInline writes a frame from its sender's goroutine, which took the writer role for it
// (putOrClaim: nothing was queued and no writer ran), with one non-blocking write: no goroutine is
// woken for a frame the socket takes at once. A frame not written whole (the peer is slow) has its
// rest queued first and a writer goroutine started, which writes it as writeLoop writes every frame
// (under the write deadline). A failed write kills the connection.
func (c *conn) writeInline(it outItem) {
	q := c.out
	select {
	case <-c.done: // killed: nothing more is written
		c.queued.Add(-int64(len(it.body)))
		if it.pooled {
			putFrameBuf(it.body)
		}
		q.stop()
		q.writer.Done()
		return
	default:
	}
	n, size, err := writeRaw(c.raw, Framing(c.mode.Load()), it.body, it.pooled)
	c.inlineAt.Store(monoNow())
	if n > 0 {
		c.srv.opts.Observer.Bytes("out", n)
	}
	switch {
	case err == nil && n == size: // written
		c.queued.Add(-int64(len(it.body)))
		if it.pooled {
			putFrameBuf(it.body)
		}
		if it.closeAfter {
			c.kill()
			q.stop()
			q.writer.Done()
			return
		}
		if q.release() {
			c.startWriter() // frames were queued meanwhile
			return
		}
		q.writer.Done()
	case err == nil || err == errNotTried: // the socket took part or none of it: the writer finishes it
		if n > 0 {
			c.srv.partialWrites.Add(1)
		}
		it.skip = uint32(n)
		q.pushFront(it)
		c.startWriter()
	default:
		c.queued.Add(-int64(len(it.body)))
		if it.pooled {
			putFrameBuf(it.body)
		}
		c.kill()
		q.stop()
		q.writer.Done()
	}
}

// writeLoop is the connection's writer, started by enqueue when a frame is queued and none runs (on
// a parked handler goroutine when there is one): it takes every queued frame at once and writes them
// with a deadline and one flush, until it finds the queue empty or the connection done.
func (c *conn) writeLoop() {
	defer c.out.writer.Done()
	bp := batches.Get().(*[]outItem)
	batch := *bp
	defer func() {
		if cap(batch) <= 64 {
			clear(batch) // a batch cut short (closeAfter, a failed write) still holds frames
			*bp = batch[:0]
			batches.Put(bp)
		}
	}()
	for {
		select {
		case <-c.done:
			c.out.stop()
			return
		default:
		}
		var more bool
		if batch, more = c.out.takeOrIdle(batch); !more {
			return
		}
		if !c.writeBatch(batch) {
			c.out.stop()
			return
		}
	}
}

// batches are the writers' batch buffers.
var batches = sync.Pool{New: func() any { b := make([]outItem, 0, 16); return &b }}

// writers are the 8 KiB write buffers, borrowed for one batch: an idle connection holds none.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8192) }}

// writeBatch writes frames with one deadline and one flush; false when the connection is done.
func (c *conn) writeBatch(batch []outItem) bool {
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(c.nc)
	defer func() {
		bw.Reset(nil)
		writers.Put(bw)
	}()
	closeAfter := false
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	for i, it := range batch {
		mode := Framing(c.mode.Load())
		if mode == FramingAuto {
			mode = FramingNDJSON
		}
		n, err := writeFrame(bw, mode, it.body, int(it.skip))
		c.queued.Add(-int64(len(it.body)))
		if it.pooled {
			putFrameBuf(it.body)
		}
		batch[i] = outItem{}
		if err != nil {
			c.kill()
			return false
		}
		c.srv.opts.Observer.Bytes("out", n)
		if it.closeAfter {
			closeAfter = true
			break
		}
	}
	if err := bw.Flush(); err != nil || closeAfter {
		c.kill()
		return false
	}
	// Cleared while this goroutine still holds the writer role: a deadline left to pass would make
	// every later direct write "not tried" (writeRaw) and send each frame through a writer goroutine.
	c.nc.SetWriteDeadline(time.Time{})
	return true
}

// closeLater closes the connection after d (used after a failed authentication).
func (c *conn) closeLater(d time.Duration) {
	t := time.AfterFunc(d, c.kill)
	go func() {
		<-c.done
		t.Stop()
	}()
}
