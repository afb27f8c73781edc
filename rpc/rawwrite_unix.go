//go:build darwin || linux || openbsd

package rpc

import (
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConnOf returns the socket of a TCP or Unix-socket connection, which a sender may write a frame to
// directly (conn.writeInline); nil for any other net.Conn (TLS, wrappers), which keeps the writer
// goroutine: writing to the socket under such a conn would bypass it.
func rawConnOf(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch x := nc.(type) {
	case *net.TCPConn:
		sc = x
	case *net.UnixConn:
		sc = x
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawWrite is one non-blocking write of a framed frame: of one buffer, or of its two parts (writev).
// It is pooled with its callback and buffer, so a write allocates nothing.
type rawWrite struct {
	hdr   [40]byte
	parts [2][]byte
	one   []byte // the framed frame in one buffer (nil: parts are written)
	buf   []byte // small frames are copied here, header or newline included
	n     int
	err   error
	fn    func(fd uintptr) bool
}

var rawWrites = sync.Pool{New: func() any {
	w := &rawWrite{}
	w.fn = w.write
	return w
}}

// maxCopied: a framed frame up to this size is copied into one buffer and written with write(2),
// a larger one is written from its two parts with writev(2). On a Unix socket writev of two parts
// cost ~250-300 ns more than a copy and write of 300 B to 2 KB frames (1.5-1.8 µs per call), about
// as much at 8 KB, and less from 16 KB (copying 64 KB costs 2-4 µs).
const maxCopied = 8 << 10

// write runs under the socket's write lock (RawConn.Write); true: do not wait for writability.
func (w *rawWrite) write(fd uintptr) bool {
	for {
		var n int
		var err error
		if w.one != nil {
			n, err = unix.Write(int(fd), w.one)
		} else {
			n, err = unix.Writev(int(fd), w.parts[:])
		}
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			err = nil // the socket buffer is full: nothing written
		}
		w.n, w.err = max(n, 0), err
		return true
	}
}

// writeRaw makes one non-blocking attempt to write body framed for mode to rc (own: nothing else
// holds body, whose spare capacity may take the newline). It returns the bytes written and the framed
// frame's size; err is a failed write (the connection is broken or closed), or errNotTried when
// nothing was tried (the socket's write deadline has passed).
func writeRaw(rc syscall.RawConn, mode Framing, body []byte, own bool) (n, size int, err error) {
	w := rawWrites.Get().(*rawWrite)
	a, b := frameParts(&w.hdr, mode, body)
	size = len(a) + len(b)
	switch {
	case own && mode != FramingLSP && cap(body) > len(body):
		w.one = append(body, '\n') // in place: no copy
	case size <= maxCopied:
		w.buf = append(append(w.buf[:0], a...), b...)
		w.one = w.buf
	default:
		w.parts = [2][]byte{a, b}
	}
	w.n, w.err = 0, nil
	if err = rc.Write(w.fn); err == nil {
		n, err = w.n, w.err
	} else if isTimeout(err) {
		err = errNotTried
	}
	w.parts, w.one, w.err = [2][]byte{}, nil, nil
	rawWrites.Put(w)
	return n, size, err
}
