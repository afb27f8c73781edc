package rpc

import (
	"encoding/json"
	"strings"
)

// The server's envelope scanner. It reuses the client's validating helpers (skipSpace, skipString,
// skipValue in clientstream.go), which check the JSON grammar, escapes and nesting depth as
// encoding/json's scanner does.

// envResult is what scanEnvelope found.
type envResult int

const (
	envObject    envResult = iota // an object; its members are in the wireMessage
	envNull                       // the literal null (json.Unmarshal into a struct: no error, nothing set)
	envNotObject                  // valid JSON, but not an object
	envSyntax                     // invalid JSON
	envFolded                     // a valid object with a key encoding/json may match case-insensitively
)

// scanEnvelope checks that b is one JSON value and, for an object, sets w's members as
// json.Unmarshal(b, w) would: the value's bytes of the last occurrence of each key, absent keys nil.
// The members are slices of b.
func scanEnvelope(b []byte, w *wireMessage) envResult {
	i := skipSpace(b, 0)
	if i >= len(b) {
		return envSyntax
	}
	if b[i] != '{' {
		end, ok := skipValue(b, i, 0)
		if !ok || skipSpace(b, end) != len(b) {
			return envSyntax
		}
		if b[i] == 'n' {
			return envNull
		}
		return envNotObject
	}
	folded := false
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return envSyntax
			}
			end, ok := skipString(b, i)
			if !ok {
				return envSyntax
			}
			key := b[i+1 : end-1]
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return envSyntax
			}
			i = skipSpace(b, i+1)
			start := i
			if i, ok = skipValue(b, i, 1); !ok { // depth 1: inside the top-level object
				return envSyntax
			}
			v := json.RawMessage(b[start:i:i])
			switch string(key) {
			case "jsonrpc":
				w.JSONRPC = v
			case "id":
				w.ID = v
			case "method":
				w.Method = v
			case "params":
				w.Params = v
			case "result":
				w.Result = v
			case "error":
				w.Error = v
			default:
				folded = folded || mayFoldToMember(key)
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return envSyntax
			}
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if b[i] != '}' {
				return envSyntax
			}
			i++
			break
		}
	}
	if skipSpace(b, i) != len(b) {
		return envSyntax
	}
	if folded {
		return envFolded
	}
	return envObject
}

// mayFoldToMember reports a raw key (between its quotes) that encoding/json could match to a
// wireMessage member though it is not spelled exactly like one: any case variant, an escaped key,
// or a key with non-ASCII bytes (encoding/json folds some, like U+017F to 's').
func mayFoldToMember(key []byte) bool {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return true
		}
	}
	switch len(key) {
	case 2, 5, 6, 7:
	default:
		return false
	}
	for _, k := range [...]string{"jsonrpc", "id", "method", "params", "result", "error"} {
		if strings.EqualFold(string(key), k) {
			return true
		}
	}
	return false
}
