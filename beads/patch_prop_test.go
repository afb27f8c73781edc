package beads

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// sameView compares the applied view with the view read back from the patched bytes, as bd would:
// defaults applied, instants compared under the profile's precision, labels as a set, edges and
// comments as multisets.
func sameView(t *rapid.T, p Profile, want, got Issue) {
	norm := func(tm time.Time) time.Time { return p.normTime(tm) }
	eqT := func(a, b time.Time) bool { return norm(a).Equal(norm(b)) }
	eqP := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || eqT(*a, *b)) }
	str := func(field, a, b string) {
		if a != b {
			t.Fatalf("%s: applied %q, read back %q", field, a, b)
		}
	}
	str("title", want.Title, got.Title)
	str("description", want.Description, got.Description)
	str("notes", want.Notes, got.Notes)
	str("status", orDefault(want.Status, "open"), got.Status)
	str("issue_type", orDefault(want.IssueType, "task"), got.IssueType)
	str("assignee", want.Assignee, got.Assignee)
	str("close_reason", want.CloseReason, got.CloseReason)
	if want.Priority != got.Priority {
		t.Fatalf("priority %d → %d", want.Priority, got.Priority)
	}
	if !eqT(want.UpdatedAt, got.UpdatedAt) || !eqT(want.CreatedAt, got.CreatedAt) {
		t.Fatalf("times: %v/%v → %v/%v", want.CreatedAt, want.UpdatedAt, got.CreatedAt, got.UpdatedAt)
	}
	if !eqP(want.ClosedAt, got.ClosedAt) || !eqP(want.DeferUntil, got.DeferUntil) {
		t.Fatalf("closed_at/defer_until: %v %v → %v %v", want.ClosedAt, want.DeferUntil, got.ClosedAt, got.DeferUntil)
	}
	if p.Modern() && !eqP(want.StartedAt, got.StartedAt) {
		t.Fatalf("started_at %v → %v", want.StartedAt, got.StartedAt)
	}
	wl := slices.Compact(slices.Sorted(slices.Values(want.Labels)))
	if !slices.Equal(wl, got.Labels) && !(len(wl) == 0 && len(got.Labels) == 0) {
		t.Fatalf("labels %v → %v", wl, got.Labels)
	}
	if want.Pinned != got.Pinned || want.Ephemeral != got.Ephemeral {
		t.Fatal("flags")
	}
	keys := func(ds []Dependency) []string {
		var out []string
		for _, d := range ds {
			out = append(out, depKey(d)+"|"+d.CreatedBy+"|"+strconv.FormatInt(norm(d.CreatedAt).Unix(), 10))
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(keys(want.Dependencies), keys(got.Dependencies)) {
		t.Fatalf("deps %v → %v", keys(want.Dependencies), keys(got.Dependencies))
	}
	ck := func(cs []Comment) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Author+":"+c.Text)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ck(want.Comments), ck(got.Comments)) {
		t.Fatalf("comments %q → %q", ck(want.Comments), ck(got.Comments))
	}
}

