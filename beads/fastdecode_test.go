package beads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// corpusLines returns every non-blank line of every corpus.
func corpusLines(t testing.TB) [][]byte {
	t.Helper()
	dir := corpusDir(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".jsonl" {
			continue
		}
		data := readCorpus(t, e.Name())
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no corpus lines")
	}
	return out
}

// oddLine is a record built to hit a rule of encoding/json the fast decoder must match (fast) or leave to std.
type oddLine struct {
	in   string
	fast bool
}

var oddLines = []oddLine{
	// strings: escapes, \u surrogates (pairs, lone, reversed), invalid UTF-8, U+FFFD itself, HTML escapes
	{`{"id":"a","title":"tab\there \"q\" back\\slash \/ \b\f\n\r","description":"\u00e9\u4e2d\uD83D\uDE00 \u003cb\u003e"}`, true},
	{`{"id":"a","title":"\uD800","notes":"\uDC00\uD800","design":"\uD83D\u0041","status":"\uDE00\uD83D\uDE00"}`, true},
	{`{"id":"a","title":"` + "\xff\xfe bad \xed\xa0\x80 surrogate \xe2\x82 short \xef\xbf\xbd fffd" + `"}`, true},
	{`{"id":"a","title":"` + "\xc3" + `\n` + "\xa9" + `"}`, true},
	{`{"id":"a","title":"\u0000\u001f\u007f\u2028\u2029","description":"` + "\x7f" + `"}`, true},
	{`{"id":"a","title":"` + "raw\x01control" + `"}`, false},
	{`{"id":"a","title":"bad \x escape"}`, false},
	{`{"id":"a","title":"bad \u12G4 escape"}`, false},
	{`{"id":"a","title":"cut \u12"}`, false},
	// a known key twice: std decodes the second into what the first left (slices and pointers merge)
	{`{"id":"a","id":"b","title":"t","title":null}`, false},
	{`{"id":"a","labels":["x","y"],"labels":["z"]}`, false},
	{`{"id":"a","dependencies":[{"issue_id":"a","type":"blocks"}],"dependencies":[{"depends_on_id":"b"}]}`, false},
	{`{"id":"a","started_at":"2026-01-01T00:00:00Z","started_at":null}`, false},
	{`{"id":"a","dependencies":[{"type":"x","type":"y","metadata":{"a":1},"metadata":null}]}`, false},
	{`{"id":"a","extra":1,"extra":{"x":[1,2]}}`, true},
	// keys matching only case-insensitively (Unicode folding included), escaped and non-ASCII keys
	{`{"ID":"a","Title":"T","STATUS":"closed"}`, false},
	{`{"id":"a","Id":"b"}`, false},
	{`{"id":"a","ſtatus":"closed","İd":"x","\u0069d":"esc"}`, false},
	{`{"id":"a","dependencies":[{"Issue_ID":"q"}],"comments":[{"TEXT":"t"}]}`, false},
	{`{"id":"a","caf\u00e9":1,"naïve":2,"title":"t"}`, false},
	{`{"id":"a","Unknown_Key":1,"XYZ":[true]}`, true},
	// nulls everywhere, empty slices
	{`{"id":null,"title":null,"priority":null,"created_at":null,"started_at":null,"labels":null,"dependencies":null,"comments":null,"pinned":null,"deleted_at":null}`, true},
	{`{"id":"a","labels":[null,"x"],"dependencies":[null,{"issue_id":"a","metadata":null}],"comments":[null,{"id":null}]}`, true},
	{`{"id":"a","labels":[],"dependencies":[],"comments":[]}`, true},
	{`{}`, true},
	// not an object, or not valid JSON
	{`null`, false}, {` null `, false}, {`[]`, false}, {`"x"`, false}, {`1`, false}, {``, false}, {` `, false},
	{`{`, false}, {`}`, false}, {`{"id":"a"}x`, false}, {`{"id":"a"} {}`, false}, {`{"id":"a",}`, false},
	{`{"id" "a"}`, false},
	// wrong types
	{`{"id":1}`, false}, {`{"id":"a","title":true}`, false}, {`{"id":"a","labels":"x"}`, false},
	{`{"id":"a","labels":[1]}`, false}, {`{"id":"a","pinned":"true"}`, false}, {`{"id":"a","pinned":1}`, false},
	{`{"id":"a","dependencies":{}}`, false}, {`{"id":"a","dependencies":["x"]}`, false}, {`{"id":"a","comments":[[]]}`, false},
	{`{"id":"a","started_at":5}`, false}, {`{"id":"a","created_at":{}}`, false}, {`{"id":"a","title":{"a":1}}`, false},
	{`{"id":"a","title":["x"]}`, false}, {`{"id":"a","priority":"high"}`, false}, {`{"id":"a","priority":true}`, false},
	{`{"id":"a","created_at":"yesterday"}`, false}, {`{"id":"a","comments":[{"id":true}]}`, false},
	{`{"id":"a","comments":[{"id":{}}]}`, false},
	// flexible values: priorities, timestamps, metadata objects, comment ids as numbers, huge numbers
	{`{"id":"a","priority":"2","created_at":"2026-01-11 18:16:13","updated_at":"2026-01-07","closed_at":""}`, true},
	{`{"id":"a","priority":1.5,"defer_until":"2026-01-11T18:16:13.123456789+05:30"}`, true},
	{`{"id":"a","priority":-0,"deleted_at":"0001-01-01T00:00:00Z"}`, true},
	{`{"id":"a","priority":1e400}`, false}, // flexInt refuses it
	{`{"id":"a","priority":123456789012345678901234567890}`, true},
	{`{"id":"a","priority":-1E-7}`, true},
	{`{"id":"a","priority":01}`, false}, {`{"id":"a","priority":1.}`, false}, {`{"id":"a","priority":.5}`, false},
	{`{"id":"a","priority":-}`, false}, {`{"id":"a","priority":+1}`, false},
	{`{"id":"a","priority":""}`, true},
	{`{"id":"a","priority":"\u0031"}`, false},
	{`{"id":"a","created_at":"2026-01-11T18:16:13\u005a"}`, true},
	{`{"id":"a","dependencies":[{"issue_id":"a","depends_on_id":"b","metadata":{ "gate" : [1, {"x": null}] , "e":"\u00e9"}}]}`, true},
	{`{"id":"a","dependencies":[{"metadata":"{\"a\":1}"},{"metadata":12},{"metadata":true},{"metadata":[]}]}`, true},
	{`{"id":"a","comments":[{"id":13,"text":"x"},{"id":"6f1c"},{"id":1.5e3},{"id":-0.0},{"id":99999999999999999999999}]}`, true},
	// whitespace everywhere, nested unknown values, deep nesting (std's limit is 10000)
	{" \t\r\n{ \"id\" \t:\n \"a\" , \"labels\" : [ \"x\" , null ] , \"dependencies\" : [ { \"type\" : \"b\" } ] , \"x\" : [ { } , [ ] , 1 , -2.5e+3 , true , false , null ] } \n\t", true},
	{`{"id":"a","x":{"y":{"z":[[[[{"q":"\"}"}]]]]}},"title":"after"}`, true},
	{`{"id":"a","x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, false},
	{`{"id":"a","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false},
	{`{"id":"a","wisp":true,"ephemeral":false,"pinned":true}`, true},
	{`{"_type":"memory","key":"k","value":"v"}`, true},
}

// checker is what the checks need of *testing.T and *rapid.T.
type checker interface {
	Helper()
	Fatalf(format string, args ...any)
}

// sameWire fails the test unless the fast decode equals the std decode, field for field.
func sameWire(t checker, in []byte, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast decode differs from encoding/json for %q:\n%s\nfast %#v\nstd  %#v", in,
			cmp.Diff(want, got, cmp.AllowUnexported(flexTime{}), cmp.Comparer(sameTime)), got, want)
	}
}

