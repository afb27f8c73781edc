package beads

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A single-pass decoder for issue records (wireIssue) that gives exactly what json.Unmarshal gives, at a
// fraction of the cost: encoding/json scans every byte twice (checkValid, then decode) through reflection.
//
// The fast path validates every byte it reads (the whole input, skipped values included, against the JSON
// grammar), so it never needs a separate json.Valid, and it succeeds only on valid JSON. It gives up and
// leaves the whole record to encoding/json — which then produces the value or the error — on anything
// unusual: a key with escapes or non-ASCII bytes, a key matching a known field only case-insensitively, a
// known key twice (std merges into what the first one decoded), a value of an unexpected type, an error from
// a field's UnmarshalJSON, nesting deeper than maxFastDepth, or invalid JSON. Custom field types get their
// UnmarshalJSON called with the raw value bytes, as std calls it (null included for non-pointer types);
// a null pointer field is set to nil; null leaves strings, bools and slices alone; [] is an empty non-nil
// slice. Decoded strings are copies: nothing retains the input buffer.

// maxFastDepth bounds the nesting the fast path follows; deeper input goes to encoding/json (limit 10000).
const maxFastDepth = 256

// fastDec is a cursor over one JSON input.
type fastDec struct {
	b     []byte
	i     int
	depth int
	prio  []byte // raw bytes of the top-level priority value, nil when absent
	lean  bool   // free-text fields (see decodeLean) are checked and skipped, not copied out
}

// decodeWire decodes an issue record into w exactly as json.Unmarshal(raw, w) does, value and error.
func decodeWire(raw []byte, w *wireIssue) error {
	d := fastDec{b: raw}
	if d.wireIssue(w) {
		return nil
	}
	var sw wireIssue // std's own target, so that w does not escape on the fast path
	err := json.Unmarshal(raw, &sw)
	*w = sw
	return err
}

// DecodeIssueJSON decodes json.Marshal output of an Issue; for such input it returns what json.Unmarshal does.
func DecodeIssueJSON(b []byte) (Issue, error) {
	if is, ok := decodeIssueFast(b); ok {
		return is, nil
	}
	var is Issue
	err := json.Unmarshal(b, &is)
	return is, err
}

// PromptFieldsJSON reads the title, description and acceptance criteria of json.Marshal output of an
// Issue as DecodeIssueJSON gives them, without building the rest (which it still reads through, checking
// the JSON grammar); ok is false for anything DecodeIssueJSON's fast path would leave to encoding/json
// (a folded or repeated key, one of the three not a string), and the caller decodes the whole issue.
func PromptFieldsJSON(b []byte) (title, description, acceptance string, ok bool) {
	d := fastDec{b: b}
	d.i = skipSpace(b, 0)
	ok = d.members(issueField, func(f int) bool {
		switch f {
		case 1:
			return d.str(&title)
		case 2:
			return d.str(&description)
		case 4:
			return d.str(&acceptance)
		}
		return d.skip()
	})
	if !ok || skipSpace(b, d.i) != len(b) {
		return "", "", "", false
	}
	return title, description, acceptance, true
}

// decodeIssueFast is DecodeIssueJSON's fast path; false leaves the input to encoding/json.
func decodeIssueFast(b []byte) (Issue, bool) {
	var w wireIssue
	d := fastDec{b: b}
	if !d.wireIssue(&w) || !marshalShaped(&w, d.prio) {
		return Issue{}, false
	}
	return issueOf(&w), true
}

// marshalShaped reports whether the wire decode of an Issue's JSON maps to the Issue json.Unmarshal gives:
// the wire types are laxer (flexInt goes through float64, a pointer to a zero time reads as nil, an empty
// slice as nil, wisp folds into Ephemeral), so anything where that shows is left to encoding/json.
func marshalShaped(w *wireIssue, prio []byte) bool {
	if prio != nil && string(prio) != "null" && !smallInt(prio) {
		return false
	}
	if w.Wisp || (w.Dependencies != nil && len(w.Dependencies) == 0) || (w.Comments != nil && len(w.Comments) == 0) {
		return false
	}
	for _, p := range [...]*flexTime{w.StartedAt, w.ClosedAt, w.DeferUntil, w.DeletedAt} {
		if p != nil && p.t.IsZero() {
			return false
		}
	}
	return true
}

