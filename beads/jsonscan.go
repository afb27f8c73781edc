package beads

import (
	"bytes"
	"errors"
	"strconv"
)

// member is one top-level key/value pair of a JSON object line, as byte offsets into the line.
type member struct {
	key        string // decoded key
	start      int    // offset of the key's opening quote
	valueStart int    // offset of the first byte of the value
	end        int    // offset just past the value
}

var errScan = errors.New("not a JSON object")

// scanObject lists the top-level members of a JSON object held in line. It assumes line is valid
// JSON (checked by the caller with json.Valid); it only finds offsets, it does not validate.
// It returns the offsets of the opening and closing braces too.
func scanObject(line []byte) (members []member, open, close int, err error) {
	return scanObjectInto(nil, line)
}

// scanObjectInto is scanObject appending the members to dst[:0] (nil members for an empty object when
// dst is nil).
func scanObjectInto(dst []member, line []byte) (members []member, open, close int, err error) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return nil, 0, 0, errScan
	}
	open = i
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		return dst[:0], open, i, nil
	}
	members = dst[:0]
	if members == nil {
		members = make([]member, 0, 16)
	}
	for i < len(line) {
		if line[i] != '"' {
			return nil, 0, 0, errScan
		}
		ks := i
		ke := skipString(line, i)
		if ke < 0 {
			return nil, 0, 0, errScan
		}
		key := unquoteKey(line[ks:ke])
		i = skipSpace(line, ke)
		if i >= len(line) || line[i] != ':' {
			return nil, 0, 0, errScan
		}
		i = skipSpace(line, i+1)
		vs := i
		ve := skipValue(line, i)
		if ve < 0 {
			return nil, 0, 0, errScan
		}
		members = append(members, member{key: key, start: ks, valueStart: vs, end: ve})
		i = skipSpace(line, ve)
		if i >= len(line) {
			return nil, 0, 0, errScan
		}
		if line[i] == '}' {
			return members, open, i, nil
		}
		if line[i] != ',' {
			return nil, 0, 0, errScan
		}
		i = skipSpace(line, i+1)
	}
	return nil, 0, 0, errScan
}

// scanArray returns the [start,end) offsets of each element of the JSON array held in v.
func scanArray(v []byte) ([][2]int, error) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return nil, errScan
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == ']' {
		return nil, nil
	}
	var out [][2]int
	for i < len(v) {
		e := skipValue(v, i)
		if e < 0 {
			return nil, errScan
		}
		out = append(out, [2]int{i, e})
		i = skipSpace(v, e)
		if i >= len(v) {
			return nil, errScan
		}
		if v[i] == ']' {
			return out, nil
		}
		if v[i] != ',' {
			return nil, errScan
		}
		i = skipSpace(v, i+1)
	}
	return nil, errScan
}

func unquoteKey(q []byte) string {
	// Fast path: no escapes.
	plain := true
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		if k, ok := knownKeys[string(q[1:len(q)-1])]; ok {
			return k // no copy of the usual keys
		}
		return string(q[1 : len(q)-1])
	}
	s, err := strconv.Unquote(string(q))
	if err != nil {
		return string(q[1 : len(q)-1])
	}
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the offset just past the string starting at b[i] == '"', or -1.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		bs := bytes.IndexByte(b[i:i+q], '\\')
		if bs < 0 {
			return i + q + 1
		}
		i += bs + 2 // past the escape: the quote found may be escaped
	}
	return -1
}

// skipValue returns the offset just past the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// knownKeys interns the keys of the profiles' field orders.
var knownKeys = func() map[string]string {
	m := make(map[string]string, len(modernOrder)+len(classicOrder)+4)
	for _, list := range [][]string{classicOrder, modernOrder, {"_schema", "wisp", "key", "value"}} {
		for _, k := range list {
			m[k] = k
		}
	}
	return m
}()
