package rpc

import (
	"bytes"
	"strings"
)

// fastResult is a call result with a decoder for its usual replies that skips encoding/json's
// reflection and second validation pass (the reply frame was validated when it was read).
type fastResult interface {
	// decodeFast decodes b as json.Unmarshal would and returns true, or returns false untouched
	// for anything it leaves to json.Unmarshal.
	decodeFast(b []byte) bool
}

// decodeFast decodes the flat object of strings a complete returns (the load generator's most frequent
// reply). A key that only case-folds to a field, or a field that is not a string or null, is left to
// json.Unmarshal.
func (r *CompleteResult) decodeFast(b []byte) bool {
	out := *r
	ok := flatStrings(b, func(key string, val []byte) bool {
		var dst *string
		switch key {
		case "issue_id":
			dst = &out.IssueID
		case "status":
			dst = &out.Status
		case "outcome":
			dst = &out.Outcome
		default:
			if strings.EqualFold(key, "issue_id") || strings.EqualFold(key, "status") || strings.EqualFold(key, "outcome") {
				return false
			}
			return true // json.Unmarshal ignores an unknown key
		}
		switch {
		case val == nil: // null leaves a string as it is
			return true
		case val[0] != '"':
			return false
		}
		s, ok := decodeString(val)
		*dst = s
		return ok
	})
	if ok {
		*r = out
	}
	return ok
}

// flatStrings walks the JSON object b (already validated), calling member for each key whose text has
// no escape, with its value when that is a string (nil for null, the raw bytes otherwise); it returns
// false on an escaped key, a nested value, or when member does.
func flatStrings(b []byte, member func(key string, val []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, ok := skipString(b, i)
		if !ok {
			return false
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) || b[i] == '{' || b[i] == '[' {
			return false
		}
		vend, ok := skipValue(b, i, 0)
		if !ok {
			return false
		}
		var val []byte
		if string(b[i:vend]) != "null" {
			val = b[i:vend]
		}
		if !member(string(key), val) {
			return false
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return skipSpace(b, i+1) == len(b)
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
}
