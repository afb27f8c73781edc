package rpc

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

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
	lease, err := json.Marshal(a.Lease)
	if err != nil {
		return coord.Errorf(coord.EInternal, "encode lease %s: %v", a.Lease.ID, err)
	}
	// The issue's raw bytes are copied into the frame as they are: no re-encoding of the body.
	params := make([]byte, 0, len(lease)+len(a.Issue)+len(a.Prompt)+40)
	params = append(params, `{"lease":`...)
	params = append(params, lease...)
	params = append(params, `,"issue":`...)
	if len(a.Issue) == 0 {
		params = append(params, "null"...)
	} else {
		params = append(params, a.Issue...)
	}
	params = append(params, `,"prompt":`...)
	prompt, _ := json.Marshal(a.Prompt)
	params = append(params, prompt...)
	params = append(params, '}')

	id := `"a` + strconv.FormatUint(s.nextPush.Add(1), 10) + `"`
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
	if !c.enqueue(outItem{body: encodeRequest([]byte(id), "assign", params)}, false) {
		c.takePending(id)
		return coord.Errorf(coord.EBusy, "worker %q is not reading; disconnected", worker)
	}
	return nil
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

// Publish sends an event notification to every subscribed connection (encoded once; non-blocking;
// a subscriber whose queue is full is disconnected).
func (s *Server) Publish(ev coord.Event) {
	if s.nsubs.Load() == 0 {
		return // nobody listens: no lock, no scan of the connections
	}
	var body []byte
	s.mu.Lock()
	subs := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
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

func (s *Server) subscribe(c *conn, kinds []string) {
	sub := &subscription{}
	if len(kinds) > 0 {
		sub.kinds = map[string]bool{}
		for _, k := range kinds {
			sub.kinds[k] = true
		}
	}
	if c.subs.Swap(sub) == nil {
		s.nsubs.Add(1)
	}
}

// unsubscribe drops a closed connection's subscription from the count.
func (c *conn) unsubscribe() {
	if c.subs.Swap(nil) != nil {
		c.srv.nsubs.Add(-1)
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

// handleAck matches a response to one of our assign pushes; false when it is not ours.
func (c *conn) handleAck(m *message) bool {
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
	if json.Unmarshal(m.result, &r) != nil {
		return true
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