func sameTime(a, b time.Time) bool {
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo && a.Location().String() == b.Location().String()
}

// checkDecode asserts every equivalence the fast decoders promise, for one input.
func checkDecode(t checker, in []byte) (fast bool) {
	t.Helper()
	var sw wireIssue
	serr := json.Unmarshal(in, &sw)

	var fw wireIssue
	d := fastDec{b: in}
	fast = d.wireIssue(&fw)
	if fast {
		if serr != nil {
			t.Fatalf("fast path accepted %q, encoding/json says %v", in, serr)
		}
		sameWire(t, in, fw, sw)
	}
	var dw wireIssue
	derr := decodeWire(in, &dw)
	if (derr == nil) != (serr == nil) || (derr != nil && derr.Error() != serr.Error()) {
		t.Fatalf("decodeWire(%q) error %v, encoding/json %v", in, derr, serr)
	}
	if derr == nil {
		sameWire(t, in, dw, sw)
	}

	checkUnquote(t, in)
	checkUnquote(t, append(append([]byte{'"'}, in...), '"'))

	// the store's body decoder, on what json.Marshal writes for the issue std reads from the input
	var is Issue
	if json.Unmarshal(in, &is) == nil {
		if body, err := json.Marshal(is); err == nil {
			checkIssueJSON(t, body)
		}
	}
	return fast
}

