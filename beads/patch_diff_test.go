package beads

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// refSetDependentCount is setDependentCount on the reference rebuild.
func refSetDependentCount(r *Record, n int, p Profile) bool {
	ms, open, closeAt, err := scanObject(r.raw)
	if err != nil {
		return false
	}
	val := strconv.AppendInt(nil, int64(n), 10)
	for _, m := range ms {
		if m.key == "dependent_count" && string(r.raw[m.valueStart:m.end]) == string(val) {
			return false
		}
	}
	r.raw = refRebuild(r.raw, ms, open, closeAt, []edit{{key: "dependent_count", val: val, pos: p.keyPos("dependent_count")}}, p)
	r.scanned, r.members = false, nil
	return true
}

// respell rewrites an object line the way other writers might: spaces around the punctuation, members
// in another order, a key spelled with an escape, a key given twice (decoders take the last one).
func respell(t *rapid.T, raw []byte) []byte {
	ms, _, _, err := scanObject(raw)
	if err != nil || len(ms) == 0 {
		return raw
	}
	type mem struct{ key, val []byte }
	var list []mem
	for _, m := range ms {
		list = append(list, mem{raw[m.start : bytes.IndexByte(raw[m.start+1:], '"')+m.start+2], raw[m.valueStart:m.end]})
	}
	if rapid.IntRange(0, 3).Draw(t, "reorder") == 0 {
		perm := rapid.Permutation(list).Draw(t, "order")
		list = perm
	}
	if rapid.IntRange(0, 3).Draw(t, "escape") == 0 {
		i := rapid.IntRange(0, len(list)-1).Draw(t, "escaped")
		k := list[i].key
		if len(k) > 2 && k[1] != '\\' {
			list[i].key = []byte(fmt.Sprintf(`"\u%04x%s`, k[1], k[2:]))
		}
	}
	if rapid.IntRange(0, 5).Draw(t, "dup") == 0 {
		i := rapid.IntRange(0, len(list)-1).Draw(t, "duped")
		list = append(list, list[i])
	}
	sp := rapid.SampledFrom([]string{"", "", " ", "\t", "  "})
	var out []byte
	out = append(out, '{')
	out = append(out, sp.Draw(t, "open")...)
	for i, m := range list {
		if i > 0 {
			out = append(out, sp.Draw(t, "before-comma")...)
			out = append(out, ',')
			out = append(out, sp.Draw(t, "after-comma")...)
		}
		out = append(out, m.key...)
		out = append(out, sp.Draw(t, "before-colon")...)
		out = append(out, ':')
		out = append(out, sp.Draw(t, "after-colon")...)
		out = append(out, m.val...)
	}
	out = append(out, sp.Draw(t, "close")...)
	return append(out, '}')
}

// oddPatchLines are issue lines of foreign or older writers, to patch beside the corpora's.
var oddPatchLines = []string{
	`{"id":"o-1","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","wisp":true}`,
	`{ "updated_at" : "2026-01-07T02:53:47Z", "title" : "T", "id" : "o-2" }`,
	`{"id":"o-3","title":"T","status":"","issue_type":"","priority":0,"created_at":"2026-01-11T18:16:13.074821-08:00","updated_at":"2026-01-11T18:16:13.074821-08:00","labels":["z","a","z"],"dependencies":[ {"issue_id":"o-3","depends_on_id":"o-1","type":"blocks","created_at":"2026-01-11T18:16:13.1-08:00","created_by":"me","thread_id":"t1"} , {"issue_id":"o-3","depends_on_id":"o-2","type":"related","created_at":"2026-01-11T18:16:13Z","metadata":"{}"}],"comments":[{"id":7,"issue_id":"o-3","author":"a","text":" hi ","created_at":"2026-01-11T18:16:13Z"}],"zzz_unknown":{"k":[1,2]}}`,
	`{"_type":"issue","id":"o-4","title":"T","status":"closed","priority":1,"issue_type":"bug","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-02T00:00:00Z","closed_at":"2026-01-02T00:00:00Z","close_reason":"done","dependencies":[],"labels":[],"comments":[],"dependency_count":0,"dependent_count":3,"comment_count":0}`,
	`{"id":"o-5","title":"a\u003cb","description":"line\nbreak \"q\" é","status":"in_progress","priority":3,"issue_type":"task","assignee":"w","created_at":"2026-01-01T00:00:00.5+02:00","updated_at":"2026-01-01T00:00:00.5+02:00","started_at":"2026-01-01T00:00:00Z","defer_until":"2026-02-01T00:00:00Z","deleted_at":"2026-02-01T00:00:00Z","pinned":true,"ephemeral":false,"labels":["x"],"comments":[{"id":"c1","issue_id":"o-5","author":"a","text":"t","created_at":"2026-01-01T00:00:00Z"},{"id":"0","issue_id":"o-5","author":"b","text":"u","created_at":"2026-01-01T00:00:00Z"}]}`,
	`{"id":"o-6","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","dependencies":[{"issue_id":"o-6","depends_on_id":"o-1","type":"blocks","created_at":"2026-01-01T00:00:00Z","metadata":{"k":1}},{"issue_id":"o-6","depends_on_id":"o-1","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]}`,
	`{"id":"o-7","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","comments":[{"id":1,"issue_id":"o-7","author":"a","text":"x","created_at":"2026-01-01T00:00:00Z"}],"Comments":[{"id":2,"issue_id":"o-7","author":"b","created_at":"2026-01-01T00:00:00Z"}],"DEPENDENCIES":[{"issue_id":"o-7","depends_on_id":"o-1","type":"blocks","created_at":"2026-01-01T00:00:00Z"}],"dependencies":[{"issue_id":"o-7","depends_on_id":"o-2","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]}`,
	`{"id":"o-8","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","comments":[{"id":1,"issue_id":"o-8","author":"a","text":"x","created_at":"2026-01-01T00:00:00Z"}],"comment\u017f":[],"dependencies":[{"issue_id":"o-8","depends_on_id":"o-1","type":"blocks","created_at":"2026-01-01T00:00:00Z"}],"dependencie\u017f":[{"issue_id":"o-8","depends_on_id":"o-3","type":"blocks","created_at":"2026-01-01T00:00:00Z"}]}`,
	`{"id":"o-9","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","comments":[{"id":"1","issue_id":"o-9","author":"a","text":"x","created_at":"2026-01-01T00:00:00Z"}],"comments":[{"id":"1","issue_id":"o-9","author":"b","created_at":"2026-01-01T00:00:00Z"}]}`,
}

