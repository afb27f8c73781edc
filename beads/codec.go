package beads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// DefaultMaxLine is the longest line Parse accepts unless ParseOptions.MaxLine says otherwise (bd v1's cap).
const DefaultMaxLine = 64 << 20

// ParseOptions tunes Parse.
type ParseOptions struct {
	MaxLine int  // longest accepted line in bytes; 0 means DefaultMaxLine
	KeepBad bool // keep bad lines verbatim in the File instead of failing without one
}

// Kind says what a line of the file holds.
type Kind int

const (
	// KindIssue is an issue record (bare, or with "_type":"issue").
	KindIssue Kind = iota
	// KindMemory is a v1 memory record {"_type":"memory","key":…,"value":…}.
	KindMemory
	// KindHeader is a v1 header line carrying "_schema".
	KindHeader
	// KindOther is a valid JSON object of another _type; kept verbatim.
	KindOther
	// KindBlank is an empty or whitespace-only line; kept verbatim.
	KindBlank
	// KindBad is a line that failed to parse (only with ParseOptions.KeepBad); kept verbatim.
	KindBad
)

// LineError is one refused line.
type LineError struct {
	Line   int // 1-based
	Reason string
}

// ParseError lists every refused line of a file; its message reads `name:line: reason`.
type ParseError struct {
	Name  string
	Lines []LineError
}

// Error prints the first few bad lines as name:line: reason.
func (e *ParseError) Error() string {
	var b strings.Builder
	for i, l := range e.Lines {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more bad lines", len(e.Lines)-5)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s:%d: %s", e.Name, l.Line, l.Reason)
	}
	return b.String()
}

// Record is one line of the file: its exact bytes plus, for issues, the parsed view on demand.
type Record struct {
	Kind Kind
	ID   string // issue id; memory key for KindMemory
	Line int    // 1-based line number in the parsed input; 0 for a record gtc created
	Err  string // why the line is bad (KindBad only)

	raw     []byte   // exact bytes without the trailing newline
	members []member // top-level members of raw (issues only), computed lazily
	scanned bool
	issue   *Issue // cached parsed view
}

// Raw returns the record's exact bytes without the newline. The caller must not modify them.
func (r *Record) Raw() []byte { return r.raw }

func (r *Record) scan() ([]member, error) {
	if !r.scanned {
		m, _, _, err := scanObject(r.raw)
		if err != nil {
			return nil, err
		}
		r.members, r.scanned = m, true
	}
	return r.members, nil
}

// value returns the raw value of a top-level key, or nil.
func (r *Record) value(key string) []byte {
	ms, err := r.scan()
	if err != nil {
		return nil
	}
	for _, m := range ms {
		if m.key == key {
			return r.raw[m.valueStart:m.end]
		}
	}
	return nil
}

// File is a parsed issues.jsonl: every line in order, byte-exact. A File and its Records are not safe
// for concurrent use (views are cached lazily); the Syncer serialises its own use.
type File struct {
	Name    string
	Profile Profile
	Records []*Record

	noFinalNewline bool
	index          map[string]int // issue id → position in Records
}

// Parse reads a JSONL issue file of any bd generation. Malformed lines are refused with a *ParseError
// naming every bad line; with opts.KeepBad the File is returned as well, bad lines kept verbatim.
func Parse(name string, data []byte, opts ParseOptions) (*File, error) {
	maxLine := opts.MaxLine
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	f := &File{Name: name, index: make(map[string]int)}
	nonEmpty := len(data) > 0
	if len(data) > 0 && data[len(data)-1] != '\n' {
		f.noFinalNewline = true
	} else if len(data) > 0 {
		data = data[:len(data)-1]
	}
	var perr ParseError
	perr.Name = name
	typed, counts := false, false
	lineNo := 0
	var lines [][]byte
	if nonEmpty {
		lines = bytes.Split(data, []byte{'\n'})
	}
	for _, line := range lines {
		line = line[:len(line):len(line)]
		lineNo++
		rec, reason := parseLine(line, lineNo, maxLine)
		if reason == "" && rec.Kind == KindIssue {
			if prev, dup := f.index[rec.ID]; dup {
				reason = fmt.Sprintf("duplicate id %q (first at line %d)", rec.ID, f.Records[prev].Line)
			}
		}
		if reason != "" {
			perr.Lines = append(perr.Lines, LineError{Line: lineNo, Reason: reason})
			rec = &Record{Kind: KindBad, Line: lineNo, Err: reason, raw: line}
		}
		if rec.Kind == KindIssue {
			f.index[rec.ID] = len(f.Records)
			ms, _ := rec.scan()
			for _, m := range ms {
				switch m.key {
				case "_type":
					typed = true
				case "dependency_count":
					counts = true
				}
			}
		}
		if rec.Kind == KindMemory {
			typed = true
		}
		rec.members, rec.scanned = nil, false // rescanned on demand: most records are never patched
		f.Records = append(f.Records, rec)
	}
	switch {
	case typed:
		f.Profile = ModernTyped
	case counts:
		f.Profile = ModernUntyped
	default:
		f.Profile = Classic
	}
	if len(perr.Lines) > 0 {
		if opts.KeepBad {
			return f, &perr
		}
		return nil, &perr
	}
	return f, nil
}

