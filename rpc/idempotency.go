package rpc

import (
	"container/list"
	"context"
	"sync"

	"github.com/gastown/gtc/coord"
)

// idemCache remembers the first result of mutating requests by (worker, method, key), LRU-bounded.
// A retry that arrives while the first attempt runs waits for it. Results that say "retry"
// (unavailable, busy, internal) are not kept.
type idemCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List
	m   map[string]*idemEntry
}

type idemEntry struct {
	key  string
	done chan struct{}
	res  []byte
	err  error
	elem *list.Element
}

func newIdemCache(max int) *idemCache {
	return &idemCache{max: max, ll: list.New(), m: map[string]*idemEntry{}}
}

func (c *idemCache) do(ctx context.Context, key string, run func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e.elem)
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.res, e.err
		case <-ctx.Done():
			return nil, coord.Errorf(coord.EUnavailable, "connection closed while the first attempt ran")
		}
	}
	e := &idemEntry{key: key, done: make(chan struct{})}
	e.elem = c.ll.PushFront(e)
	c.m[key] = e
	for c.ll.Len() > c.max {
		old := c.ll.Remove(c.ll.Back()).(*idemEntry)
		delete(c.m, old.key)
	}
	c.mu.Unlock()

	func() {
		// A panic in run must not leave the key's waiters blocked forever: they get an internal error
		// (which is not remembered), and the panic goes on to the connection's recovery.
		done := false
		defer func() {
			if !done {
				e.err = coord.Errorf(coord.EInternal, "the first attempt failed")
				close(e.done)
				c.forget(key, e)
			}
		}()
		e.res, e.err = run()
		done = true
	}()
	close(e.done)
	switch coord.ErrorCode(e.err) {
	case coord.EUnavailable, coord.EBusy, coord.EInternal:
		c.forget(key, e)
	}
	return e.res, e.err
}

// forget drops key's entry if it is still e.
func (c *idemCache) forget(key string, e *idemEntry) {
	c.mu.Lock()
	if c.m[key] == e {
		delete(c.m, key)
		c.ll.Remove(e.elem)
	}
	c.mu.Unlock()
}

// len reports the number of remembered keys.
func (c *idemCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
