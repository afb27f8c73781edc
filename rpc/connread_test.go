package rpc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// socketPair returns both ends of a unix socket connection.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	a, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// Frames of every size come through the lazily buffered reader unchanged, on a socket (waiting
// without a buffer) and on a net.Pipe (plain reads), in both framings; between messages an idle
// reader holds no buffer.
func TestLazyReaderFrames(t *testing.T) {
	bodies := []string{`{"a":1}`, `{"s":"` + strings.Repeat("x", 5000) + `"}`, `{"m":"` + strings.Repeat("y", 100<<10) + `"}`, `[1,2]`}
	for _, kind := range []string{"socket", "pipe"} {
		for _, mode := range []Framing{FramingNDJSON, FramingLSP} {
			t.Run(kind+"/"+mode.String(), func(t *testing.T) {
				var w, r net.Conn
				if kind == "socket" {
					w, r = socketPair(t)
				} else {
					w, r = net.Pipe()
					t.Cleanup(func() { w.Close(); r.Close() })
				}
				go func() {
					for _, b := range bodies {
						w.Write(appendFrame(nil, mode, []byte(b)))
						time.Sleep(time.Millisecond) // let the reader go idle between messages
					}
					w.Close()
				}()
				fr := newFrameReader(r, 1<<20, FramingAuto)
				for i, want := range bodies {
					r.SetReadDeadline(time.Now().Add(5 * time.Second))
					got, err := fr.next()
					if err != nil {
						t.Fatalf("frame %d: %v", i, err)
					}
					if !bytes.Equal(got, []byte(want)) {
						t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
					}
				}
				if _, err := fr.next(); !errors.Is(err, io.EOF) {
					t.Fatalf("after the last frame: %v, want EOF", err)
				}
				if fr.r.buf != nil {
					t.Fatalf("reader keeps a %d-byte buffer with nothing unread", len(fr.r.buf))
				}
			})
		}
	}
}

// Messages that arrive together are all read from one buffer, which is given back once drained; a
// read deadline ends a wait, and a later deadline lets the reader go on.
func TestLazyReaderBatchAndDeadline(t *testing.T) {
	w, r := socketPair(t)
	fr := newFrameReader(r, 1<<20, FramingNDJSON)
	if _, err := w.Write([]byte("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")); err != nil {
		t.Fatal(err)
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 1; i <= 3; i++ {
		got, err := fr.next()
		if err != nil || string(got) != `{"n":`+string(rune('0'+i))+`}` {
			t.Fatalf("frame %d: %q, %v", i, got, err)
		}
		if held := fr.r.buf != nil; held != (i < 3) {
			t.Fatalf("after frame %d the reader holds a buffer: %v", i, held)
		}
	}
	r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := fr.next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle read past its deadline: %v, want a deadline error", err)
	}
	if fr.r.buf != nil {
		t.Fatal("a reader waiting for data holds a buffer")
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	w.Write([]byte("{\"n\":4}\n"))
	if got, err := fr.next(); err != nil || string(got) != `{"n":4}` {
		t.Fatalf("after the deadline was moved: %q, %v", got, err)
	}
}