// TestPatchMatchesReference holds Apply, NewRecord and setDependentCount to the reference code (the
// patch code before the allocation work): the same bytes and the same changed flag for every record
// of the four corpora and the odd lines, respelled or not, under random changes of every managed field.
func TestPatchMatchesReference(t *testing.T) {
	type src struct {
		raw []byte
		p   Profile
	}
	var recs, odd []src
	for _, c := range corpora {
		f, _ := parseCorpus(t, c.name)
		for _, r := range f.Issues() {
			recs = append(recs, src{r.raw, f.Profile})
		}
	}
	for _, l := range oddPatchLines {
		for _, p := range []Profile{Classic, ModernUntyped, ModernTyped} {
			odd = append(odd, src{[]byte(l), p})
		}
	}
	text := rapid.OneOf(rapid.Just(""), rapid.StringN(0, 12, -1),
		rapid.SampledFrom([]string{"a<b>&c", "\u2028x", "tab\there", `q"uote\`, "é€😀", "open", "task"}))
	tm := rapid.Custom(func(t *rapid.T) time.Time {
		return time.Unix(rapid.Int64Range(1.7e9, 1.8e9).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "ns")*
			int64(rapid.SampledFrom([]int{0, 1}).Draw(t, "frac"))).
			In(time.FixedZone("z", rapid.IntRange(-12, 12).Draw(t, "zone")*3600))
	})
	tmp := func(t *rapid.T, label string, cur *time.Time) *time.Time {
		switch rapid.IntRange(0, 3).Draw(t, label) {
		case 0:
			return nil
		case 1:
			v := tm.Draw(t, label+"-t")
			return &v
		case 2:
			if cur != nil {
				v := cur.UTC() // same instant, other zone
				return &v
			}
		}
		return cur
	}
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.SampledFrom(recs).Draw(t, "record")
		if rapid.IntRange(0, 3).Draw(t, "odd") == 0 {
			s = rapid.SampledFrom(odd).Draw(t, "odd-record")
		}
		raw := s.raw
		if rapid.IntRange(0, 2).Draw(t, "respell") == 0 {
			raw = respell(t, raw)
		}
		p := s.p
		if rapid.IntRange(0, 5).Draw(t, "other-profile") == 0 {
			p = Profile(rapid.IntRange(0, 2).Draw(t, "profile"))
		}
		h, ok := headOf(raw)
		if !ok || h.kind != KindIssue {
			t.Skip("not an issue line")
		}
		id := string(h.id)
		a := &Record{Kind: KindIssue, ID: id, raw: bytes.Clone(raw)}
		b := &Record{Kind: KindIssue, ID: id, raw: bytes.Clone(raw)}
		is, err := a.Issue()
		if err != nil {
			t.Skip("no view")
		}
		if rapid.Bool().Draw(t, "status") {
			is.Status = rapid.SampledFrom([]string{"", "open", "in_progress", "closed", "hooked", "tombstone"}).Draw(t, "s")
		}
		if rapid.Bool().Draw(t, "type") {
			is.IssueType = rapid.SampledFrom([]string{"", "task", "bug"}).Draw(t, "it")
		}
		for _, f := range []*string{&is.Title, &is.Description, &is.Design, &is.AcceptanceCriteria, &is.Notes, &is.Assignee, &is.Owner, &is.CreatedBy, &is.CloseReason} {
			if rapid.IntRange(0, 4).Draw(t, "text") == 0 {
				*f = text.Draw(t, "t")
			}
		}
		if rapid.Bool().Draw(t, "prio") {
			is.Priority = rapid.IntRange(0, 4).Draw(t, "p")
		}
		if rapid.Bool().Draw(t, "updated") {
			is.UpdatedAt = tm.Draw(t, "u")
		}
		if rapid.IntRange(0, 3).Draw(t, "created") == 0 {
			is.CreatedAt = is.CreatedAt.UTC()
		}
		is.StartedAt = tmp(t, "started", is.StartedAt)
		is.ClosedAt = tmp(t, "closed", is.ClosedAt)
		is.DeferUntil = tmp(t, "defer", is.DeferUntil)
		is.DeletedAt = tmp(t, "deleted", is.DeletedAt)
		switch rapid.IntRange(0, 4).Draw(t, "labels") {
		case 0:
			is.Labels = rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "z", "é", "x"}), 0, 4).Draw(t, "l")
		case 1:
			is.Labels = nil
		}
		switch rapid.IntRange(0, 5).Draw(t, "deps") {
		case 0:
			is.Dependencies = append(is.Dependencies, Dependency{IssueID: is.ID,
				DependsOnID: "x-" + strconv.Itoa(rapid.IntRange(0, 3).Draw(t, "dep-id")),
				Type:        rapid.SampledFrom([]string{"blocks", "related", "parent-child"}).Draw(t, "dt"), CreatedAt: tm.Draw(t, "dc"),
				Metadata: rapid.SampledFrom([]string{"", "{}", `{"a":1}`}).Draw(t, "dm")})
		case 1:
			if len(is.Dependencies) > 0 {
				is.Dependencies = is.Dependencies[1:]
			}
		case 2:
			if len(is.Dependencies) > 0 {
				d := append([]Dependency(nil), is.Dependencies...)
				d[0].CreatedAt = d[0].CreatedAt.UTC()
				if rapid.Bool().Draw(t, "meta") {
					d[0].Metadata = ""
				}
				is.Dependencies = d
			}
		case 3:
			is.Dependencies = nil
		}
		switch rapid.IntRange(0, 5).Draw(t, "comments") {
		case 0:
			is.Comments = append(is.Comments, Comment{ID: rapid.SampledFrom([]string{"", "0", "12", "c-9"}).Draw(t, "cid"),
				IssueID: is.ID, Author: "w", Text: text.Draw(t, "ct"), CreatedAt: tm.Draw(t, "cc")})
		case 1:
			if len(is.Comments) > 0 {
				is.Comments = is.Comments[1:]
			}
		case 2:
			if len(is.Comments) > 0 {
				c := append([]Comment(nil), is.Comments...)
				c[0].Text += "!"
				is.Comments = c
			}
		}
		is.Pinned = rapid.IntRange(0, 3).Draw(t, "pinned") == 0 || (is.Pinned && rapid.Bool().Draw(t, "keep-pin"))
		is.Ephemeral = rapid.IntRange(0, 3).Draw(t, "eph") == 0 || (is.Ephemeral && rapid.Bool().Draw(t, "keep-eph"))
		gotChanged, gotErr := a.Apply(is, p)
		wantChanged, wantErr := refApply(b, is, p)
		if (gotErr == nil) != (wantErr == nil) || gotChanged != wantChanged || !bytes.Equal(a.raw, b.raw) {
			t.Fatalf("Apply differs from the reference under %v\nline: %s\n got %v %v %s\nwant %v %v %s", p, raw, gotChanged, gotErr, a.raw, wantChanged, wantErr, b.raw)
		}
		if p.Modern() {
			n := rapid.IntRange(0, 3).Draw(t, "dependents")
			if g, w := a.setDependentCount(n, p), refSetDependentCount(b, n, p); g != w || !bytes.Equal(a.raw, b.raw) {
				t.Fatalf("setDependentCount(%d) differs:\n got %v %s\nwant %v %s", n, g, a.raw, w, b.raw)
			}
		}
		is.ID = "n-" + strings.TrimPrefix(is.ID, "n-")
		na, errA := NewRecord(is, p)
		nb, errB := refNewRecord(is, p)
		if (errA == nil) != (errB == nil) || (errA == nil && !bytes.Equal(na.raw, nb.raw)) {
			t.Fatalf("NewRecord differs under %v:\n got %s %v\nwant %s %v", p, na.Raw(), errA, nb.Raw(), errB)
		}
	})
}
