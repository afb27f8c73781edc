package daemon

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/gastown/gtc/beads"
)

// TestPromptJSONMatchesPromptOf: a push's prompt joined from the body's JSON-encoded fields decodes to
// the text promptOf renders from the decoded issue, on random fields full of escapes, invalid UTF-8,
// surrogates and line separators.
func TestPromptJSONMatchesPromptOf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := []string{"a", "\\", "\"", "\n", "<", ">", "&", "\u2028", "\u00e9", "\xff", "\xed\xa0\x80", "\x00", "\t", "u", "d800", "\\u", "/", "𝄞"}
	gen := func() string {
		s := ""
		for n := r.IntN(6); n > 0; n-- {
			s += alpha[r.IntN(len(alpha))]
		}
		return s
	}
	for i := 0; i < 50000; i++ {
		is := beads.Issue{ID: "x", Title: gen(), Description: gen(), AcceptanceCriteria: gen()}
		body, _ := json.Marshal(is)
		var back beads.Issue
		_ = json.Unmarshal(body, &back)
		ti, de, ac, ok := beads.PromptFieldsRawJSON(body)
		if !ok {
			continue
		}
		var got string
		if err := json.Unmarshal(promptJSON(ti, de, ac), &got); err != nil {
			t.Fatalf("%q: %v", promptJSON(ti, de, ac), err)
		}
		if want := promptOf(back); got != want {
			t.Fatalf("issue %+v: prompt %q, want %q", back, got, want)
		}
	}
}
