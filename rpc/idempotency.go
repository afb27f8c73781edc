package rpc

import (
	"container/list"
	"context"
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/gastown/gtc/coord"
)

// idemCache remembers the first result of mutating requests by (worker, method, key), LRU-bounded.
// A retry that arrives while the first attempt runs waits for it. Results that say "retry"
// (unavailable, busy, internal) are not kept. A key reused with other params is refused: the
// caller meant a new request, and the first one's result would answer it silently.
type idemCache struct {
	mu   sync.Mutex
	max  int
	ll   *list.List
	m    map[string]*idemEntry
	seed maphash.Seed
}

type idemEntry struct {
	key     string
	sum     uint64 // the params' fingerprint (paramsSum)
	done    chan struct{}
	res     []byte
	err     error
	elem    *list.Element
	decided bool                          // res and err are set (under idemCache.mu)
	waiters []func(res []byte, err error) // doAsync retries waiting for the first attempt (under idemCache.mu)
}

func newIdemCache(max int) *idemCache {
	return &idemCache{max: max, ll: list.New(), m: map[string]*idemEntry{}, seed: maphash.MakeSeed()}
}

// paramsSum fingerprints decoded params: re-encoded, so a retry that orders its keys or spaces its
// JSON otherwise is the same request (unknown keys, dropped by the decode, do not count).
func (c *idemCache) paramsSum(p any) uint64 {
	b, err := json.Marshal(p)
	if err != nil {
		return 0 // cannot happen for params that decoded; 0 then matches only itself
	}
	return maphash.Bytes(c.seed, b)
}

// reused is the error for a key (worker NUL method NUL the caller's key) that came first with other
// params; worker and method names hold no NUL.
func reused(key string) error {
	k := strings.SplitN(key, "\x00", 3)[2]
	return coord.Errorf(coord.EInvalid, "idempotency_key %q was used before with other params: a new request needs a new key", k)
}

func (c *idemCache) do(ctx context.Context, key string, sum uint64, run func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		if e.sum != sum {
			c.mu.Unlock()
			return nil, reused(key)
		}
		c.ll.MoveToFront(e.elem)
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.res, e.err
		case <-ctx.Done():
			return nil, coord.Errorf(coord.EUnavailable, "connection closed while the first attempt ran")
		}
	}
	e := c.insert(key, sum)
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
func (c *idemCache) doAsync(key string, sum uint64, run func(finish func([]byte, error)), reply func([]byte, error)) {
	c.mu.Lock()
	if e, ok := c.m[key]; ok {
		if e.sum != sum {
			c.mu.Unlock()
			reply(nil, reused(key))
			return
		}
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
	e := c.insert(key, sum)
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
func (c *idemCache) insert(key string, sum uint64) *idemEntry {
	e := &idemEntry{key: key, sum: sum, done: make(chan struct{})}
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
