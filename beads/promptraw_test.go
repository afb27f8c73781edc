package beads

import (
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// The raw fields, joined inside quotes, decode to what PromptFieldsJSON decodes, for any issue
// json.Marshal writes.
func TestPromptFieldsRawJSONMatchesDecoded(t *testing.T) {
	text := rapid.OneOf(rapid.String(), rapid.SampledFrom([]string{"", "<b>&amp;</b>", "a\u2028b\u2029", "\x00\x1f\t\n\"\\", "\xff\xfe bad", "😀 ünï"}))
	rapid.Check(t, func(t *rapid.T) {
		is := Issue{ID: "gt-1", Title: text.Draw(t, "title"), Description: text.Draw(t, "desc"),
			AcceptanceCriteria: text.Draw(t, "ac"), Notes: text.Draw(t, "notes")}
		b, err := json.Marshal(is)
		if err != nil {
			t.Fatal(err)
		}
		title, desc, ac, ok := PromptFieldsJSON(b)
		rt, rd, ra, rok := PromptFieldsRawJSON(b)
		if !ok || !rok {
			t.Fatalf("refused json.Marshal output: %v %v", ok, rok)
		}
		for _, f := range []struct {
			raw  []byte
			want string
		}{{rt, title}, {rd, desc}, {ra, ac}} {
			var got string
			if err := json.Unmarshal([]byte(`"`+string(f.raw)+`"`), &got); err != nil || got != f.want {
				t.Fatalf("raw %q decodes to %q (%v), want %q", f.raw, got, err, f.want)
			}
			if (len(f.raw) == 0) != (f.want == "") {
				t.Fatalf("raw %q empty, text %q", f.raw, f.want)
			}
		}
	})
}

func TestPromptFieldsRawJSONCases(t *testing.T) {
	for _, tc := range []struct {
		in        string
		title, ac string
		ok        bool
	}{
		{`{"id":"x","title":"a\nb","acceptance_criteria":"c"}`, `a\nb`, `c`, true},
		{`{"title":null,"description":"d"}`, ``, ``, true},
		{`{"title":"\\ud800 is text"}`, `\\ud800 is text`, ``, true}, // an escaped backslash, then "ud800"
		{`{"title":"\ud83d\ude00"}`, ``, ``, false},                  // surrogate escapes: std makes U+FFFD of a lone one
		{`{"title":"x\\\uDC00"}`, ``, ``, false},                     // "\\" then a surrogate escape
		{"{\"title\":\"\xff\"}", ``, ``, false},                      // invalid UTF-8: std decodes U+FFFD
		{`{"title":1}`, ``, ``, false},
		{`{"title":"a","title":"b"}`, ``, ``, false},
		{`{"title":"a"} x`, ``, ``, false},
	} {
		title, _, ac, ok := PromptFieldsRawJSON([]byte(tc.in))
		if ok != tc.ok || ok && (string(title) != tc.title || string(ac) != tc.ac) {
			t.Errorf("%s: got %q %q %v, want %q %q %v", tc.in, title, ac, ok, tc.title, tc.ac, tc.ok)
		}
	}
}
