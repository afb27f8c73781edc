package rpc

import (
	"context"
	"strconv"
	"time"
)

// A worker whose host crashed or lost the network leaves a half-open connection: the server sees
// nothing until its idle timeout (5 minutes) and kept the worker's name, so the restarted worker's
// hello was refused as a second process under that name for that long. A hello for a held name now
// pings the holder: any reply (a peer that does not know ping answers method-not-found) shows a live
// process, and the hello is refused as before; silence for ProbeTimeout closes the holder and the
// new connection takes the name.

// probe sends c's peer a ping request and reports whether it replied within d (true as well when ctx
// ends first: the asker has gone, the holder is left alone), and if not, why.
func (c *conn) probe(ctx context.Context, d time.Duration) (bool, string) {
	id := `"p` + strconv.FormatUint(c.srv.nextPush.Add(1), 10) + `"`
	pong := make(chan struct{})
	c.pmu.Lock()
	if c.probes == nil {
		c.probes = map[string]chan struct{}{}
	}
	c.probes[id] = pong
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.probes, id)
		c.pmu.Unlock()
	}()
	if !c.enqueue(outItem{body: []byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`)}, false) {
		return false, "the ping could not be sent (the connection is closing, or the peer does not read)"
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-pong:
		return true, ""
	case <-c.done:
		return false, "the connection ended under the ping"
	case <-t.C:
		return false, "no answer to a ping within " + d.String()
	case <-ctx.Done():
		return true, ""
	}
}

// handlePong takes the reply to a ping; false when no ping of that id waits.
func (c *conn) handlePong(id string) bool {
	c.pmu.Lock()
	pong := c.probes[id]
	delete(c.probes, id)
	c.pmu.Unlock()
	if pong == nil {
		return false
	}
	close(pong)
	return true
}

// takeNameFromSilent is hello's second try at a name a worker's connection holds: it pings the
// holder and, when no reply comes within ProbeTimeout, closes it and claims the name for c once the
// holder has let it go (within another ProbeTimeout). It reports whether c holds the name.
func (s *Server) takeNameFromSilent(ctx context.Context, c *conn, name, role string) bool {
	s.mu.Lock()
	var holder *conn
	if h := s.named[name]; h != nil {
		holder = h.worker
	}
	s.mu.Unlock()
	if holder == nil || holder == c || holder.nc == nil {
		return false
	}
	alive, why := holder.probe(ctx, s.opts.ProbeTimeout)
	if alive {
		return false
	}
	s.opts.Logger.Warn("closed a worker's old connection: its name said hello on a new one", "worker", name,
		"remote", holder.sess.Remote, "new_remote", c.sess.Remote, "why", why)
	holder.kill()
	deadline := time.Now().Add(s.opts.ProbeTimeout)
	for !s.claimName(c, name, role) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond) // the holder's reader is finishing: it lets the name go then
	}
	return true
}
