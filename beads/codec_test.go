package beads

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCorporaRoundTrip(t *testing.T) {
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			f, data := parseCorpus(t, c.name)
			if f.Profile != c.profile {
				t.Errorf("profile = %v, want %v", f.Profile, c.profile)
			}
			var issues, memory int
			for _, r := range f.Records {
				switch r.Kind {
				case KindIssue:
					issues++
				case KindMemory:
					memory++
				default:
					t.Errorf("line %d: unexpected kind %v", r.Line, r.Kind)
				}
			}
			if issues != c.issues || memory != c.memory {
				t.Errorf("issues=%d memory=%d, want %d/%d", issues, memory, c.issues, c.memory)
			}
			var buf bytes.Buffer
			if err := f.Encode(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("encode of unchanged parse differs from input")
			}
			for _, r := range f.Issues() {
				if _, err := r.Issue(); err != nil {
					t.Fatalf("view: %v", err)
				}
			}
		})
	}
}

func TestParseRefusesMalformed(t *testing.T) {
	good := `{"id":"a-1","title":"x","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name   string
		input  string
		line   int
		reason string
	}{
		{"invalid json", good + "\n{\"id\":\"a-2\",\n", 2, "invalid JSON"},
		{"conflict open", "<<<<<<< HEAD\n" + good + "\n", 1, "conflict marker"},
		{"conflict mid", good + "\n=======\n", 2, "conflict marker"},
		{"conflict close", good + "\n>>>>>>> theirs\n", 2, "conflict marker"},
		{"duplicate id", good + "\n" + good + "\n", 2, "duplicate id"},
		{"no id", `{"title":"x"}` + "\n", 1, "without id"},
		{"not an object", "[1,2]\n", 1, "not a JSON object"},
		{"too long", good + "\n" + `{"id":"a-3","title":"` + strings.Repeat("x", 300) + `"}` + "\n", 2, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := ParseOptions{MaxLine: 256}
			f, err := Parse("issues.jsonl", []byte(tt.input), opts)
			var perr *ParseError
			if !errors.As(err, &perr) || f != nil {
				t.Fatalf("err = %v, file = %v; want *ParseError and no file", err, f)
			}
			if len(perr.Lines) != 1 || perr.Lines[0].Line != tt.line || !strings.Contains(perr.Lines[0].Reason, tt.reason) {
				t.Fatalf("lines = %+v, want line %d with %q", perr.Lines, tt.line, tt.reason)
			}
			if want := "issues.jsonl:" + strconv.Itoa(tt.line) + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("message %q does not start with %q", err.Error(), want)
			}
			opts.KeepBad = true
			f, err = Parse("issues.jsonl", []byte(tt.input), opts)
			if f == nil || err == nil {
				t.Fatalf("KeepBad: file=%v err=%v", f, err)
			}
			if got := f.Bytes(); string(got) != tt.input {
				t.Fatalf("KeepBad encode changed bytes:\n%q\n%q", got, tt.input)
			}
			if len(f.Bad()) != 1 {
				t.Fatalf("bad lines = %d", len(f.Bad()))
			}
		})
	}
}

func TestParseListsEveryBadLine(t *testing.T) {
	in := "{\n<<<<<<< a\n{\"title\":1}\n"
	_, err := Parse("f", []byte(in), ParseOptions{})
	var perr *ParseError
	if !errors.As(err, &perr) || len(perr.Lines) != 3 {
		t.Fatalf("err = %v", err)
	}
}

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		profile Profile
		kinds   []Kind
	}{
		{"empty", "", Classic, nil},
		{"blank line", "\n", Classic, []Kind{KindBlank}},
		{"no final newline", `{"id":"a"}`, Classic, []Kind{KindIssue}},
		{"crlf", "{\"id\":\"a\"}\r\n{\"id\":\"b\"}\r\n", Classic, []Kind{KindIssue, KindIssue}},
		{"schema header", `{"_schema":"beads-jsonl/1"}` + "\n" + `{"_type":"issue","id":"a"}` + "\n", ModernTyped, []Kind{KindHeader, KindIssue}},
		{"counts", `{"id":"a","dependency_count":0}` + "\n", ModernUntyped, []Kind{KindIssue}},
		{"memory and other", `{"_type":"memory","key":"k","value":"v"}` + "\n" + `{"_type":"future","x":1}` + "\n", ModernTyped, []Kind{KindMemory, KindOther}},
		{"spaces and odd order", `{ "title" : "t", "id" : "a" }` + "\n", Classic, []Kind{KindIssue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("f", []byte(tt.input), ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if f.Profile != tt.profile {
				t.Errorf("profile %v, want %v", f.Profile, tt.profile)
			}
			var kinds []Kind
			for _, r := range f.Records {
				kinds = append(kinds, r.Kind)
			}
			if len(kinds) != len(tt.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tt.kinds)
			}
			for i := range kinds {
				if kinds[i] != tt.kinds[i] {
					t.Fatalf("kinds %v, want %v", kinds, tt.kinds)
				}
			}
			if string(f.Bytes()) != tt.input {
				t.Fatalf("round trip %q → %q", tt.input, f.Bytes())
			}
		})
	}
}