// smallInt reports whether b is a JSON integer of at most 15 digits: exact through float64, and an int.
func smallInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// wireIssue decodes the whole input as one issue object; false means "leave it to encoding/json".
func (d *fastDec) wireIssue(w *wireIssue) bool {
	d.i = skipSpace(d.b, 0)
	ok := d.members(issueField, func(f int) bool {
		switch f {
		case 0:
			return d.text(&w.ID)
		case 1:
			return d.text(&w.Title)
		case 2:
			return d.text(&w.Description)
		case 3:
			return d.text(&w.Design)
		case 4:
			return d.text(&w.AcceptanceCriteria)
		case 5:
			return d.text(&w.Notes)
		case 6:
			return d.str(&w.Status)
		case 7:
			v, ok := d.value()
			d.prio = v
			return ok && w.Priority.UnmarshalJSON(v) == nil
		case 8:
			return d.text(&w.IssueType)
		case 9:
			return d.str(&w.Assignee)
		case 10:
			return d.text(&w.Owner)
		case 11:
			v, ok := d.value()
			return ok && w.CreatedAt.UnmarshalJSON(v) == nil
		case 12:
			return d.text(&w.CreatedBy)
		case 13:
			v, ok := d.value()
			return ok && w.UpdatedAt.UnmarshalJSON(v) == nil
		case 14:
			return d.timePtr(&w.StartedAt)
		case 15:
			return d.timePtr(&w.ClosedAt)
		case 16:
			return d.str(&w.CloseReason)
		case 17:
			return d.timePtr(&w.DeferUntil)
		case 18:
			return d.labels(&w.Labels)
		case 19:
			return d.deps(&w.Dependencies)
		case 20:
			return d.comments(&w.Comments)
		case 21:
			return d.boolean(&w.Pinned)
		case 22:
			return d.boolean(&w.Ephemeral)
		case 23:
			return d.boolean(&w.Wisp)
		case 24:
			return d.timePtr(&w.DeletedAt)
		}
		return false
	})
	return ok && skipSpace(d.b, d.i) == len(d.b)
}

const (
	fieldUnknown = -1 // not a field: the value is skipped
	fieldFolded  = -2 // a field only case-insensitively, or a key the fast path does not read: std decides
)

// issueField maps a key to its wireIssue field number (the order of the struct).
func issueField(key []byte, plain bool) int {
	if !plain {
		return fieldFolded
	}
	switch string(key) {
	case "id":
		return 0
	case "title":
		return 1
	case "description":
		return 2
	case "design":
		return 3
	case "acceptance_criteria":
		return 4
	case "notes":
		return 5
	case "status":
		return 6
	case "priority":
		return 7
	case "issue_type":
		return 8
	case "assignee":
		return 9
	case "owner":
		return 10
	case "created_at":
		return 11
	case "created_by":
		return 12
	case "updated_at":
		return 13
	case "started_at":
		return 14
	case "closed_at":
		return 15
	case "close_reason":
		return 16
	case "defer_until":
		return 17
	case "labels":
		return 18
	case "dependencies":
		return 19
	case "comments":
		return 20
	case "pinned":
		return 21
	case "ephemeral":
		return 22
	case "wisp":
		return 23
	case "deleted_at":
		return 24
	}
	return foldedOr(key, issueField)
}

// depField maps a key to its wireDep field number.
func depField(key []byte, plain bool) int {
	if !plain {
		return fieldFolded
	}
	switch string(key) {
	case "issue_id":
		return 0
	case "depends_on_id":
		return 1
	case "type":
		return 2
	case "created_at":
		return 3
	case "created_by":
		return 4
	case "metadata":
		return 5
	}
	return foldedOr(key, depField)
}

// commentField maps a key to its wireComment field number.
func commentField(key []byte, plain bool) int {
	if !plain {
		return fieldFolded
	}
	switch string(key) {
	case "id":
		return 0
	case "issue_id":
		return 1
	case "author":
		return 2
	case "text":
		return 3
	case "created_at":
		return 4
	}
	return foldedOr(key, commentField)
}

// foldedOr tells an unknown plain-ASCII key from one std would match case-insensitively. For ASCII, std's
// folding upper-cases a-z only, and every field name is lower-case, so the key matches a field iff its
// lower-cased form is one.
func foldedOr(key []byte, field func([]byte, bool) int) int {
	upper := false
	for _, c := range key {
		if 'A' <= c && c <= 'Z' {
			upper = true
			break
		}
	}
	if !upper || len(key) > 32 {
		return fieldUnknown // no field name is longer than 32 bytes
	}
	var buf [32]byte
	low := buf[:len(key)]
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	if field(low, true) >= 0 {
		return fieldFolded
	}
	return fieldUnknown
}

func (d *fastDec) dep(x *wireDep) bool {
	return d.members(depField, func(f int) bool {
		switch f {
		case 0:
			return d.str(&x.IssueID)
		case 1:
			return d.str(&x.DependsOnID)
		case 2:
			return d.str(&x.Type)
		case 3:
			v, ok := d.value()
			return ok && x.CreatedAt.UnmarshalJSON(v) == nil
		case 4:
			return d.str(&x.CreatedBy)
		case 5:
			v, ok := d.value()
			return ok && x.Metadata.UnmarshalJSON(v) == nil
		}
		return false
	})
}

