package convoy

import (
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

var now = time.Date(2026, 11, 26, 4, 30, 0, 0, time.UTC)

func iss(id, status string, labels ...string) coord.IssueMeta {
	return coord.IssueMeta{ID: id, Status: status, IssueType: "task", Labels: labels}
}

func tracking(id, status, name string) coord.IssueMeta {
	return coord.IssueMeta{ID: id, Status: status, IssueType: TypeConvoy, Labels: []string{Label(name)}, Assignee: "lead"}
}

func TestCompute(t *testing.T) {
	cases := []struct {
		name   string
		issues []coord.IssueMeta
		want   Progress
	}{
		{"empty convoy", []coord.IssueMeta{iss("x-1", "open", "convoy:other")},
			Progress{Name: "c", IssueIDs: []string{}}},
		{"mixed", []coord.IssueMeta{
			tracking("x-0", "open", "c"),
			iss("x-1", "closed", "convoy:c"),
			iss("x-2", "in_progress", "convoy:c"),
			iss("x-3", "hooked", "convoy:c", "p"),
			iss("x-4", "open", "convoy:c", "gtc:failed"),
			iss("x-5", "open", "hook:failed", "convoy:c"),
			iss("x-6", "open", "convoy:c"),
			iss("x-7", "blocked", "convoy:c"),
			iss("x-8", "closed", "convoy:cc"),
			iss("x-9", "closed", "convoy:c", "gtc:failed"), // closed wins over the failed label
		}, Progress{Name: "c", Total: 8, Closed: 2, InProgress: 2, Failed: 2, Open: 2, Percent: 25,
			TrackingID: "x-0", IssueIDs: []string{"x-1", "x-2", "x-3", "x-4", "x-5", "x-6", "x-7", "x-9"}}},
		{"complete", []coord.IssueMeta{iss("x-1", "closed", "convoy:c"), iss("x-2", "closed", "a", "convoy:c")},
			Progress{Name: "c", Total: 2, Closed: 2, Percent: 100, Complete: true, IssueIDs: []string{"x-1", "x-2"}}},
		{"only tracking", []coord.IssueMeta{tracking("x-0", "open", "c")},
			Progress{Name: "c", TrackingID: "x-0", IssueIDs: []string{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Compute("c", tc.issues)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCheckClosesTrackingOnce(t *testing.T) {
	issues := []coord.IssueMeta{tracking("x-0", "open", "c"), iss("x-1", "closed", "convoy:c"), iss("x-2", "in_progress", "convoy:c")}
	if p, ch := Check(now, "c", issues); p.Complete || ch != nil {
		t.Fatalf("incomplete convoy: %+v %v", p, ch)
	}
	issues[2].Status = "closed"
	p, ch := Check(now, "c", issues)
	if !p.Complete || len(ch) != 2 {
		t.Fatalf("complete convoy: %+v %v", p, ch)
	}
	st, ok := ch[0].(coord.IssueState)
	if !ok || st.ID != "x-0" || st.Status != "closed" || st.ClosedAt == nil || !st.ClosedAt.Equal(now) ||
		st.CloseReason != CloseReason || st.Assignee != "lead" {
		t.Fatalf("close change %+v", ch[0])
	}
	ev, ok := ch[1].(coord.EventAppend)
	if !ok || ev.Event.Kind != EventCompleted || ev.Event.IssueID != "x-0" {
		t.Fatalf("event %+v", ch[1])
	}
	issues[0].Status = "closed"
	if _, ch := Check(now, "c", issues); ch != nil {
		t.Fatalf("already closed tracking issue closed again: %v", ch)
	}
	if _, ch := Check(now, "c", issues[1:]); ch != nil {
		t.Fatalf("changes without a tracking issue: %v", ch)
	}
}

func TestAll(t *testing.T) {
	issues := []coord.IssueMeta{
		iss("x-1", "closed", "convoy:b", "convoy:a"), iss("x-2", "open", "convoy:a"), tracking("x-3", "open", "b"),
		iss("x-4", "open", "convoy:"),
	}
	got := All(issues)
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("convoys %+v", got)
	}
	for _, p := range got {
		if !reflect.DeepEqual(p, Compute(p.Name, issues)) {
			t.Errorf("All and Compute disagree for %s: %+v vs %+v", p.Name, p, Compute(p.Name, issues))
		}
	}
	if !got[1].Complete || got[1].TrackingID != "x-3" || got[0].Percent != 50 {
		t.Fatalf("figures %+v", got)
	}
}

func TestFirstLess(t *testing.T) {
	issues := []coord.IssueMeta{
		{ID: "a", Priority: 0}, {ID: "b", Priority: 3, Labels: []string{"convoy:c"}},
		{ID: "c", Priority: 1}, {ID: "d", Priority: 1, Labels: []string{"convoy:c"}},
	}
	base := func(a, b coord.IssueMeta) bool {
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.ID < b.ID
	}
	labels := func(i coord.IssueMeta) []string { return i.Labels }
	order := func(binding string) string {
		s := append([]coord.IssueMeta(nil), issues...)
		less := FirstLess(binding, labels, base)
		sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
		out := ""
		for _, i := range s {
			out += i.ID
		}
		return out
	}
	cases := map[string]string{"": "acdb", "c": "dbac", "nope": "acdb"}
	for binding, want := range cases {
		if got := order(binding); got != want {
			t.Errorf("binding %q: order %s, want %s", binding, got, want)
		}
	}
	if Rank("c", issues[1].Labels) != 0 || Rank("c", issues[0].Labels) != 1 || Rank("", nil) != 0 {
		t.Error("Rank disagrees with membership")
	}
	if !reflect.DeepEqual(Names([]string{"x", "convoy:a", "convoy:", "convoy:b"}), []string{"a", "b"}) {
		t.Error("Names")
	}
}
