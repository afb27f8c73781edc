package rpc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// assignIssue is an issue record the size and shape of a beads line (escapes, nesting, numbers).
const assignIssue = `{"id":"gt-4k2x9","title":"Review \u0026 merge: render markdown in comments","description":"dispatched_by: crew/emma\n\nApply RenderMarkdown() to comment text.\n\n## Changes\n- cmd/show.go\n- cmd/comments.go\n\n## Checklist\n- [ ] run go test ./...\n- [ ] verify \u003cpre\u003e blocks","status":"open","priority":2,"issue_type":"task","assignee":"","owner":"lead@example.com","created_at":"2026-01-12T02:14:20Z","created_by":"crew/emma","updated_at":"2026-01-12T02:17:40Z","labels":["ui","review"],"dependencies":[{"issue_id":"gt-4k2x9","depends_on_id":"gt-1aa","type":"blocks","created_at":"2026-01-11T10:00:00Z"}],"comments":[{"id":1,"author":"crew/giles","text":"Testing:\n\n` + "```go\\nfunc hello() {}\\n```" + `","created_at":"2026-01-12T02:16:51Z"}],"x_unknown":{"k":[1,2.50,"z",null,true]}}`

// assignSeeds returns params exactly as the server writes them (assignParams) for several leases.
func assignSeeds(t testing.TB) [][]byte {
	t.Helper()
	base := time.Date(2026, 11, 26, 9, 58, 35, 123456789, time.UTC)
	ended := base.Add(time.Hour)
	east := time.FixedZone("", 5*3600+30*60)
	endedEast := base.In(east)
	leases := []coord.Lease{
		{ID: "l-1", IssueID: "gt-4k2x9", Worker: "w-001", Epoch: 1, State: coord.LeasePushed, Attempt: 1,
			CreatedAt: base, AckDeadline: base.Add(30 * time.Second), Deadline: base.Add(5 * time.Minute)},
		{ID: "l-2", IssueID: "gt-2", Worker: "agent/émilie ✓", Epoch: 1 << 40, State: coord.LeaseAcked, Attempt: 3,
			CreatedAt: base.Truncate(time.Second), AckDeadline: base.In(east), Deadline: base.Add(-time.Hour).In(time.FixedZone("x", -7*3600)),
			Progress: "50% <done> & \"quoted\"\n\ttab"},
		{ID: "l-\u2028\x01", IssueID: "gt-\"3\\", Worker: "w\xff", Epoch: -5, State: coord.LeaseEnded, Attempt: 0,
			EndedAt: &ended, Outcome: "failure", Error: "exit 1: <stderr>\u2029", Progress: "p"},
		{ID: "l-4", IssueID: "gt-4", Worker: "w", State: "odd-state", Attempt: 2, EndedAt: &endedEast, Outcome: "success"},
		{ID: "l-5", IssueID: "gt-5", Worker: "alice", Epoch: 5, State: coord.LeasePushed, Attempt: 1, CreatedAt: base, Reserved: true},
		{},
	}
	issues := []json.RawMessage{json.RawMessage(assignIssue), nil, json.RawMessage(`{"id":"gt-2","n":{"a":[[{}],[]],"b":-1.5e3}}`),
		json.RawMessage(`"a string"`), json.RawMessage(`[1,2]`)}
	prompts := []string{"Work on gt-4k2x9.\nRun the tests; commit.", "", "naïve \u2028 <script>&amp; \"q\" \\ \x00", "日本語のプロンプト", "x"}
	var out [][]byte
	for i, l := range leases {
		p, err := assignParams(&AssignPayload{Lease: l, Issue: issues[i%len(issues)], Prompt: prompts[i%len(prompts)]})
		if err != nil {
			t.Fatalf("assignParams %d: %v", i, err)
		}
		out = append(out, p)
	}
	return out
}

// checkDecodeAssignment compares decodeAssignment with json.Unmarshal on one input.
func checkDecodeAssignment(t *testing.T, in []byte) {
	t.Helper()
	var want Assignment
	werr := json.Unmarshal(in, &want)
	got, gerr := decodeAssignment(in)
	if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
		t.Fatalf("%q: error %v, json.Unmarshal %v", in, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, got, want)
	}
	for _, p := range [][2]*time.Time{{&got.Lease.CreatedAt, &want.Lease.CreatedAt}, {&got.Lease.AckDeadline, &want.Lease.AckDeadline},
		{&got.Lease.Deadline, &want.Lease.Deadline}, {got.Lease.EndedAt, want.Lease.EndedAt}} {
		if p[0] != nil && (!p[0].Equal(*p[1]) || p[0].Location().String() != p[1].Location().String()) {
			t.Fatalf("%q: time %v, json.Unmarshal %v", in, *p[0], *p[1])
		}
	}
}

