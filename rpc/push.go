package rpc

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gastown/gtc/coord"
)

// pushState is one assign request waiting for its reply.
type pushState struct {
	leaseID string
	epoch   int64
	timer   *time.Timer
}

// subscription is the set of event kinds a connection asked for (nil: all).
type subscription struct{ kinds map[string]bool }

func (s *Server) session(session uint64, worker string) (*conn, error) {
	s.mu.Lock()
	c := s.conns[session]
	s.mu.Unlock()
	if c == nil || !(c.authed.Load() || c.pushable.Load()) || c.sess.Worker != worker {
		return nil, coord.Errorf(coord.ENotFound, "no connected session %d for worker %q", session, worker)
	}
	return c, nil
}

// Push sends an assign request to one session without blocking. The reply arrives later as
// Backend.Acked or Backend.Rejected; an error reply or no reply within AckTimeout calls nothing.
// A peer whose outgoing queue is full is disconnected (error EBusy).
func (s *Server) Push(worker string, session uint64, a AssignPayload) error {
	c, err := s.session(session, worker)
	if err != nil {
		return err
	}
	id := `"a` + strconv.FormatUint(s.nextPush.Add(1), 10) + `"`
	frame, err := encodeAssign(id, &a)
	if err != nil {
		return err
	}
	ps := &pushState{leaseID: a.Lease.ID, epoch: a.Lease.Epoch}
	c.pmu.Lock()
	c.pending[id] = ps
	ps.timer = time.AfterFunc(s.opts.AckTimeout, func() {
		c.pmu.Lock()
		if c.pending[id] == ps {
			delete(c.pending, id)
		}
		c.pmu.Unlock()
	})
	c.pmu.Unlock()
	if !c.enqueue(outItem{body: frame, pooled: c.http == nil}, false) {
		c.takePending(id)
		return coord.Errorf(coord.EBusy, "worker %q is not reading; disconnected", worker)
	}
	return nil
}

// encodeAssign encodes a whole assign request (id is its JSON id) in one buffer: encodeRequest around
// assignParams, without a second copy of the params.
func encodeAssign(id string, a *AssignPayload) ([]byte, error) {
	const head, tail = `{"jsonrpc":"2.0","id":`, `,"method":"assign","params":`
	b := getFrameBuf(len(head) + len(id) + len(tail) + assignParamsSize(a) + 1)
	b = append(append(append(b, head...), id...), tail...)
	b, err := appendAssignParams(b, a)
	if err != nil {
		putFrameBuf(b)
		return nil, err
	}
	return append(b, '}'), nil
}

// framePool recycles the buffers of push frames: one per assignment, written and dropped within
// milliseconds, ~1.4 KB each in a drain — about a tenth of what the server allocates per cycle.
var framePool sync.Pool // *[]byte

// maxPooledFrame keeps an occasional huge issue's buffer out of the pool.
const maxPooledFrame = 16 << 10

// getFrameBuf returns an empty buffer with room for n bytes.
func getFrameBuf(n int) []byte {
	if p, ok := framePool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

// putFrameBuf gives a written frame's buffer back.
func putFrameBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledFrame {
		return
	}
	b = b[:0]
	framePool.Put(&b)
}

// assignParamsSize is room enough for most assign params.
func assignParamsSize(a *AssignPayload) int {
	return 320 + len(a.Issue) + len(a.Prompt) + len(a.Prompt)/8 + len(a.PromptJSON)
}

// appendAssignParams appends an assign request's params to params, encoded as json.Marshal would,
// without reflection. The issue's raw bytes are copied as they are: no re-encoding of the body.
func appendAssignParams(params []byte, a *AssignPayload) ([]byte, error) {
	params = append(params, `{"lease":`...)
	var ok bool
	if params, ok = appendLease(params, &a.Lease); !ok {
		_, err := json.Marshal(a.Lease) // a time json.Marshal refuses: its error
		return nil, coord.Errorf(coord.EInternal, "encode lease %s: %v", a.Lease.ID, err)
	}
	params = append(params, `,"issue":`...)
	if len(a.Issue) == 0 {
		params = append(params, "null"...)
	} else {
		params = append(params, a.Issue...)
	}
	params = append(params, `,"prompt":`...)
	if len(a.PromptJSON) > 0 {
		params = append(params, a.PromptJSON...)
	} else {
		params = appendQuoted(params, a.Prompt)
	}
	return append(params, '}'), nil
}