// checkUnquote asserts that unquoteJSON agrees with json.Unmarshal into a string whenever it answers, and
// answers for every valid string literal.
func checkUnquote(t checker, in []byte) {
	t.Helper()
	var s string
	err := json.Unmarshal(in, &s)
	u, ok := unquoteJSON(in)
	if ok && (err != nil || u != s) {
		t.Fatalf("unquoteJSON(%q) = %q; encoding/json %q, %v", in, u, s, err)
	}
	if !ok && err == nil && len(in) > 0 && in[0] == '"' && in[len(in)-1] == '"' {
		t.Fatalf("unquoteJSON(%q) gave up on a valid string", in)
	}
}

// checkIssueJSON asserts DecodeIssueJSON == json.Unmarshal into Issue for one json.Marshal output.
func checkIssueJSON(t checker, body []byte) (fast bool) {
	t.Helper()
	var want Issue
	werr := json.Unmarshal(body, &want)
	got, err := DecodeIssueJSON(body)
	if (err == nil) != (werr == nil) {
		t.Fatalf("DecodeIssueJSON(%s) error %v, encoding/json %v", body, err, werr)
	}
	sameWire(t, body, got, want)
	_, fast = decodeIssueFast(body)
	checkPromptFields(t, body, fast)
	return fast
}

// checkPromptFields holds PromptFieldsJSON to encoding/json: when it reads the fields and encoding/json
// decodes the issue, they agree; and it reads them whenever DecodeIssueJSON's fast path did (mustRead).
func checkPromptFields(t checker, body []byte, mustRead bool) {
	t.Helper()
	title, desc, ac, ok := PromptFieldsJSON(body)
	if mustRead && !ok {
		t.Fatalf("PromptFieldsJSON(%s) gave up where DecodeIssueJSON's fast path did not", body)
	}
	var want Issue
	if !ok || json.Unmarshal(body, &want) != nil {
		return
	}
	if title != want.Title || desc != want.Description || ac != want.AcceptanceCriteria {
		t.Fatalf("PromptFieldsJSON(%s) = %q, %q, %q; encoding/json %q, %q, %q", body, title, desc, ac,
			want.Title, want.Description, want.AcceptanceCriteria)
	}
}

func TestFastDecodeCorpora(t *testing.T) {
	lines := corpusLines(t)
	slow := 0
	for _, l := range lines {
		if !checkDecode(t, l) {
			slow++
			t.Logf("fell back to encoding/json: %.200s", l)
		}
	}
	// every real record takes the fast path: a fast decoder that silently always fell back would pass the
	// equality checks
	if slow > 0 {
		t.Errorf("%d of %d corpus lines left to encoding/json", slow, len(lines))
	}
}

func TestFastDecodeOddLines(t *testing.T) {
	for _, l := range oddLines {
		if fast := checkDecode(t, []byte(l.in)); fast != l.fast {
			t.Errorf("fast path %v, want %v: %.120q", fast, l.fast, l.in)
		}
	}
}

// TestDecodeIssueJSONCorpora: every corpus issue's view, written as the store writes it, decodes fast and
// exactly as encoding/json decodes it.
func TestDecodeIssueJSONCorpora(t *testing.T) {
	for _, c := range corpora {
		f, _ := parseCorpus(t, c.name)
		for _, r := range f.Issues() {
			is, err := r.Issue()
			if err != nil {
				t.Fatal(err)
			}
			body, err := json.Marshal(is)
			if err != nil {
				t.Fatal(err)
			}
			if !checkIssueJSON(t, body) {
				t.Fatalf("%s: %s left to encoding/json", c.name, r.ID)
			}
		}
	}
}

var genLoc = rapid.SampledFrom([]*time.Location{time.UTC, time.Local, time.FixedZone("", 0),
	time.FixedZone("", 5*3600+1800), time.FixedZone("PST", -8*3600), time.FixedZone("", 14*3600)})