var conflictMarkers = [][]byte{[]byte("<<<<<<<"), []byte("======="), []byte(">>>>>>>"), []byte("|||||||")}

func parseLine(line []byte, lineNo, maxLine int) (*Record, string) {
	if len(line) > maxLine {
		return nil, fmt.Sprintf("line of %d bytes exceeds the %d-byte cap", len(line), maxLine)
	}
	for _, m := range conflictMarkers {
		if bytes.HasPrefix(line, m) {
			return nil, "git conflict marker " + string(m)
		}
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return &Record{Kind: KindBlank, Line: lineNo, raw: line}, ""
	}
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v)
		if err == nil {
			return nil, "invalid JSON"
		}
		return nil, "invalid JSON: " + err.Error()
	}
	rec := &Record{Line: lineNo, raw: line}
	ms, err := rec.scan()
	if err != nil {
		return nil, "not a JSON object"
	}
	var typ, id, key []byte
	hasSchema := false
	for _, m := range ms {
		v := line[m.valueStart:m.end]
		switch m.key {
		case "_type":
			typ = v
		case "id":
			id = v
		case "key":
			key = v
		case "_schema":
			hasSchema = true
		}
	}
	switch {
	case typ == nil || string(typ) == `"issue"`:
		if id == nil {
			if hasSchema {
				rec.Kind = KindHeader
				return rec, ""
			}
			return nil, "record without id"
		}
		var s string
		if json.Unmarshal(id, &s) != nil || s == "" {
			return nil, "id is not a non-empty string"
		}
		rec.Kind, rec.ID = KindIssue, s
	case string(typ) == `"memory"`:
		rec.Kind = KindMemory
		var s string
		if key != nil && json.Unmarshal(key, &s) == nil {
			rec.ID = s
		}
	default:
		rec.Kind = KindOther
	}
	return rec, ""
}

// Get returns the issue record with the given id, or nil.
// keepsProfile reports whether the file tells nothing of its writer: no issue line and nothing else
// typed (blank lines alone, or nothing), so it keeps the profile it had. The import, its streaming
// validation and both exports decide it alike (a blank line once made the whole export classic while
// the streamed one kept the modern profile, and the two wrote different files).
func (f *File) keepsProfile() bool { return len(f.index) == 0 && f.Profile == Classic }

func (f *File) Get(id string) *Record {
	if i, ok := f.index[id]; ok {
		return f.Records[i]
	}
	return nil
}

// Issues returns the issue records in file order.
func (f *File) Issues() []*Record {
	out := make([]*Record, 0, len(f.Records))
	for _, r := range f.Records {
		if r.Kind == KindIssue {
			out = append(out, r)
		}
	}
	return out
}

// Bad returns the lines kept verbatim because they failed to parse.
func (f *File) Bad() []*Record {
	var out []*Record
	for _, r := range f.Records {
		if r.Kind == KindBad {
			out = append(out, r)
		}
	}
	return out
}

// Encode writes the file: every line's bytes followed by a newline (the last one only if the input had it).
func (f *File) Encode(w io.Writer) error {
	_, err := w.Write(f.Bytes())
	return err
}

// Bytes returns the encoded file.
func (f *File) Bytes() []byte {
	n := 0
	for _, r := range f.Records {
		n += len(r.raw) + 1
	}
	out := make([]byte, 0, n)
	for i, r := range f.Records {
		out = append(out, r.raw...)
		if i < len(f.Records)-1 || !f.noFinalNewline {
			out = append(out, '\n')
		}
	}
	return out
}

// writeTo writes what Bytes returns, record by record, without building it in memory.
func (f *File) writeTo(w io.Writer) error {
	nl := []byte{'\n'}
	for i, r := range f.Records {
		if _, err := w.Write(r.raw); err != nil {
			return err
		}
		if i < len(f.Records)-1 || !f.noFinalNewline {
			if _, err := w.Write(nl); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *File) reindex() {
	f.index = make(map[string]int, len(f.Records))
	for i, r := range f.Records {
		if r.Kind == KindIssue {
			f.index[r.ID] = i
		}
	}
}

// Remove deletes the issue record with the given id; it reports whether one was there.
func (f *File) Remove(id string) bool {
	i, ok := f.index[id]
	if !ok {
		return false
	}
	f.Records = append(f.Records[:i], f.Records[i+1:]...)
	f.reindex()
	return true
}
