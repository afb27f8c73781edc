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
	key     string
	done    chan struct{}
	res     []byte
	err     error
	elem    *list.Element
	decided bool                          // res and err are set (under idemCache.mu)
	waiters []func(res []byte, err error) // doAsync retries waiting for the first attempt (under idemCache.mu)
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
	e := c.insert(key)
	c.mu.Unlock()

	func() {
		// A panic in run must not leave the key's waiters blocked forever: they get an internal error
		// (which is not remembered), and the panic goes on to the connection's recovery.
		done := false
		defer func() {
			if !done {
				c.decide(e, nil, coord.Errorf(coord.EInternal, "the first attempt failed"))
			}
		}()
		res, err := run()
		done = true
		c.decide(e, res, err)
	}()
	return e.res, e.err
}

// doAsync is do for a method that answers later without holding a goroutine: run starts the first
// attempt and calls finish once with its outcome; reply gets the outcome — at once for a remembered key,
// when the first attempt is decided for a key still running (from the goroutine that calls finish, so
// reply must not block).
func (c *idemCache) doAsync(key string, run func(finish func([]byte, error)), reply func([]byte, error)) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		c.ll.MoveToFront(e.elem)
		if !e.decided {
			e.waiters = append(e.waiters, reply)
			c.mu.Unlock()
			return
		}
		res, err := e.res, e.err
		c.mu.Unlock()
		reply(res, err)
		return
	}
	e := c.insert(key)
	c.mu.Unlock()
	var once sync.Once
	finish := func(res []byte, err error) {
		once.Do(func() {
			c.decide(e, res, err)
			reply(res, err)
		})
	}
	defer func() {
		// A panic in run must not leave the key pending forever: it is decided as an internal error
		// (not remembered), and the panic goes on to the connection's recovery.
		if r := recover(); r != nil {
			finish(nil, coord.Errorf(coord.EInternal, "the first attempt failed"))
			panic(r)
		}
	}()
	run(finish)
}

// insert adds a running first attempt for key, dropping the least recently used beyond max; c.mu is held.
func (c *idemCache) insert(key string) *idemEntry {
	e := &idemEntry{key: key, done: make(chan struct{})}
	e.elem = c.ll.PushFront(e)
	c.m[key] = e
	for c.ll.Len() > c.max {
		old := c.ll.Remove(c.ll.Back()).(*idemEntry)
		delete(c.m, old.key)
	}
	return e
}

// decide records the first attempt's outcome, wakes everyone waiting for it, and forgets outcomes that
// say "retry" (unavailable, busy, internal), so that a retry runs again.
func (c *idemCache) decide(e *idemEntry, res []byte, err error) {
	c.mu.Lock()
	e.res, e.err, e.decided = res, err, true
	waiters := e.waiters
	e.waiters = nil
	switch coord.ErrorCode(err) {
	case coord.EUnavailable, coord.EBusy, coord.EInternal:
		if c.m[e.key] == e {
			delete(c.m, e.key)
			c.ll.Remove(e.elem)
		}
	}
	c.mu.Unlock()
	close(e.done)
	for _, w := range waiters {
		w(res, err)
	}
}

// len reports the number of remembered keys.
func (c *idemCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
