package beads

import (
	"bytes"
	"unicode/utf8"
)

// PromptFieldsRawJSON is PromptFieldsJSON without decoding: the bytes between the quotes of the title,
// description and acceptance criteria, escapes as they are (nil for an absent or null field). Joined
// they form a valid JSON string that decodes to the join of the decoded fields. ok is false where
// PromptFieldsJSON's is, and where a field holds what decoding would change — invalid UTF-8 or a
// surrogate escape (std decodes either as U+FFFD) — so the caller decodes instead.
func PromptFieldsRawJSON(b []byte) (title, description, acceptance []byte, ok bool) {
	d := fastDec{b: b}
	d.i = skipSpace(b, 0)
	raw := func(dst *[]byte) bool {
		switch d.peek() {
		case '"':
			content, esc, high, ok := d.scanString()
			if !ok || high && !utf8.Valid(content) || esc && hasSurrogateEscape(content) {
				return false
			}
			*dst = content
			return true
		case 'n':
			return d.lit("null")
		}
		return false
	}
	ok = d.members(issueField, func(f int) bool {
		switch f {
		case 1:
			return raw(&title)
		case 2:
			return raw(&description)
		case 4:
			return raw(&acceptance)
		}
		return d.skip()
	})
	if !ok || skipSpace(b, d.i) != len(b) {
		return nil, nil, nil, false
	}
	return title, description, acceptance, true
}

// hasSurrogateEscape reports whether escaped string content holds a \u escape of a UTF-16 surrogate.
func hasSurrogateEscape(content []byte) bool {
	for i := 0; ; {
		j := bytes.Index(content[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += j
		if escapedBackslash(content[:i]) {
			i += 2 // `\\u...`: a backslash, then a plain u
			continue
		}
		if i+3 < len(content) && (content[i+2] == 'd' || content[i+2] == 'D') {
			switch content[i+3] {
			case '8', '9', 'a', 'b', 'c', 'd', 'e', 'f', 'A', 'B', 'C', 'D', 'E', 'F':
				return true
			}
		}
		i += 2
	}
}

// escapedBackslash reports whether the backslash ending s is itself escaped (an odd run before it).
func escapedBackslash(s []byte) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}
