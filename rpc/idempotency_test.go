package rpc

import (
	"context"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestIdemCacheAsync: the asynchronous form runs a key's first attempt once; a retry while it runs (in
// either form) gets its outcome when it is decided, a retry after it gets it at once, and an outcome that
// says "retry" (unavailable) is forgotten so that the next attempt runs.
func TestIdemCacheAsync(t *testing.T) {
	type outcome struct {
		res string
		err error
	}
	c := newIdemCache(16)
	var finish func([]byte, error)
	runs := 0
	run := func(f func([]byte, error)) { runs++; finish = f }
	first, retry := make(chan outcome, 1), make(chan outcome, 1)
	c.doAsync("k", 0, run, func(res []byte, err error) { first <- outcome{string(res), err} })
	c.doAsync("k", 0, run, func(res []byte, err error) { retry <- outcome{string(res), err} })
	syncRetry := make(chan outcome, 1)
	go func() {
		res, err := c.do(context.Background(), "k", 0, func() ([]byte, error) { t.Error("the synchronous retry ran"); return nil, nil })
		syncRetry <- outcome{string(res), err}
	}()
	select {
	case o := <-first:
		t.Fatalf("answered %+v before the first attempt was decided", o)
	case o := <-retry:
		t.Fatalf("retry answered %+v before the first attempt was decided", o)
	case <-time.After(20 * time.Millisecond):
	}
	finish([]byte(`"one"`), nil)
	finish([]byte(`"twice"`), nil) // a second call is ignored
	for name, ch := range map[string]chan outcome{"first": first, "async retry": retry, "sync retry": syncRetry} {
		select {
		case o := <-ch:
			if o.res != `"one"` || o.err != nil {
				t.Errorf("%s got %+v, want the first outcome", name, o)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s never answered", name)
		}
	}
	c.doAsync("k", 0, run, func(res []byte, err error) { retry <- outcome{string(res), err} })
	if o := <-retry; o.res != `"one"` || runs != 1 {
		t.Fatalf("retry after the decision: %+v with %d runs, want the first outcome and 1 run", o, runs)
	}

	c.doAsync("u", 0, run, func(res []byte, err error) { first <- outcome{string(res), err} })
	finish(nil, coord.Errorf(coord.EUnavailable, "storage failed"))
	if o := <-first; coord.ErrorCode(o.err) != coord.EUnavailable {
		t.Fatalf("first attempt of u: %+v", o)
	}
	c.doAsync("u", 0, run, func(res []byte, err error) { retry <- outcome{string(res), err} })
	if runs != 3 {
		t.Fatalf("after an unavailable outcome the retry did not run (%d runs)", runs)
	}
	finish([]byte(`"two"`), nil)
	if o := <-retry; o.res != `"two"` || o.err != nil {
		t.Fatalf("retry of u: %+v", o)
	}
}