func genTime(t *rapid.T, label string) time.Time {
	if rapid.IntRange(0, 5).Draw(t, label+"_zero") == 0 {
		return time.Time{}
	}
	sec := rapid.Int64Range(-62135596800, 253402300799-15*3600).Draw(t, label+"_sec") // years 1..9999
	ns := rapid.OneOf(rapid.Just(int64(0)), rapid.Int64Range(0, 999999999)).Draw(t, label+"_ns")
	return time.Unix(sec, ns).In(genLoc.Draw(t, label+"_loc"))
}

func genTimePtr(t *rapid.T, label string) *time.Time {
	switch rapid.IntRange(0, 3).Draw(t, label+"_ptr") {
	case 0, 1:
		return nil
	case 2:
		return &time.Time{} // a pointer to the zero time: written, and read back as such by std
	}
	tm := genTime(t, label)
	return &tm
}

var genStr = rapid.OneOf(
	rapid.StringMatching(`[a-z0-9\-]{0,8}`),
	rapid.String(),
	rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 12), func(b []byte) string { return string(b) }),
	rapid.SampledFrom([]string{"", "<a&b>", "\u2028\u2029", "line\nbreak\t\"q\"\\/", "\x00\x1f\x7f", "\xff\xfe",
		"\xed\xa0\x80", "😀 é 中", "\ufffd"}),
)

func genIssueValue(t *rapid.T) Issue {
	is := Issue{
		ID: genStr.Draw(t, "id"), Title: genStr.Draw(t, "title"), Description: genStr.Draw(t, "desc"),
		Design: genStr.Draw(t, "design"), AcceptanceCriteria: genStr.Draw(t, "ac"), Notes: genStr.Draw(t, "notes"),
		Status:    rapid.SampledFrom([]string{"", "open", "in_progress", "closed", "ré"}).Draw(t, "status"),
		Priority:  rapid.OneOf(rapid.IntRange(-5, 10), rapid.Int()).Draw(t, "prio"),
		IssueType: rapid.SampledFrom([]string{"", "task", "bug", "epic"}).Draw(t, "type"),
		Assignee:  genStr.Draw(t, "assignee"), Owner: genStr.Draw(t, "owner"),
		CreatedAt: genTime(t, "created"), CreatedBy: genStr.Draw(t, "by"), UpdatedAt: genTime(t, "updated"),
		StartedAt: genTimePtr(t, "started"), ClosedAt: genTimePtr(t, "closed"), CloseReason: genStr.Draw(t, "reason"),
		DeferUntil: genTimePtr(t, "defer"), DeletedAt: genTimePtr(t, "deleted"),
		Pinned: rapid.Bool().Draw(t, "pinned"), Ephemeral: rapid.Bool().Draw(t, "ephemeral"),
	}
	switch rapid.IntRange(0, 2).Draw(t, "labels") {
	case 1:
		is.Labels = []string{}
	case 2:
		is.Labels = rapid.SliceOfN(genStr, 1, 4).Draw(t, "labelv")
	}
	switch rapid.IntRange(0, 2).Draw(t, "deps") {
	case 1:
		is.Dependencies = []Dependency{}
	case 2:
		for i := range rapid.IntRange(1, 3).Draw(t, "ndeps") {
			l := fmt.Sprint("dep", i)
			is.Dependencies = append(is.Dependencies, Dependency{
				IssueID: genStr.Draw(t, l+"from"), DependsOnID: genStr.Draw(t, l+"to"), Type: genStr.Draw(t, l+"type"),
				CreatedAt: genTime(t, l+"at"), CreatedBy: genStr.Draw(t, l+"by"),
				Metadata: rapid.OneOf(genStr, rapid.Just(`{"gate":"all-children"}`)).Draw(t, l+"meta"),
			})
		}
	}
	switch rapid.IntRange(0, 2).Draw(t, "comments") {
	case 1:
		is.Comments = []Comment{}
	case 2:
		for i := range rapid.IntRange(1, 3).Draw(t, "ncomments") {
			l := fmt.Sprint("comment", i)
			is.Comments = append(is.Comments, Comment{
				ID: rapid.OneOf(genStr, rapid.StringMatching(`[0-9]{1,4}`)).Draw(t, l+"id"), IssueID: genStr.Draw(t, l+"issue"),
				Author: genStr.Draw(t, l+"author"), Text: genStr.Draw(t, l+"text"), CreatedAt: genTime(t, l+"at"),
			})
		}
	}
	return is
}