// oddAssignInputs are inputs the fast path must leave to json.Unmarshal or decode identically.
var oddAssignInputs = []string{
	``, ` `, `null`, ` null `, `[]`, `"x"`, `1`, `{}`, ` { } `, `{"lease":{}}`, `{"lease":null}`, `{"issue":null}`,
	`{"issue":  null  ,"prompt":"p"}`, `{"issue":{"a":[1,{"b":null}]} , "lease" : { "id" : "x" } }`,
	`{"Lease":{"id":"x"}}`, `{"LEASE":{}}`, `{"prompT":"p"}`, `{"\u006cease":{"id":"x"}}`, `{"ſ":1}`,
	`{"lease":{"ID":"x"}}`, `{"lease":{"Issue_ID":"x"}}`, `{"lease":{"\u0069d":"x"}}`, `{"lease":{"unknown":1}}`,
	`{"lease":{"id":"a","id":"b"}}`, `{"lease":{"id":"a"},"lease":{"worker":"w"}}`, `{"prompt":"a","prompt":"b"}`,
	`{"issue":1,"issue":2}`, `{"lease":{"id":null}}`, `{"lease":{"epoch":null}}`, `{"lease":{"ended_at":null}}`,
	`{"lease":{"created_at":null}}`, `{"prompt":null}`, `{"lease":{"id":1}}`, `{"lease":{"epoch":"1"}}`,
	`{"lease":{"epoch":1.0}}`, `{"lease":{"epoch":1e3}}`, `{"lease":{"epoch":-0}}`, `{"lease":{"epoch":01}}`,
	`{"lease":{"epoch":9223372036854775807}}`, `{"lease":{"epoch":9223372036854775808}}`, `{"lease":{"attempt":-9223372036854775808}}`,
	`{"lease":{"attempt":true}}`, `{"lease":{"reserved":true}}`, `{"lease":{"reserved":false}}`, `{"lease":{"reserved":1}}`,
	`{"lease":{"reserved":null}}`, `{"lease":{"reserved":truex}}`, `{"lease":{"reserved":"true"}}`, `{"lease":{"reserved":fals}}`, `{"lease":{"state":"acked"}}`, `{"lease":{"state":"ack\u0065d"}}`, `{"lease":{"state":"pushed "}}`,
	`{"lease":{"state":7}}`, `{"lease":{"state":"pushed`, `{"lease":{"created_at":"2026-01-12T02:14:20Z"}}`,
	`{"lease":{"created_at":"2026-01-12T02:14:20.5+05:30"}}`, `{"lease":{"created_at":"2026-01-12t02:14:20z"}}`,
	`{"lease":{"created_at":"2026-01-12T02:14:20\u005a"}}`, `{"lease":{"created_at":"2026-01-12 02:14:20Z"}}`,
	`{"lease":{"created_at":"2026-01-12T24:00:00Z"}}`, `{"lease":{"created_at":"2026-01-12T02:14:20+24:00"}}`,
	`{"lease":{"created_at":"0000-01-01T00:00:00Z"}}`, `{"lease":{"created_at":"2026-01-12T02:14:20.Z"}}`,
	`{"lease":{"created_at":""}}`, `{"lease":{"created_at":1}}`, `{"lease":{"ended_at":"2026-01-12T02:14:20-00:00"}}`,
	`{"lease":{"ended_at":"bad"}}`, `{"lease":{"deadline":"2026-02-30T00:00:00Z"}}`, `{"prompt":"\ud800"}`, "{\"prompt\":\"\xff\xfe\"}",
	`{"prompt":"a\u0000b\nc"}`, "{\"prompt\":\"a\x01\"}", `{"prompt":"\x"}`, `{"prompt":1}`, `{"issue":}`, `{"issue":[1,]}`,
	`{"issue":tru}`, `{"issue":{"a":1}`, `{"issue":{"a":1}}}`, `{"issue":{"a":1}} x`, `{"issue":{"a":1}},`, `{,}`,
	`{"lease":{},}`, `{"lease":{"id":"x",}}`, `{"lease" {}}`, `{"lease":{"id" "x"}}`, "\t{\"lease\":{\"id\":\"x\"}}\r\n",
	`{"issue":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"issue":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
}

func TestDecodeAssignmentMatchesStd(t *testing.T) {
	for _, in := range assignSeeds(t) {
		checkDecodeAssignment(t, in)
	}
	for _, in := range oddAssignInputs {
		checkDecodeAssignment(t, []byte(in))
	}
}

// TestDecodeAssignmentFastPathTaken holds the fast path to the server's real output: no fallback.
func TestDecodeAssignmentFastPathTaken(t *testing.T) {
	for _, in := range assignSeeds(t) {
		var a Assignment
		if !decodeAssignmentFast(in, &a) {
			t.Fatalf("fast path refused the server's output %q", in)
		}
		var want Assignment
		if err := json.Unmarshal(in, &want); err != nil || !reflect.DeepEqual(a, want) {
			t.Fatalf("%q: fast %#v, json.Unmarshal %#v (%v)", in, a, want, err)
		}
	}
	// and it refuses what it must leave to encoding/json
	for _, in := range []string{`{"Lease":{}}`, `{"lease":{"id":null}}`, `{"lease":{"id":"a","id":"b"}}`, `null`} {
		var a Assignment
		if decodeAssignmentFast([]byte(in), &a) {
			t.Fatalf("fast path took %q", in)
		}
	}
}

func FuzzDecodeAssignment(f *testing.F) {
	for _, in := range assignSeeds(f) {
		f.Add(in)
	}
	for _, in := range oddAssignInputs {
		if len(in) < 1000 {
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecodeAssignment(t, in)
	})
}

func BenchmarkDecodeAssignment(b *testing.B) {
	in := assignSeeds(b)[0]
	b.Run("std", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			var a Assignment
			if err := json.Unmarshal(in, &a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := decodeAssignment(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
