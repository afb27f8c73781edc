package beads

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"unicode/utf8"
)

// lineReader yields a file's lines the way Parse splits them, hashing every byte it reads, so a file can
// be walked without holding it.
type lineReader struct {
	br      *bufio.Reader
	h       hash.Hash
	maxLine int
	long    []byte // holds a line longer than the read buffer
	lineNo  int    // 1-based number of the line last returned
	eof     bool
	// noFinalNewline is set once the last line has been returned without a newline after it.
	noFinalNewline bool
}

func newLineReader(r io.Reader, maxLine int) *lineReader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	h := sha256.New()
	// hashed as read, a buffer at a time: fewer, larger writes than a line at a time
	return &lineReader{br: bufio.NewReaderSize(io.TeeReader(r, h), 64<<10), h: h, maxLine: maxLine}
}

// next returns the next line without its newline and its length. A line longer than maxLine is returned
// as nil with its length. The bytes are valid until the next call; ok is false at the end.
func (lr *lineReader) next() (line []byte, n int, ok bool, err error) {
	if lr.eof {
		return nil, 0, false, nil
	}
	lr.long = lr.long[:0]
	size, long := 0, false
	for {
		frag, rerr := lr.br.ReadSlice('\n')
		size += len(frag)
		switch rerr {
		case bufio.ErrBufferFull:
			if size <= lr.maxLine+1 {
				lr.long = append(lr.long, frag...)
			}
			long = true
			continue
		case nil:
			frag = frag[:len(frag)-1]
			size--
		case io.EOF:
			lr.eof = true
			if size == 0 {
				return nil, 0, false, nil
			}
			lr.noFinalNewline = true
		default:
			return nil, 0, false, rerr
		}
		lr.lineNo++
		if size > lr.maxLine {
			return nil, size, true, nil
		}
		if long {
			lr.long = append(lr.long, frag...)
			return lr.long, size, true, nil
		}
		return frag, size, true, nil
	}
}

// sum returns the sha256 of every byte read from the underlying reader so far: of the whole input once
// next has reported its end.
func (lr *lineReader) sum() string { return hex.EncodeToString(lr.h.Sum(nil)) }

// lineHead is what an export needs of a line of a validated file.
type lineHead struct {
	kind   Kind
	id     []byte // issue id as JSON string content (unescaped); aliases the line unless it had escapes
	typed  bool   // an issue with a _type key, or a memory line: the file reads as ModernTyped
	counts bool   // an issue with a dependency_count key
	deps   []byte // the issue's dependencies value, nil when absent
}

// headOf classifies a line of a file already validated by Parse the way parseLine does, without
// json.Valid and without allocating for a plain line. ok is false for a line a valid file cannot hold
// (the file changed since it was validated).
func headOf(line []byte) (h lineHead, ok bool) {
	for _, m := range conflictMarkers {
		if bytes.HasPrefix(line, m) {
			return h, false
		}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		h.kind = KindBlank
		return h, true
	}
	var typ, id []byte
	hasSchema, hasType, hasCounts := false, false, false
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return h, false
	}
	i = skipSpace(line, i+1)
	closed := i < len(line) && line[i] == '}' // an empty object: no members
	for !closed && i < len(line) {
		if line[i] != '"' {
			return h, false
		}
		ks := i
		ke := skipString(line, i)
		if ke < 0 {
			return h, false
		}
		key := line[ks+1 : ke-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unquoteKey(line[ks:ke]))
		}
		i = skipSpace(line, ke)
		if i >= len(line) || line[i] != ':' {
			return h, false
		}
		vs := skipSpace(line, i+1)
		ve := skipValue(line, vs)
		if ve < 0 {
			return h, false
		}
		v := line[vs:ve]
		switch string(key) {
		case "_type":
			typ, hasType = v, true
		case "id":
			id = v
		case "_schema":
			hasSchema = true
		case "dependency_count":
			hasCounts = true
		case "dependencies":
			h.deps = v
		}
		i = skipSpace(line, ve)
		if i >= len(line) {
			return h, false
		}
		if line[i] == '}' {
			closed = true
			break
		}
		if line[i] != ',' {
			return h, false
		}
		i = skipSpace(line, i+1)
	}
	if !closed {
		return h, false
	}
	switch {
	case typ == nil || string(typ) == `"issue"`:
		if id == nil {
			if hasSchema {
				h.kind = KindHeader
				return h, true
			}
			return h, false
		}
		if len(id) > 2 && id[0] == '"' && id[len(id)-1] == '"' && bytes.IndexByte(id, '\\') < 0 && utf8.Valid(id[1:len(id)-1]) {
			h.id = id[1 : len(id)-1]
		} else {
			var s string
			if json.Unmarshal(id, &s) != nil || s == "" {
				return h, false
			}
			h.id = []byte(s)
		}
		h.kind, h.typed, h.counts = KindIssue, hasType, hasCounts
	case string(typ) == `"memory"`:
		h.kind, h.typed = KindMemory, true
	default:
		h.kind = KindOther
	}
	if h.kind != KindIssue {
		h.deps = nil
	}
	return h, true
}
