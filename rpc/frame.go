package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Framing is how messages are delimited on a stream connection.
type Framing int32

// Framings; a server detects the peer's framing from its first bytes and replies in it.
const (
	FramingAuto   Framing = iota // server side: not known yet
	FramingNDJSON                // one JSON value per line
	FramingLSP                   // Content-Length headers (LSP, vscode-jsonrpc)
)

// String names the framing.
func (f Framing) String() string {
	switch f {
	case FramingNDJSON:
		return "ndjson"
	case FramingLSP:
		return "lsp"
	}
	return "auto"
}

// DefaultMaxMessageBytes is the default cap on one message.
const DefaultMaxMessageBytes = 1 << 20

var (
	errTooLarge  = errors.New("message over the size cap")
	errBadHeader = errors.New("bad Content-Length framing")
)

// frameReader splits a stream into messages, detecting the framing from the first byte when asked.
type frameReader struct {
	r    *lazyReader
	max  int
	mode Framing
	buf  []byte // a line longer than the read buffer is assembled here
}

func newFrameReader(r io.Reader, max int, mode Framing) *frameReader {
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	return &frameReader{r: newLazyReader(r), max: max, mode: mode}
}

// detect reads the framing from the first non-blank byte.
func (f *frameReader) detect() error {
	for {
		b, err := f.r.Peek(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			f.r.Discard(1)
			continue
		case 'C', 'c':
			f.mode = FramingLSP
		default:
			f.mode = FramingNDJSON
		}
		return nil
	}
}

// next returns the next message body (a fresh slice). errTooLarge and errBadHeader leave the
// stream unsynchronised: the caller answers and closes. Between messages the reader holds no buffer
// unless the peer already sent more.
func (f *frameReader) next() ([]byte, error) {
	defer f.r.release()
	if f.mode == FramingAuto {
		if err := f.detect(); err != nil {
			return nil, err
		}
	}
	if f.mode == FramingLSP {
		return f.nextLSP()
	}
	return f.nextLine()
}

func (f *frameReader) nextLine() ([]byte, error) {
	f.buf = f.buf[:0]
	if cap(f.buf) > 64<<10 { // do not keep a huge message's buffer for the connection's life
		f.buf = nil
	}
	for {
		chunk, err := f.r.ReadSlice('\n')
		if len(f.buf) == 0 && err == nil { // the whole line was in the read buffer
			if line := bytes.TrimSpace(chunk); len(line) > 0 {
				if len(line) > f.max {
					return nil, errTooLarge
				}
				return bytes.Clone(line), nil
			}
			continue
		}
		if len(f.buf)+len(chunk) > f.max+2 { // allow the line terminator on top of the cap
			return nil, errTooLarge
		}
		f.buf = append(f.buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || len(bytes.TrimSpace(f.buf)) == 0) {
			return nil, err
		}
		line := bytes.TrimSpace(f.buf)
		if len(line) == 0 {
			f.buf = f.buf[:0]
			continue
		}
		if len(line) > f.max {
			return nil, errTooLarge
		}
		return bytes.Clone(line), nil
	}
}

func (f *frameReader) nextLSP() ([]byte, error) {
	n := -1
	for lines := 0; ; lines++ {
		line, err := f.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull || lines > 32 {
			return nil, errBadHeader
		}
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if lines == 0 { // blank lines between messages
				lines = -1
				continue
			}
			break
		}
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return nil, errBadHeader
		}
		if bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			v, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64)
			if err != nil || v < 0 {
				return nil, errBadHeader
			}
			if v > int64(f.max) {
				return nil, errTooLarge
			}
			n = int(v)
		}
	}
	if n < 0 {
		return nil, errBadHeader
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(f.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}

// appendFrame appends body framed for mode to dst.
func appendFrame(dst []byte, mode Framing, body []byte) []byte {
	if mode == FramingLSP {
		dst = fmt.Appendf(dst, "Content-Length: %d\r\n\r\n", len(body))
		return append(dst, body...)
	}
	dst = append(dst, body...)
	return append(dst, '\n')
}

// frameParts returns body framed for mode as two parts: the Content-Length header (built in hdr) and
// body, or body and its newline.
func frameParts(hdr *[40]byte, mode Framing, body []byte) (a, b []byte) {
	if mode == FramingLSP {
		h := strconv.AppendInt(append(hdr[:0], "Content-Length: "...), int64(len(body)), 10)
		return append(h, "\r\n\r\n"...), body
	}
	return body, newline
}

var newline = []byte{'\n'}

// writeFrame writes body framed for mode to w, less its first skip bytes (written already), and
// returns the bytes written.
func writeFrame(w *bufio.Writer, mode Framing, body []byte, skip int) (int, error) {
	if mode == FramingLSP {
		var hdr [40]byte // escapes (bufio may hand it to the conn): only LSP frames pay for it
		h, _ := frameParts(&hdr, mode, body)
		return writeParts(w, h, body, skip)
	}
	return writeParts(w, body, newline, skip)
}

// writeParts writes a then b to w, less their first skip bytes, and returns the bytes written.
func writeParts(w *bufio.Writer, a, b []byte, skip int) (int, error) {
	n := 0
	for _, p := range [2][]byte{a, b} {
		if skip >= len(p) {
			skip -= len(p)
			continue
		}
		m, err := w.Write(p[skip:])
		skip = 0
		if n += m; err != nil {
			return n, err
		}
	}
	return n, nil
}
