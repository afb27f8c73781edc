package rpc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// decodeResult gives exactly what json.Unmarshal gives, into any starting value.
func TestDecodeResultMatchesUnmarshal(t *testing.T) {
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
		start := CompleteResult{}
		if rapid.Bool().Draw(t, "nonzero") {
			start = CompleteResult{IssueID: "old", Status: "s0", Outcome: "o0"}
		}
		want, got := start, start
		werr := json.Unmarshal([]byte(doc), &want)
		gerr := decodeResult([]byte(doc), &got)
		if (gerr == nil) != (werr == nil) || got != want {
			t.Fatalf("%s: decodeResult %+v (%v), json.Unmarshal %+v (%v)", doc, got, gerr, want, werr)
		}
	})
}

func TestDecodeResultTakesTheUsualReplyFast(t *testing.T) {
	b := []byte(`{"issue_id":"gt-1","status":"closed","outcome":"success"}`)
	var r CompleteResult
	if !decodeParamsFast(b, reflect.ValueOf(&r).Elem(), planOf(reflect.TypeFor[CompleteResult]())) {
		t.Fatal("the usual complete reply is not on the fast path")
	}
	r = CompleteResult{}
	if err := decodeResult(b, &r); err != nil || r != (CompleteResult{IssueID: "gt-1", Status: "closed", Outcome: "success"}) {
		t.Fatalf("usual reply: %+v %v", r, err)
	}
	var m map[string]any // not a struct: json.Unmarshal
	if err := decodeResult(b, &m); err != nil || m["status"] != "closed" {
		t.Fatalf("map result: %v %v", m, err)
	}
}