// appendLease appends l encoded as json.Marshal encodes a coord.Lease (TestAppendLease holds the two
// together, field list included); false when a time is one json.Marshal refuses.
func appendLease(b []byte, l *coord.Lease) ([]byte, bool) {
	ok := true
	b = append(b, `{"id":`...)
	b = appendQuoted(b, l.ID)
	b = append(b, `,"issue_id":`...)
	b = appendQuoted(b, l.IssueID)
	b = append(b, `,"worker":`...)
	b = appendQuoted(b, l.Worker)
	b = append(b, `,"epoch":`...)
	b = strconv.AppendInt(b, l.Epoch, 10)
	b = append(b, `,"state":`...)
	b = appendQuoted(b, string(l.State))
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(l.Attempt), 10)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, l.CreatedAt, &ok)
	b = append(b, `,"ack_deadline":`...)
	b = appendTime(b, l.AckDeadline, &ok)
	b = append(b, `,"deadline":`...)
	b = appendTime(b, l.Deadline, &ok)
	if l.EndedAt != nil {
		b = append(b, `,"ended_at":`...)
		b = appendTime(b, *l.EndedAt, &ok)
	}
	for _, f := range [...]struct{ key, v string }{{`,"outcome":`, l.Outcome}, {`,"error":`, l.Error}, {`,"progress":`, l.Progress}} {
		if f.v != "" {
			b = append(b, f.key...)
			b = appendQuoted(b, f.v)
		}
	}
	if l.Reserved {
		b = append(b, `,"reserved":true`...)
	}
	return append(b, '}'), ok
}