// TestDecodeIssueJSONProperty: for any Issue the store can write, DecodeIssueJSON(json.Marshal(is)) is what
// json.Unmarshal gives, and it takes the fast path unless the issue has one of the shapes it leaves to std.
func TestDecodeIssueJSONProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		is := genIssueValue(t)
		body, err := json.Marshal(is)
		if err != nil {
			t.Fatal(err)
		}
		fast := checkIssueJSON(t, body)
		zeroPtr := false
		for _, p := range []*time.Time{is.StartedAt, is.ClosedAt, is.DeferUntil, is.DeletedAt} {
			zeroPtr = zeroPtr || (p != nil && p.IsZero())
		}
		if wantFast := !zeroPtr && int64(is.Priority) > -1e15 && int64(is.Priority) < 1e15; fast != wantFast {
			t.Fatalf("fast path %v, want %v for %s", fast, wantFast, body)
		}
		// and the record decoder reads the same body as the view would (defaults aside)
		checkDecode(t, body)
	})
}

// FuzzDecodeIssue: the fast decoders give what encoding/json gives (value, and an error exactly when it
// errs) for any input; seeded with every corpus line and the odd cases above.
func FuzzDecodeIssue(f *testing.F) {
	for _, l := range corpusLines(f) {
		f.Add(l)
	}
	for _, l := range oddLines {
		f.Add([]byte(l.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecode(t, in)
		checkPromptFields(t, in, false)
	})
}

// benchLines returns the lines of the big corpus.
func benchLines(b *testing.B) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(readCorpus(b, bigCorpus), []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// BenchmarkDecodeIssue decodes every record of the big corpus into the view: std is the former
// json.Unmarshal path, fast is decodeIssue. One op is one record.
func BenchmarkDecodeIssue(b *testing.B) {
	lines := benchLines(b)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	run := func(b *testing.B, dec func([]byte) (Issue, error)) {
		b.SetBytes(int64(size / len(lines)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := dec(lines[n%len(lines)]); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.Run("std", func(b *testing.B) {
		run(b, func(raw []byte) (Issue, error) {
			var w wireIssue
			if err := json.Unmarshal(raw, &w); err != nil {
				return Issue{}, err
			}
			return issueOf(&w), nil
		})
	})
	b.Run("fast", func(b *testing.B) { run(b, decodeIssue) })
}

// BenchmarkDecodeIssueJSON decodes the store's body of every issue of the big corpus (json.Marshal of the
// view): std is json.Unmarshal into Issue, fast is DecodeIssueJSON. One op is one body.
func BenchmarkDecodeIssueJSON(b *testing.B) {
	var bodies [][]byte
	size := 0
	for _, l := range benchLines(b) {
		is, err := decodeIssue(l)
		if err != nil {
			b.Fatal(err)
		}
		body, err := json.Marshal(is)
		if err != nil {
			b.Fatal(err)
		}
		bodies, size = append(bodies, body), size+len(body)
	}
	run := func(b *testing.B, dec func([]byte) (Issue, error)) {
		b.SetBytes(int64(size / len(bodies)))
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if _, err := dec(bodies[n%len(bodies)]); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.Run("std", func(b *testing.B) {
		run(b, func(body []byte) (Issue, error) {
			var is Issue
			err := json.Unmarshal(body, &is)
			return is, err
		})
	})
	b.Run("fast", func(b *testing.B) { run(b, DecodeIssueJSON) })
}

// TestPromptFieldsGivesUp: what PromptFieldsJSON leaves to the whole decode.
func TestPromptFieldsGivesUp(t *testing.T) {
	for _, in := range []string{`{"title":"a","title":"b"}`, `{"Title":"a"}`, `{"t\u0069tle":"a"}`, `{"title":1}`,
		`{"description":["x"]}`, `{"title":"a"} x`, `{"title":"a"`, `[]`, `{"x":tru}`} {
		if title, _, _, ok := PromptFieldsJSON([]byte(in)); ok {
			t.Errorf("PromptFieldsJSON(%s) read title %q; it should leave the input to DecodeIssueJSON", in, title)
		}
	}
	if title, desc, ac, ok := PromptFieldsJSON([]byte(` {"id":"x","title":"T \"q\"","acceptance_criteria":null,"description":"d\n","x":{"y":[1,2]}} `)); !ok ||
		title != `T "q"` || desc != "d\n" || ac != "" {
		t.Errorf("PromptFieldsJSON: %q %q %q %v", title, desc, ac, ok)
	}
}