func (d *fastDec) comment(x *wireComment) bool {
	return d.members(commentField, func(f int) bool {
		switch f {
		case 0:
			v, ok := d.value()
			return ok && x.ID.UnmarshalJSON(v) == nil
		case 1:
			return d.str(&x.IssueID)
		case 2:
			return d.str(&x.Author)
		case 3:
			return d.str(&x.Text)
		case 4:
			v, ok := d.value()
			return ok && x.CreatedAt.UnmarshalJSON(v) == nil
		}
		return false
	})
}

func (d *fastDec) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// lit consumes the literal s (true, false, null).
func (d *fastDec) lit(s string) bool {
	if len(d.b)-d.i >= len(s) && string(d.b[d.i:d.i+len(s)]) == s {
		d.i += len(s)
		return true
	}
	return false
}

// str decodes a string field: a string sets it, null leaves it, anything else is std's type error.
func (d *fastDec) str(dst *string) bool {
	switch d.peek() {
	case '"':
		s, ok := d.stringValue()
		if ok {
			*dst = s
		}
		return ok
	case 'n':
		return d.lit("null")
	}
	return false
}

// text is str for a string field decodeLean leaves out: in lean mode the value is checked as str checks
// it (a string or null; anything else leaves the record to encoding/json) and skipped, dst left alone.
func (d *fastDec) text(dst *string) bool {
	if !d.lean {
		return d.str(dst)
	}
	switch d.peek() {
	case '"':
		_, _, _, ok := d.scanString()
		return ok
	case 'n':
		return d.lit("null")
	}
	return false
}

func (d *fastDec) boolean(dst *bool) bool {
	switch d.peek() {
	case 't':
		*dst = true
		return d.lit("true")
	case 'f':
		*dst = false
		return d.lit("false")
	case 'n':
		return d.lit("null")
	}
	return false
}

// value validates and consumes the next value and returns its raw bytes: what std hands to UnmarshalJSON
// (called on the concrete types, not through json.Unmarshaler, so that the decoded struct stays on the stack).
func (d *fastDec) value() ([]byte, bool) {
	s := d.i
	if !d.skip() {
		return nil, false
	}
	return d.b[s:d.i], true
}

// timePtr decodes a *flexTime field: null sets nil, anything else goes to a new flexTime's UnmarshalJSON.
func (d *fastDec) timePtr(dst **flexTime) bool {
	if d.peek() == 'n' {
		*dst = nil
		return d.lit("null")
	}
	v, ok := d.value()
	if !ok {
		return false
	}
	ft := new(flexTime)
	if ft.UnmarshalJSON(v) != nil {
		return false
	}
	*dst = ft
	return true
}

func (d *fastDec) labels(dst *[]string) bool {
	return list(d, dst, func(s *string) bool { return d.str(s) })
}

func (d *fastDec) deps(dst *[]wireDep) bool {
	return list(d, dst, func(e *wireDep) bool {
		if d.peek() == 'n' {
			return d.lit("null") // null leaves the element a zero struct
		}
		return d.peek() == '{' && d.dep(e)
	})
}

func (d *fastDec) comments(dst *[]wireComment) bool {
	return list(d, dst, func(e *wireComment) bool {
		if d.peek() == 'n' {
			return d.lit("null")
		}
		return d.peek() == '{' && d.comment(e)
	})
}

// list decodes a JSON array (or null: a nil slice) into *dst as encoding/json does: [] is an empty
// non-nil slice; elem decodes one element in place, starting from its zero value.
func list[T any](d *fastDec, dst *[]T, elem func(*T) bool) bool {
	switch d.peek() {
	case 'n':
		*dst = nil
		return d.lit("null")
	case '[':
	default:
		return false
	}
	out := []T{}
	ok := d.array(func() bool {
		var zero T
		out = append(out, zero)
		return elem(&out[len(out)-1])
	})
	*dst = out
	return ok
}

// members walks an object whose keys field numbers: an unknown key's value is skipped, and a key read
// only case-insensitively (folded) or a field seen twice (std decodes into what the first one left) gives
// the input up; member consumes the value of field f.
func (d *fastDec) members(field func(key []byte, plain bool) int, member func(f int) bool) bool {
	var seen uint64
	return d.object(func(key []byte, plain bool) bool {
		f := field(key, plain)
		switch {
		case f == fieldUnknown:
			return d.skip()
		case f == fieldFolded || seen&(1<<f) != 0:
			return false
		}
		seen |= 1 << f
		return member(f)
	})
}

