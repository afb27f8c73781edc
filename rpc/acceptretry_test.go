package rpc

import (
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// flakyListener fails its first accepts the way a process out of file descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestServeSurvivesAcceptErrors: accept errors other than a closed listener (EMFILE) are retried, so
// the listener keeps serving once descriptors are free again instead of leaving its socket in place
// with nobody accepting.
func TestServeSurvivesAcceptErrors(t *testing.T) {
	inner, err := ListenUnix(filepath.Join(t.TempDir(), "gtc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	l := &flakyListener{Listener: inner}
	l.failures.Store(3)
	s, _ := serveUnix(t, Options{}, newFake())
	go s.Serve(l)
	p := dialRaw(t, "unix", inner.Addr().String(), FramingNDJSON)
	if r := p.hello(testToken); !strings.Contains(r, `"result"`) {
		t.Fatalf("hello after accept errors: %s", r)
	}
}