func TestApplyProperty(t *testing.T) {
	for _, name := range []string{"beads_sqlite-era_669ea406.jsonl", "reframe2_v1-typed_15159adb.jsonl"} {
		t.Run(name, func(t *testing.T) {
			f, data := parseCorpus(t, name)
			issues := f.Issues()
			text := rapid.OneOf(rapid.Just(""), rapid.StringN(0, 12, -1),
				rapid.SampledFrom([]string{"a<b>&c", "\u2028x", "tab\there", `q"uote\`, "é€😀"}))
			tm := rapid.Custom(func(t *rapid.T) time.Time {
				return time.Unix(rapid.Int64Range(1.7e9, 1.8e9).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "ns")).
					In(time.FixedZone("z", rapid.IntRange(-12, 12).Draw(t, "zone")*3600))
			})
			rapid.Check(t, func(t *rapid.T) {
				i := rapid.IntRange(0, len(issues)-1).Draw(t, "record")
				orig := issues[i]
				r := &Record{Kind: KindIssue, ID: orig.ID, Line: orig.Line, raw: bytes.Clone(orig.raw)}
				is, err := r.Issue()
				if err != nil {
					t.Fatal(err)
				}
				if rapid.Bool().Draw(t, "status") {
					is.Status = rapid.SampledFrom([]string{"", "open", "in_progress", "closed", "hooked", "in_review"}).Draw(t, "s")
				}
				if rapid.Bool().Draw(t, "assignee") {
					is.Assignee = text.Draw(t, "a")
				}
				if rapid.Bool().Draw(t, "desc") {
					is.Description = text.Draw(t, "d")
				}
				if rapid.Bool().Draw(t, "prio") {
					is.Priority = rapid.IntRange(0, 4).Draw(t, "p")
				}
				if rapid.Bool().Draw(t, "updated") {
					is.UpdatedAt = tm.Draw(t, "u")
				}
				if rapid.Bool().Draw(t, "closed") {
					if rapid.Bool().Draw(t, "closed-nil") {
						is.ClosedAt = nil
					} else {
						c := tm.Draw(t, "c")
						is.ClosedAt = &c
					}
				}
				if rapid.Bool().Draw(t, "started") {
					s := tm.Draw(t, "st")
					is.StartedAt = &s
				}
				if rapid.Bool().Draw(t, "labels") {
					is.Labels = rapid.SliceOfN(text, 0, 4).Draw(t, "l")
				}
				if rapid.Bool().Draw(t, "dep") {
					is.Dependencies = append(is.Dependencies, Dependency{IssueID: is.ID,
						DependsOnID: "x-" + strconv.Itoa(rapid.IntRange(0, 9).Draw(t, "dep-id")),
						Type:        rapid.SampledFrom([]string{"blocks", "related", "parent-child"}).Draw(t, "dt"), CreatedAt: tm.Draw(t, "dc")})
				}
				if len(is.Dependencies) > 0 && rapid.Bool().Draw(t, "dropdep") {
					is.Dependencies = is.Dependencies[1:]
				}
				if rapid.Bool().Draw(t, "comment") {
					is.Comments = append(is.Comments, Comment{IssueID: is.ID, Author: "w", Text: text.Draw(t, "ct") + "!", CreatedAt: tm.Draw(t, "cc")})
				}
				is.Pinned = rapid.Bool().Draw(t, "pinned")
				if _, err := r.Apply(is, f.Profile); err != nil {
					t.Fatal(err)
				}
				pf, err := Parse("patched", r.raw, ParseOptions{})
				if err != nil {
					t.Fatalf("patched line does not parse: %v\n%s", err, r.raw)
				}
				back, err := pf.Records[0].Issue()
				if err != nil {
					t.Fatal(err)
				}
				if !f.Profile.Modern() {
					is.StartedAt = back.StartedAt // classic does not manage started_at on lines without it
				}
				sameView(t, f.Profile, is, back)
				if changed, _ := pf.Records[0].Apply(is, f.Profile); changed {
					t.Fatalf("second apply changed bytes:\n%s", r.raw)
				}
				if f.Profile.Modern() {
					want := strconv.Itoa(blocksCount(is.Dependencies))
					if got := string(pf.Records[0].value("dependency_count")); got != want {
						t.Fatalf("dependency_count %s, want %s", got, want)
					}
				}
				// Unknown keys survive.
				ms, _ := orig.scan()
				for _, m := range ms {
					if f.Profile.keyPos(m.key) < 0 && !strings.HasPrefix(m.key, "zz") {
						if !bytes.Equal(pf.Records[0].value(m.key), orig.raw[m.valueStart:m.end]) {
							t.Fatalf("unknown key %s changed", m.key)
						}
					}
				}
			})
			if !bytes.Equal(f.Bytes(), data) {
				t.Fatal("corpus file mutated by the property test")
			}
		})
	}
}
