package beads

import (
	"testing"
	"time"
)

func TestIssueViewTolerance(t *testing.T) {
	line := `{"id":"bd-1","title":"T","priority":"1","created_at":"2026-01-11T18:16:13.074821-08:00",` +
		`"updated_at":"2026-01-07T02:53:47.000000Z","started_at":"2026-01-08 10:00:00",` +
		`"dependencies":[{"issue_id":"bd-1","depends_on_id":"bd-2","type":"blocks","created_at":"2026-01-11T18:16:13Z","metadata":{"gate": "all-children"}}],` +
		`"comments":[{"id":13,"issue_id":"bd-1","author":"a","text":"x","created_at":"2026-01-12T02:16:00Z"},` +
		`{"id":"6f1c","issue_id":"bd-1","author":"b","text":"y","created_at":"2026-01-12T02:16:00Z"}],"wisp":true,"extra":[1]}`
	f, err := Parse("f", []byte(line+"\n"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	is, err := f.Records[0].Issue()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"status":    is.Status == "open",
		"type":      is.IssueType == "task",
		"priority":  is.Priority == 1,
		"comment13": is.Comments[0].ID == "13",
		"commentS":  is.Comments[1].ID == "6f1c",
		"metadata":  is.Dependencies[0].Metadata == `{"gate":"all-children"}`,
		"wisp":      is.Ephemeral,
		"created":   is.CreatedAt.Equal(time.Date(2026, 1, 12, 2, 16, 13, 74821000, time.UTC)),
		"updated":   is.UpdatedAt.Equal(time.Date(2026, 1, 7, 2, 53, 47, 0, time.UTC)),
		"started":   is.StartedAt != nil && is.StartedAt.Equal(time.Date(2026, 1, 8, 10, 0, 0, 0, time.UTC)),
		"closed":    is.ClosedAt == nil,
	}
	for k, ok := range want {
		if !ok.(bool) {
			t.Errorf("%s wrong: %+v", k, is)
		}
	}
	// The view is a copy: editing it leaves the record's cache alone.
	is.Comments[0].Text = "changed"
	again, _ := f.Records[0].Issue()
	if again.Comments[0].Text != "x" {
		t.Fatal("Issue() returned shared slices")
	}
}

func TestIssueViewRejectsBadTimestamp(t *testing.T) {
	f, err := Parse("f", []byte(`{"id":"a","title":"t","created_at":"yesterday"}`+"\n"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Records[0].Issue(); err == nil {
		t.Fatal("want an error for an unreadable timestamp")
	}
}