// object walks the object at d.i, calling member for each key with d.i at the value's first byte; member
// must consume the value. plain says the key has no escapes and no byte beyond ASCII (key aliases the input).
func (d *fastDec) object(member func(key []byte, plain bool) bool) bool {
	b := d.b
	if d.i >= len(b) || b[d.i] != '{' {
		return false
	}
	if d.depth++; d.depth > maxFastDepth {
		return false
	}
	d.i = skipSpace(b, d.i+1)
	if d.i < len(b) && b[d.i] == '}' {
		d.i++
		d.depth--
		return true
	}
	for {
		if d.i >= len(b) || b[d.i] != '"' {
			return false
		}
		key, esc, high, ok := d.scanString()
		if !ok {
			return false
		}
		d.i = skipSpace(b, d.i)
		if d.i >= len(b) || b[d.i] != ':' {
			return false
		}
		d.i = skipSpace(b, d.i+1)
		if !member(key, !esc && !high) {
			return false
		}
		d.i = skipSpace(b, d.i)
		if d.i >= len(b) {
			return false
		}
		switch b[d.i] {
		case ',':
			d.i = skipSpace(b, d.i+1)
		case '}':
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

// array walks the array at d.i, calling elem with d.i at each element's first byte; elem must consume it.
func (d *fastDec) array(elem func() bool) bool {
	b := d.b
	if d.i >= len(b) || b[d.i] != '[' {
		return false
	}
	if d.depth++; d.depth > maxFastDepth {
		return false
	}
	d.i = skipSpace(b, d.i+1)
	if d.i < len(b) && b[d.i] == ']' {
		d.i++
		d.depth--
		return true
	}
	for {
		if !elem() {
			return false
		}
		d.i = skipSpace(b, d.i)
		if d.i >= len(b) {
			return false
		}
		switch b[d.i] {
		case ',':
			d.i = skipSpace(b, d.i+1)
		case ']':
			d.i++
			d.depth--
			return true
		default:
			return false
		}
	}
}

// skip validates and consumes one value of any type.
func (d *fastDec) skip() bool {
	switch c := d.peek(); {
	case c == '"':
		_, _, _, ok := d.scanString()
		return ok
	case c == '{':
		return d.object(func([]byte, bool) bool { return d.skip() })
	case c == '[':
		return d.array(d.skip)
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return d.number()
	}
	return false
}

// number consumes a number of the JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *fastDec) number() bool {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	d.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// strSpecial marks the bytes the string scanner stops at: the quote, the backslash, control bytes and
// bytes beyond ASCII.
var strSpecial = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80
	}
	return t
}()

// scanString validates the string at d.i (an opening quote) and moves past it. It returns the bytes between
// the quotes and whether they hold escapes or bytes beyond ASCII. Invalid UTF-8 is valid JSON (std decodes
// it as U+FFFD); control bytes and malformed escapes are not.
func (d *fastDec) scanString() (content []byte, esc, high, ok bool) {
	b := d.b
	i := d.i + 1
	for {
		for i < len(b) && !strSpecial[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, false, false
		}
		switch c := b[i]; {
		case c == '"':
			content = b[d.i+1 : i]
			d.i = i + 1
			return content, esc, high, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return nil, false, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || hex4(b[i+2:i+6]) < 0 {
					return nil, false, false, false
				}
				i += 6
			default:
				return nil, false, false, false
			}
		case c >= 0x80:
			high = true
			i++
		default: // a control byte
			return nil, false, false, false
		}
	}
}

// stringValue decodes the string at d.i as std does: the bytes themselves when they are plain valid UTF-8,
// else escapes resolved and each invalid byte replaced by U+FFFD.
func (d *fastDec) stringValue() (string, bool) {
	content, esc, high, ok := d.scanString()
	if !ok {
		return "", false
	}
	if !esc && (!high || utf8.Valid(content)) {
		return string(content), true
	}
	return unescape(content), true
}

// unquoteJSON decodes a JSON string literal exactly as json.Unmarshal into a string does; ok is false
// when b is not exactly one valid JSON string.
func unquoteJSON(b []byte) (string, bool) {
	d := fastDec{b: b}
	if d.peek() != '"' {
		return "", false
	}
	s, ok := d.stringValue()
	return s, ok && d.i == len(b)
}

// hex4 reads four hex digits, or returns -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape decodes the content of a string scanString accepted: escapes resolved (a \u surrogate pair to
// its rune, any other surrogate escape to U+FFFD) and each byte of invalid UTF-8 replaced by U+FFFD.
func unescape(s []byte) string {
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); {
		run := i
		for i < len(s) && s[i] != '\\' && s[i] < utf8.RuneSelf {
			i++
		}
		out.Write(s[run:i])
		if i >= len(s) {
			break
		}
		if s[i] >= utf8.RuneSelf {
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				out.WriteRune(utf8.RuneError)
			} else {
				out.Write(s[i : i+n])
			}
			i += n
			continue
		}
		switch e := s[i+1]; e {
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r := hex4(s[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
						out.WriteRune(pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out.WriteRune(r)
			continue
		default: // " \ /
			out.WriteByte(e)
		}
		i += 2
	}
	return out.String()
}
