package beads

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestApplyUnchangedIsIdentity applies every record's own view back: no byte may change.
func TestApplyUnchangedIsIdentity(t *testing.T) {
	for _, c := range corpora {
		t.Run(c.name, func(t *testing.T) {
			f, data := parseCorpus(t, c.name)
			for _, r := range f.Issues() {
				is, err := r.Issue()
				if err != nil {
					t.Fatal(err)
				}
				before := string(r.Raw())
				changed, err := r.Apply(is, f.Profile)
				if err != nil {
					t.Fatal(err)
				}
				if changed || string(r.Raw()) != before {
					t.Fatalf("line %d changed:\n%s\n%s", r.Line, before, r.Raw())
				}
			}
			if !bytes.Equal(f.Bytes(), data) {
				t.Fatal("file changed")
			}
		})
	}
}

func diffLines(a, b []byte) []int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var out []int
	for i := range max(len(al), len(bl)) {
		if i >= len(al) || i >= len(bl) || al[i] != bl[i] {
			out = append(out, i+1)
		}
	}
	return out
}

// TestApplyClaimChangesOnlyThoseValues changes status and assignee of one record of each corpus.
func TestApplyClaimChangesOnlyThoseValues(t *testing.T) {
	tests := []struct {
		corpus, id string
		want       func(old string) string
	}{
		{"beads_sqlite-era_669ea406.jsonl", "bd-x9zf9", func(old string) string {
			return strings.Replace(old, `"status":"open","priority":1,"issue_type":"task",`,
				`"status":"in_progress","priority":1,"issue_type":"task","assignee":"gtc/w\u003c1\u003e",`, 1)
		}},
		{"beads_dolt-v0.49_051aeb0a.jsonl", "bd-1hc40", func(old string) string {
			return strings.Replace(old, `"status":"closed","priority":1,"issue_type":"task",`,
				`"status":"in_progress","priority":1,"issue_type":"task","assignee":"gtc/w\u003c1\u003e",`, 1)
		}},
		{"reframe2_v1-typed_15159adb.jsonl", "rf2-goxn", func(old string) string {
			return strings.Replace(old, `"status":"closed","priority":3,"issue_type":"task",`,
				`"status":"in_progress","priority":3,"issue_type":"task","assignee":"gtc/w\u003c1\u003e",`, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.corpus, func(t *testing.T) {
			f, data := parseCorpus(t, tt.corpus)
			r := f.Get(tt.id)
			if r == nil {
				t.Fatalf("no %s", tt.id)
			}
			old := string(r.Raw())
			is, _ := r.Issue()
			is.Status = "in_progress"
			if is.Assignee == "" {
				is.Assignee = "gtc/w<1>"
			}
			changed, err := r.Apply(is, f.Profile)
			if err != nil || !changed {
				t.Fatalf("changed=%v err=%v", changed, err)
			}
			if got, want := string(r.Raw()), tt.want(old); got != want {
				t.Fatalf("line:\n got %s\nwant %s", got, want)
			}
			if d := diffLines(data, f.Bytes()); len(d) != 1 || d[0] != r.Line {
				t.Fatalf("changed lines %v, want only %d", d, r.Line)
			}
		})
	}
}

func mustRecord(t *testing.T, line string) (*File, *Record) {
	t.Helper()
	f, err := Parse("f", []byte(line+"\n"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f, f.Records[0]
}

func TestApplyFieldRules(t *testing.T) {
	const classic = `{"id":"a-1","title":"T","description":"d","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-11T18:16:13.074821-08:00","updated_at":"2026-01-11T18:16:13.074821-08:00","labels":["x"],"dependencies":[{"issue_id":"a-1","depends_on_id":"a-0","type":"blocks","created_at":"2026-01-11T18:16:13.1-08:00","created_by":"me","thread_id":"t1"}],"zzz_unknown":{"k":[1,2]}}`
	at := time.Date(2026, 2, 3, 4, 5, 6, 700000000, time.UTC)
	tests := []struct {
		name string
		edit func(*Issue)
		want func(string) string
	}{
		{"description emptied removes key", func(is *Issue) { is.Description = "" },
			func(s string) string { return strings.Replace(s, `"description":"d",`, "", 1) }},
		{"priority 0 kept", func(is *Issue) { is.Priority = 0 },
			func(s string) string { return strings.Replace(s, `"priority":2`, `"priority":0`, 1) }},
		{"same instant other zone keeps spelling", func(is *Issue) { is.UpdatedAt = is.UpdatedAt.UTC() },
			func(s string) string { return s }},
		{"label order irrelevant", func(is *Issue) { is.Labels = []string{"x", "x"} },
			func(s string) string { return s }},
		{"labels sorted", func(is *Issue) { is.Labels = []string{"z", "b&c"} },
			func(s string) string { return strings.Replace(s, `["x"]`, `["b\u0026c","z"]`, 1) }},
		{"close inserts at struct position", func(is *Issue) {
			is.Status, is.ClosedAt, is.CloseReason = "closed", &at, "done"
		}, func(s string) string {
			s = strings.Replace(s, `"status":"open"`, `"status":"closed"`, 1)
			return strings.Replace(s, `-08:00","labels"`, `-08:00","closed_at":"`+at.Local().Format(time.RFC3339Nano)+`","close_reason":"done","labels"`, 1)
		}},
		{"dependency added keeps the existing one verbatim", func(is *Issue) {
			is.Dependencies = append(is.Dependencies, Dependency{IssueID: "a-1", DependsOnID: "a-9", Type: "related", CreatedAt: at})
		}, func(s string) string {
			return strings.Replace(s, `"thread_id":"t1"}]`, `"thread_id":"t1"},{"issue_id":"a-1","depends_on_id":"a-9","type":"related","created_at":"`+at.Local().Format(time.RFC3339Nano)+`"}]`, 1)
		}},
		{"dependency removed", func(is *Issue) { is.Dependencies = nil },
			func(s string) string {
				i := strings.Index(s, `,"dependencies"`)
				j := strings.Index(s, `,"zzz_unknown"`)
				return s[:i] + s[j:]
			}},
		{"comment added with html escaping", func(is *Issue) {
			is.Comments = []Comment{{ID: "7", IssueID: "a-1", Author: "w", Text: "a<b>\u2028", CreatedAt: at}}
		}, func(s string) string {
			return strings.Replace(s, `"thread_id":"t1"}]`, `"thread_id":"t1"}],"comments":[{"id":7,"issue_id":"a-1","author":"w","text":"a\u003cb\u003e\u2028","created_at":"`+at.Local().Format(time.RFC3339Nano)+`"}]`, 1)
		}},
		{"ephemeral and pinned", func(is *Issue) { is.Ephemeral, is.Pinned = true, true },
			func(s string) string {
				return strings.Replace(s, `,"zzz_unknown"`, `,"ephemeral":true,"pinned":true,"zzz_unknown"`, 1)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := mustRecord(t, classic)
			is, _ := r.Issue()
			tt.edit(&is)
			if _, err := r.Apply(is, Classic); err != nil {
				t.Fatal(err)
			}
			if got, want := string(r.Raw()), tt.want(classic); got != want {
				t.Fatalf("\n got %s\nwant %s", got, want)
			}
			// The patched bytes read back as the applied view.
			back, err := r.Issue()
			if err != nil {
				t.Fatal(err)
			}
			if changed, _ := r.Apply(back, Classic); changed {
				t.Fatal("re-applying the read-back view changed bytes")
			}
		})
	}
}

func TestApplyModernClaim(t *testing.T) {
	const line = `{"_type":"issue","id":"m-1","title":"T","status":"open","priority":1,"issue_type":"task","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-09T06:10:55Z","dependencies":[{"issue_id":"m-1","depends_on_id":"m-0","type":"blocks","created_at":"2026-05-09T06:10:55Z","metadata":"{}"}],"dependency_count":1,"dependent_count":4,"comment_count":0}`
	_, r := mustRecord(t, line)
	is, _ := r.Issue()
	now := time.Date(2026, 5, 10, 1, 2, 3, 999999999, time.FixedZone("x", 3600))
	is.Status, is.Assignee, is.UpdatedAt, is.StartedAt = "in_progress", "w1", now, &now
	is.Dependencies = append(is.Dependencies, Dependency{IssueID: "m-1", DependsOnID: "m-5", Type: "blocks", CreatedAt: now})
	if _, err := r.Apply(is, ModernTyped); err != nil {
		t.Fatal(err)
	}
	want := `{"_type":"issue","id":"m-1","title":"T","status":"in_progress","priority":1,"issue_type":"task","assignee":"w1","created_at":"2026-05-09T06:10:55Z","updated_at":"2026-05-10T00:02:03Z","started_at":"2026-05-10T00:02:03Z","dependencies":[{"issue_id":"m-1","depends_on_id":"m-0","type":"blocks","created_at":"2026-05-09T06:10:55Z","metadata":"{}"},{"issue_id":"m-1","depends_on_id":"m-5","type":"blocks","created_at":"2026-05-10T00:02:03Z","metadata":"{}"}],"dependency_count":2,"dependent_count":4,"comment_count":0}`
	if got := string(r.Raw()); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

// TestNewRecordIsBdsWriter rebuilds every corpus line that holds only managed keys and compares bytes.
func TestNewRecordIsBdsWriter(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	managed := map[string]bool{}
	for _, k := range strings.Fields(`_type id title description design acceptance_criteria notes status priority
issue_type assignee owner created_at created_by updated_at started_at closed_at close_reason defer_until labels
dependencies comments pinned ephemeral deleted_at dependency_count dependent_count comment_count`) {
		managed[k] = true
	}
	tests := []struct {
		corpus string
		loc    *time.Location
		min    int
	}{
		{"beads_sqlite-era_669ea406.jsonl", la, 1000},
		{"beads_dolt-v0.49_051aeb0a.jsonl", time.UTC, 50},
		{"reframe2_v1-typed_15159adb.jsonl", time.UTC, 1000},
		{"beads_v1.0-noType_HEAD-root_fbcee6c6.jsonl", time.UTC, 1},
	}
	saved := time.Local
	defer func() { time.Local = saved }()
	for _, tt := range tests {
		t.Run(tt.corpus, func(t *testing.T) {
			time.Local = tt.loc
			f, _ := parseCorpus(t, tt.corpus)
			n := 0
		next:
			for _, r := range f.Issues() {
				ms, _ := r.scan()
				for _, m := range ms {
					if !managed[m.key] || (m.key == "dependent_count" && string(r.value(m.key)) != "0") {
						continue next
					}
				}
				is, _ := r.Issue()
				if is.Status == "tombstone" && f.Profile.Modern() {
					continue
				}
				nr, err := NewRecord(is, f.Profile)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(nr.Raw(), r.Raw()) {
					// Classic lines may mix zones (imported comments in Z): only count exact rebuilds.
					if f.Profile.Modern() {
						t.Fatalf("line %d:\n got %s\nwant %s", r.Line, nr.Raw(), r.Raw())
					}
					continue
				}
				n++
			}
			if n < tt.min {
				t.Fatalf("only %d lines rebuilt byte for byte, want ≥ %d", n, tt.min)
			}
			t.Logf("%d lines rebuilt byte for byte", n)
		})
	}
}

func TestApplyLegacyWispKey(t *testing.T) {
	const line = `{"id":"w-1","title":"T","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","wisp":true}`
	_, r := mustRecord(t, line)
	is, _ := r.Issue()
	if !is.Ephemeral {
		t.Fatal("wisp not read as ephemeral")
	}
	if changed, _ := r.Apply(is, Classic); changed {
		t.Fatal("unchanged view changed bytes")
	}
	is.Ephemeral = false
	if _, err := r.Apply(is, Classic); err != nil {
		t.Fatal(err)
	}
	if got, want := string(r.Raw()), strings.Replace(line, `,"wisp":true`, "", 1); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestApplyForeignWriterLines(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"legacy merge-driver order",
			`{"id":"g-1","title":"T","description":"d","notes":"n","status":"open","priority":2,"issue_type":"task","created_at":"2026-01-07T02:53:47.000000Z","updated_at":"2026-01-07T02:53:47.000000Z","created_by":"x"}`,
			`{"id":"g-1","title":"T","description":"d","notes":"n","status":"hooked","priority":2,"issue_type":"task","assignee":"gastown/polecats/nux","created_at":"2026-01-07T02:53:47.000000Z","updated_at":"2026-01-07T02:53:47.000000Z","created_by":"x"}`},
		{"spaces and reversed keys",
			`{ "updated_at" : "2026-01-07T02:53:47Z", "title" : "T", "id" : "g-1" }`,
			`{ "updated_at" : "2026-01-07T02:53:47Z","title" : "T","id" : "g-1","status":"hooked","assignee":"gastown/polecats/nux" }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := mustRecord(t, tt.line)
			is, err := r.Issue()
			if err != nil {
				t.Fatal(err)
			}
			is.Status, is.Assignee = "hooked", "gastown/polecats/nux"
			if _, err := r.Apply(is, Classic); err != nil {
				t.Fatal(err)
			}
			if got := string(r.Raw()); got != tt.want {
				t.Fatalf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
