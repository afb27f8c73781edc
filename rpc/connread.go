package rpc

import (
	"bufio"
	"io"
	"syscall"
)

// readBufSize is the size of a borrowed read buffer.
const readBufSize = 4096

// readBufs holds the read buffers of all connections: a connection borrows one only while unread
// bytes sit in it, so an idle connection (the usual state of a worker's) holds none.
var readBufs = newBufList(readBufSize, maxFreeReadBufs)

// maxFreeReadBufs is how many returned read buffers are kept for reuse (1 MiB).
const maxFreeReadBufs = 256

// bufList is a free list of equal buffers that, unlike a sync.Pool, survives garbage collections:
// under a memory limit the collector runs every few hundred milliseconds at full load, and a pool
// emptied each time made 1,000 busy connections allocate a fresh 4 KiB buffer ~9,000 times in a
// 100,000-issue drain (36 MB, ~4 % of what the server allocated).
type bufList struct {
	size int
	free chan *[]byte
}

func newBufList(size, keep int) *bufList {
	return &bufList{size: size, free: make(chan *[]byte, keep)}
}

// get returns a kept buffer or a new one.
func (l *bufList) get() *[]byte {
	select {
	case b := <-l.free:
		return b
	default:
		b := make([]byte, l.size)
		return &b
	}
}

// put keeps b for reuse, or drops it when enough are kept.
func (l *bufList) put(b *[]byte) {
	select {
	case l.free <- b:
	default:
	}
}

// lazyReader is the part of bufio.Reader a frameReader uses, over a buffer borrowed from readBufs
// while it holds unread bytes. On a socket it waits for data without a buffer (syscall.RawConn: the
// buffer is taken only when the read syscall runs); other readers (net.Pipe, TLS) are read into a
// borrowed buffer.
type lazyReader struct {
	src  io.Reader
	rc   syscall.RawConn // nil: read src
	bufp *[]byte
	buf  []byte
	r, w int
	err  error
}

func newLazyReader(src io.Reader) *lazyReader {
	l := &lazyReader{src: src}
	if sc, ok := src.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			l.rc = rc
		}
	}
	return l
}

func (l *lazyReader) get() {
	l.bufp = readBufs.get()
	l.buf, l.r, l.w = *l.bufp, 0, 0
}

// release gives the buffer back when it holds no unread byte.
func (l *lazyReader) release() {
	if l.buf != nil && l.r == l.w {
		readBufs.put(l.bufp)
		l.bufp, l.buf, l.r, l.w = nil, nil, 0, 0
	}
}

func (l *lazyReader) buffered() int { return l.w - l.r }

// fill reads once more into the buffer (after moving unread bytes to its start); errors stay in l.err.
func (l *lazyReader) fill() {
	if l.err != nil {
		return
	}
	if l.buf == nil {
		l.get()
	} else if l.r > 0 {
		copy(l.buf, l.buf[l.r:l.w])
		l.w -= l.r
		l.r = 0
	}
	if l.rc == nil {
		for range 100 {
			n, err := l.src.Read(l.buf[l.w:])
			l.w += n
			if l.err = err; n > 0 || err != nil {
				return
			}
		}
		l.err = io.ErrNoProgress
		return
	}
	var (
		n    int
		rerr error
	)
	err := l.rc.Read(func(fd uintptr) bool {
		if l.buf == nil {
			l.get()
		}
		for {
			n, rerr = syscall.Read(int(fd), l.buf[l.w:])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			l.release() // wait for data holding no buffer (when nothing is buffered)
			return false
		}
		return true
	})
	switch {
	case err != nil: // deadline passed, connection closed
		l.err = err
	case rerr != nil:
		l.err = rerr
	case n == 0:
		l.err = io.EOF
	default:
		l.w += n
	}
}

// ReadSlice is bufio.Reader.ReadSlice.
func (l *lazyReader) ReadSlice(delim byte) ([]byte, error) {
	for {
		if l.buf != nil {
			for i, c := range l.buf[l.r:l.w] {
				if c == delim {
					s := l.buf[l.r : l.r+i+1]
					l.r += i + 1
					return s, nil
				}
			}
			if l.buffered() == len(l.buf) {
				s := l.buf[l.r:l.w]
				l.r = l.w
				return s, bufio.ErrBufferFull
			}
		}
		if l.err != nil {
			var s []byte
			if l.buf != nil {
				s = l.buf[l.r:l.w]
				l.r = l.w
			}
			return s, l.takeErr()
		}
		l.fill()
	}
}

// Peek returns the next n (≤ readBufSize) bytes without consuming them.
func (l *lazyReader) Peek(n int) ([]byte, error) {
	for l.buffered() < n && l.err == nil {
		l.fill()
	}
	if l.buffered() < n {
		return nil, l.takeErr()
	}
	return l.buf[l.r : l.r+n], nil
}

// Discard skips n buffered bytes.
func (l *lazyReader) Discard(n int) {
	l.r += min(n, l.buffered())
}

// Read is io.Reader: buffered bytes first, then one read.
func (l *lazyReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.buffered() == 0 {
		if l.err != nil {
			return 0, l.takeErr()
		}
		l.fill()
		if l.buffered() == 0 {
			return 0, l.takeErr()
		}
	}
	n := copy(p, l.buf[l.r:l.w])
	l.r += n
	return n, nil
}

// takeErr returns the pending error once, as bufio does (the next read tries again).
func (l *lazyReader) takeErr() error {
	err := l.err
	l.err = nil
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
