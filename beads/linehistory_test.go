package beads

import (
	"fmt"
	"testing"
)

// TestLineHistory: a line of the same second as base is unseen only when gtc noted base and never the
// line; lines with a fraction, of an older second, or pruned ones are not known at all.
func TestLineHistory(t *testing.T) {
	at := func(ts, prio string) []byte {
		return []byte(fmt.Sprintf(`{"id":"a","priority":%s,"updated_at":%q,"dependencies":[{"updated_at":"x"}]}`, prio, ts))
	}
	const s1, s2 = "2026-11-27T04:00:01Z", "2026-11-27T04:00:02-01:00"
	var lh lineHistory
	lh.note("a", at(s1, "1"))
	lh.note("a", at(s1, "2")) // base: the last noted
	sec, ok := lh.lineSecond(at(s1, "9"))
	if !ok {
		t.Fatal("whole-second line not recognised")
	}
	for _, tc := range []struct {
		name       string
		base, line []byte
		want       bool
	}{
		{"edit never seen", at(s1, "2"), at(s1, "3"), true},
		{"older version seen", at(s1, "2"), at(s1, "1"), false},
		{"base not noted", at(s1, "7"), at(s1, "3"), false},
	} {
		if got := lh.unseen("a", sec, tc.base, tc.line); got != tc.want {
			t.Errorf("%s: unseen %v, want %v", tc.name, got, tc.want)
		}
	}
	if lh.unseen("b", sec, at(s1, "2"), at(s1, "3")) {
		t.Error("an issue with no history: unseen, want unknown (false)")
	}
	if _, ok := lh.lineSecond(at("2026-11-27T04:00:01.5Z", "1")); ok {
		t.Error("a line with a fraction of a second was taken as whole-second")
	}
	lh.note("a", at("2026-11-27T04:00:00Z", "4")) // an older second: ignored
	if !lh.unseen("a", sec, at(s1, "2"), at("2026-11-27T04:00:00Z", "4")) {
		t.Error("a line of an older second changed the history of the newer one")
	}
	// a newer second replaces the versions kept; the ring keeps the last six
	for p := range 8 {
		lh.note("a", at(s2, fmt.Sprint(p)))
	}
	sec2, _ := lh.lineSecond(at(s2, "0"))
	if lh.unseen("a", sec, at(s1, "2"), at(s1, "3")) {
		t.Error("versions of the older second still answer after a newer one was noted")
	}
	if !lh.unseen("a", sec2, at(s2, "7"), at(s2, "0")) || lh.unseen("a", sec2, at(s2, "7"), at(s2, "2")) {
		t.Error("the ring does not hold the last six versions (2..7) and only those")
	}
	lh.prune(sec2)
	if len(lh.m) != 1 {
		t.Errorf("prune(sec2) dropped the versions of sec2: %d issues left", len(lh.m))
	}
	lh.prune(sec2 + 1)
	if len(lh.m) != 0 || lh.unseen("a", sec2, at(s2, "7"), at(s2, "9")) {
		t.Error("pruned versions still answer")
	}
}

// TestLineHistoryContentNotBytes: an old line written back in another key order or spacing is the
// version gtc saw (not an edit); a change of any key, one gtc does not read included, is an edit.
func TestLineHistoryContentNotBytes(t *testing.T) {
	const ts = "2026-11-27T04:00:01Z"
	old := []byte(`{"id":"a","status":"open","priority":1,"updated_at":"` + ts + `","x_extra":1}`)
	base := []byte(`{"id":"a","status":"closed","priority":1,"updated_at":"` + ts + `","x_extra":1}`)
	var lh lineHistory
	lh.note("a", old)
	lh.note("a", base)
	sec, _ := lh.lineSecond(base)
	for _, tc := range []struct {
		name string
		line string
		want bool
	}{
		{"old line, keys reordered", `{"priority":1, "status":"open","id":"a","x_extra":1,"updated_at":"` + ts + `"}`, false},
		{"base, spaced", `{ "id" : "a", "status":"closed","priority":1,"updated_at":"` + ts + `","x_extra":1 }`, false},
		{"a key gtc does not read changed", `{"id":"a","status":"closed","priority":1,"updated_at":"` + ts + `","x_extra":2}`, true},
		{"priority changed", `{"id":"a","status":"closed","priority":3,"updated_at":"` + ts + `","x_extra":1}`, true},
	} {
		if got := lh.unseen("a", sec, base, []byte(tc.line)); got != tc.want {
			t.Errorf("%s: unseen %v, want %v", tc.name, got, tc.want)
		}
	}
}
