package rpc

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// The envelope scanner, the server's and the client's (parsePush, parseReply). It uses the validating
// helpers skipSpace, skipString and skipValue (clientstream.go), which check the JSON grammar, escapes
// and nesting depth as encoding/json's scanner does.

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
// JSON-RPC envelope member (the server's wireMessage, jsonrpc2's on the client) though it is not
// spelled exactly like one: any case variant, an escaped key,
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

// The params fast path. decodeParams hands a params object to decodeParamsFast first; it decodes
// only what it is sure encoding/json decodes the same way — members spelled exactly like a field of
// kind string, bool or integer (embedded structs included), with a value of the field's JSON type
// or null — and skips unknown members after checking their syntax. On anything else (a member of
// another kind, a key encoding/json might fold or unescape to a field, a value of the wrong type or
// out of range, invalid JSON) it reports false and encoding/json decodes the params from scratch,
// producing the value or the error. FuzzDecodeParams compares the two.

// paramField is one field the fast path may set.
type paramField struct {
	name  string
	index []int
	kind  reflect.Kind // reflect.Invalid: a field the fast path leaves to encoding/json
}

// paramsPlan is the fast path's view of one params type; nil fields: always encoding/json.
type paramsPlan struct{ fields []paramField }

var paramsPlans sync.Map // reflect.Type -> *paramsPlan

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func planOf(t reflect.Type) *paramsPlan {
	if p, ok := paramsPlans.Load(t); ok {
		return p.(*paramsPlan)
	}
	p := &paramsPlan{}
	if fields, ok := planFields(t, nil); ok && distinctFolded(fields) {
		p.fields = fields
	}
	paramsPlans.Store(t, p)
	return p
}

// planFields lists t's JSON members; false when t has a shape whose member names the fast path
// does not derive exactly as encoding/json does.
func planFields(t reflect.Type, index []int) ([]paramField, bool) {
	if t.Kind() != reflect.Struct || hasUnmarshaler(t) {
		return nil, false
	}
	var out []paramField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(index[:len(index):len(index)], i)
		if f.Anonymous {
			if name != "" || f.Type.Kind() != reflect.Struct || !f.IsExported() {
				return nil, false
			}
			sub, ok := planFields(f.Type, idx)
			if !ok {
				return nil, false
			}
			out = append(out, sub...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				return nil, false
			}
		}
		pf := paramField{name: name, index: idx}
		switch k := f.Type.Kind(); k {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if opts == "" || opts == "omitempty" {
				if !hasUnmarshaler(f.Type) {
					pf.kind = k
				}
			}
		}
		out = append(out, pf)
	}
	return out, true
}

func hasUnmarshaler(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(jsonUnmarshalerType) || pt.Implements(jsonUnmarshalerType) ||
		t.Implements(textUnmarshalerType) || pt.Implements(textUnmarshalerType)
}

// distinctFolded reports that no two members share a name up to case (encoding/json would pick one
// by its dominance rules).
func distinctFolded(fs []paramField) bool {
	for i := range fs {
		for j := range i {
			if strings.EqualFold(fs[i].name, fs[j].name) {
				return false
			}
		}
	}
	return true
}

// decodeParamsFast decodes the object b into v (a zero struct of plan's type) when it can; false:
// v may be partly set, and encoding/json must decode b into a zeroed v.
func decodeParamsFast(b []byte, v reflect.Value, plan *paramsPlan) bool {
	if plan.fields == nil || len(b) == 0 || b[0] != '{' {
		return false
	}
	i := skipSpace(b, 1)
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
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		f := plan.field(key)
		if f == nil {
			if mayFold(key, plan) {
				return false
			}
			if i, ok = skipValue(b, i, 1); !ok {
				return false
			}
		} else if i, ok = setField(b, i, v.FieldByIndex(f.index), f.kind); !ok {
			return false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return b[i] == '}' && skipSpace(b, i+1) == len(b)
	}
}

func (p *paramsPlan) field(key []byte) *paramField {
	for i := range p.fields {
		if p.fields[i].name == string(key) {
			return &p.fields[i]
		}
	}
	return nil
}

// mayFold reports a key that is not a member's exact name but that encoding/json might match to one.
func mayFold(key []byte, p *paramsPlan) bool {
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return true
		}
	}
	for i := range p.fields {
		if strings.EqualFold(p.fields[i].name, string(key)) {
			return true
		}
	}
	return false
}

// setField decodes the value at b[i] into fv as encoding/json would, returning the index past it;
// false when the value is not one it handles.
func setField(b []byte, i int, fv reflect.Value, kind reflect.Kind) (int, bool) {
	if i >= len(b) || kind == reflect.Invalid {
		return i, false
	}
	if b[i] == 'n' { // null leaves a string, bool or number alone
		return skipLiteral(b, i, "null")
	}
	switch kind {
	case reflect.String:
		s, end, ok := scanStringValue(b, i)
		if !ok {
			return i, false
		}
		fv.SetString(s)
		return end, true
	case reflect.Bool:
		switch b[i] {
		case 't':
			fv.SetBool(true)
			return skipLiteral(b, i, "true")
		case 'f':
			fv.SetBool(false)
			return skipLiteral(b, i, "false")
		}
		return i, false
	}
	if b[i] != '-' && (b[i] < '0' || b[i] > '9') {
		return i, false
	}
	end, ok := skipNumber(b, i)
	if !ok {
		return i, false
	}
	num := unsafeString(b[i:end])
	bits := int(fv.Type().Size()) * 8
	switch kind {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(num, 10, bits)
		if err != nil {
			return i, false
		}
		fv.SetInt(n)
	default:
		n, err := strconv.ParseUint(num, 10, bits)
		if err != nil {
			return i, false
		}
		fv.SetUint(n)
	}
	return end, true
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
