package rpc

import (
	"encoding/json"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// decodeFast either declines or gives exactly what json.Unmarshal gives, into any starting value.
func TestCompleteResultDecodeFastMatchesUnmarshal(t *testing.T) {
	keys := rapid.SampledFrom([]string{"issue_id", "status", "outcome", "Status", "ISSUE_ID", "other", `st\u0061tus`, ""})
	vals := rapid.SampledFrom([]string{`"a"`, `""`, `null`, `1`, `true`, `"x\ny\"z"`, `"\u00e9\ud83d\ude00"`, "\"\xff\"", `{"n":1}`, `[1]`, `"é"`})
	rapid.Check(t, func(t *rapid.T) {
		var parts []string
		for n := rapid.IntRange(0, 5).Draw(t, "n"); n > 0; n-- {
			parts = append(parts, `"`+keys.Draw(t, "key")+`"`+rapid.SampledFrom([]string{":", " : "}).Draw(t, "colon")+vals.Draw(t, "val"))
		}
		doc := "{" + strings.Join(parts, ",") + "}"
		if !json.Valid([]byte(doc)) {
			t.Skip("invalid JSON: the reply scan refuses it before")
		}
		start := CompleteResult{IssueID: "old", Status: "s0", Outcome: "o0"}
		want, got := start, start
		werr := json.Unmarshal([]byte(doc), &want)
		if got.decodeFast([]byte(doc)) {
			if werr != nil || got != want {
				t.Fatalf("%s: fast %+v, json.Unmarshal %+v (%v)", doc, got, want, werr)
			}
		} else if got != start {
			t.Fatalf("%s: declined but changed the result to %+v", doc, got)
		}
	})
}

func TestCompleteResultDecodeFastTakesTheUsualReply(t *testing.T) {
	var r CompleteResult
	if !r.decodeFast([]byte(`{"issue_id":"gt-1","status":"closed","outcome":"success"}`)) ||
		r != (CompleteResult{IssueID: "gt-1", Status: "closed", Outcome: "success"}) {
		t.Fatalf("usual reply: %+v", r)
	}
}