// appendTime appends t as time.Time.MarshalJSON does; *ok becomes false on its error.
func appendTime(b []byte, t time.Time, ok *bool) []byte {
	b = append(b, '"')
	b, err := t.AppendText(b) // MarshalJSON's text, unquoted
	if err != nil {
		*ok = false
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s quoted as json.Marshal quotes a string: HTML characters, U+2028 and U+2029
// escaped, invalid UTF-8 replaced by \ufffd (FuzzAppendQuoted compares the two).
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Cancel tells a session to stop working on a lease (notification, non-blocking).
func (s *Server) Cancel(worker string, session uint64, p CancelParams) error {
	c, err := s.session(session, worker)
	if err != nil {
		return err
	}
	if !c.enqueue(outItem{body: encodeNotification("cancel", mustJSON(p))}, false) {
		return coord.Errorf(coord.EBusy, "worker %q is not reading; disconnected", worker)
	}
	return nil
}

// Drain sends a drain notification to a worker's session (see DrainNotice).
func (s *Server) Drain(worker string, session uint64, p DrainNotice) error {
	c, err := s.session(session, worker)
	if err != nil {
		return err
	}
	if !c.enqueue(outItem{body: encodeNotification("drain", mustJSON(p))}, false) {
		return coord.Errorf(coord.EBusy, "worker %q is not reading; disconnected", worker)
	}
	return nil
}

// Publish sends an event notification to every subscribed connection (encoded once; non-blocking;
// a subscriber whose queue is full is disconnected). Only the subscribers are walked, not every connection.
func (s *Server) Publish(ev coord.Event) {
	s.NoteEventSeq(ev.Seq) // before nsubs is read: a subscribe either counts ev in its Seq or gets it
	if s.nsubs.Load() == 0 {
		return // nobody listens: no lock
	}
	var body []byte
	s.mu.Lock()
	subs := make([]*conn, 0, len(s.subs))
	for c := range s.subs {
		if sub := c.subs.Load(); sub != nil && (sub.kinds == nil || sub.kinds[ev.Kind]) {
			subs = append(subs, c)
		}
	}
	s.mu.Unlock()
	for _, c := range subs {
		if body == nil {
			body = encodeNotification("event", mustJSON(ev))
		}
		c.enqueue(outItem{body: body}, false)
	}
}

// NoteEventSeq says the audit log holds events up to seq (the daemon calls it at start with the stored
// log's last number); a subscription's result reports the highest noted or published.
func (s *Server) NoteEventSeq(seq int64) {
	for cur := s.eventSeq.Load(); seq > cur && !s.eventSeq.CompareAndSwap(cur, seq); cur = s.eventSeq.Load() {
	}
}

// subscribe starts (or replaces) c's subscription, unless c has ended (finish took it out of conns), and
// returns the seq the live events follow: an event published before it is counted there (its seq was
// noted before Publish read nsubs), one published after reaches c.
func (s *Server) subscribe(c *conn, kinds []string) int64 {
	sub := &subscription{}
	if len(kinds) > 0 {
		sub.kinds = map[string]bool{}
		for _, k := range kinds {
			sub.kinds[k] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[c.sess.ID] != c {
		return s.eventSeq.Load()
	}
	if c.subs.Swap(sub) == nil {
		s.subs[c] = struct{}{}
		s.nsubs.Add(1)
	}
	return s.eventSeq.Load()
}

// unsubscribe drops a closed connection's subscription.
func (c *conn) unsubscribe() {
	s := c.srv
	s.mu.Lock()
	s.dropSub(c)
	s.mu.Unlock()
}

// dropSub removes c's subscription, if any (s.mu held).
func (s *Server) dropSub(c *conn) {
	if c.subs.Swap(nil) != nil {
		delete(s.subs, c)
		s.nsubs.Add(-1)
	}
}

func (c *conn) takePending(id string) *pushState {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	ps := c.pending[id]
	if ps != nil {
		delete(c.pending, id)
		ps.timer.Stop()
	}
	return ps
}

// handleAck matches a response to one of our assign pushes or pings; false when it is not ours.
func (c *conn) handleAck(m *message) bool {
	if len(m.id) >= 3 && m.id[0] == '"' && m.id[1] == 'p' {
		return c.handlePong(string(m.id))
	}
	if len(m.id) < 3 || m.id[0] != '"' || m.id[1] != 'a' {
		return false
	}
	ps := c.takePending(string(m.id))
	if ps == nil {
		return false
	}
	// A push made while hello is served (pushable) may be acked before hello's reply: that ack counts.
	if m.errObj != nil && string(m.errObj) != "null" || !(c.authed.Load() || c.pushable.Load()) {
		return true // an error reply counts as no ack
	}
	var r AssignReply
	switch string(m.result) {
	case `{"accepted":true}`: // what the Go client sends; anything else is decoded
		r.Accepted = true
	default:
		if json.Unmarshal(m.result, &r) != nil {
			return true
		}
	}
	sess := &c.sess
	b := c.srv.b
	c.pool.add(func() {
		if r.Accepted {
			b.Acked(context.WithoutCancel(c.ctx), sess, ps.leaseID, ps.epoch)
		} else {
			b.Rejected(context.WithoutCancel(c.ctx), sess, ps.leaseID, ps.epoch, r.Reason)
		}
	}, true)
	return true
}

// dropPending forgets unanswered pushes of a closed connection.
func (c *conn) dropPending() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	for id, ps := range c.pending {
		ps.timer.Stop()
		delete(c.pending, id)
	}
}

// Disconnect closes a session's connection (for example when its worker said hello again elsewhere);
// Backend.Disconnected follows. Unknown sessions are ignored.
func (s *Server) Disconnect(session uint64) {
	s.mu.Lock()
	c := s.conns[session]
	s.mu.Unlock()
	if c != nil {
		c.kill()
	}
}
