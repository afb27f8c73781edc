package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestIssueEditsValidateAndKeepIDs: dep.remove without a type removes the blocks edge only (the
// documented default), a new comment's id follows the largest one (ids with gaps do not collide),
// label.remove trims like label.add, a dependency type is at most 50 characters, and a create's
// repeated dependency is one edge.
func TestIssueEditsValidateAndKeepIDs(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 2)}, nil)
	ctx := context.Background()
	eventually(t, 5*time.Second, "the issues imported", func() bool { _, _, err := h.d.db.GetIssue(ctx, "t-2"); return err == nil })
	s := h.d.issues
	for _, typ := range []string{"blocks", "related"} {
		if _, err := s.depAdd(ctx, rpc.IssueDepParams{ID: "t-1", DependsOn: "t-2", Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.depRemove(ctx, rpc.IssueDepParams{ID: "t-1", DependsOn: "t-2"}); err != nil {
		t.Fatal(err)
	}
	is, _, _ := h.d.db.GetIssue(ctx, "t-1")
	if len(is.Dependencies) != 1 || is.Dependencies[0].Type != "related" {
		t.Errorf("after dep.remove without a type: %+v, want the related edge kept", is.Dependencies)
	}
	if _, err := s.depAdd(ctx, rpc.IssueDepParams{ID: "t-1", DependsOn: "t-2", Type: strings.Repeat("x", 51)}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("a 51-character dependency type: %v, want invalid", err)
	}

	for _, text := range []string{"first", "second"} {
		if _, err := s.comment(ctx, "w", rpc.IssueCommentParams{ID: "t-2", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.modify(ctx, "t-2", false, "", func(is *beads.Issue) error { is.Comments = is.Comments[1:]; return nil }); err != nil {
		t.Fatal(err) // only comment 2 left
	}
	if _, err := s.comment(ctx, "w", rpc.IssueCommentParams{ID: "t-2", Text: "third"}); err != nil {
		t.Fatal(err)
	}
	is, _, _ = h.d.db.GetIssue(ctx, "t-2")
	if ids := []string{is.Comments[0].ID, is.Comments[1].ID}; ids[0] == ids[1] {
		t.Errorf("comment ids %v collide", ids)
	}

	if _, err := s.labelAdd(ctx, rpc.IssueLabelParams{ID: "t-2", Label: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.labelRemove(ctx, rpc.IssueLabelParams{ID: "t-2", Label: " x "}); err != nil {
		t.Errorf("label.remove of \" x \": %v, want it trimmed like label.add", err)
	}

	r, err := s.create(ctx, rpc.IssueCreateParams{ID: "t-3", Title: "three", Deps: []rpc.DepSpec{{ID: "t-1"}, {ID: "t-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(r.Issue), `"depends_on_id":"t-1"`); n != 1 {
		t.Errorf("create with a repeated dependency stored it %d times: %s", n, r.Issue)
	}
}

// TestDependencyCycleRefused: a dependency that would close a cycle of blocking edges is refused
// (-32002 conflict, as documented) instead of leaving the issues blocked on each other for good;
// a related edge back is not blocking, and is accepted.
func TestDependencyCycleRefused(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1), line("t-2", "two", 2), line("t-3", "three", 3)}, nil)
	ctx := context.Background()
	eventually(t, 5*time.Second, "the issues imported", func() bool { _, _, err := h.d.db.GetIssue(ctx, "t-3"); return err == nil })
	s := h.d.issues
	for _, p := range []rpc.IssueDepParams{{ID: "t-1", DependsOn: "t-2"}, {ID: "t-2", DependsOn: "t-3", Type: "parent-child"}} {
		if _, err := s.depAdd(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.depAdd(ctx, rpc.IssueDepParams{ID: "t-3", DependsOn: "t-1"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("t-3 -> t-1 closing a cycle: %v, want a conflict", err)
	}
	if _, err := s.depAdd(ctx, rpc.IssueDepParams{ID: "t-3", DependsOn: "t-1", Type: "related"}); err != nil {
		t.Fatalf("a related edge back: %v", err)
	}
	if _, err := s.create(ctx, rpc.IssueCreateParams{ID: "t-4", Title: "four", Deps: []rpc.DepSpec{{ID: "t-1"}}}); err != nil {
		t.Fatal(err)
	}
	if st := h.d.Engine().Status(); st.Issues.Ready == 0 {
		t.Errorf("no issue ready: %+v", st.Issues)
	}
}

// TestDeadLetterLabelNotEditable: label.add and label.remove of the scheduler's dead-letter label are
// refused (invalid) instead of answering success and being undone.
func TestDeadLetterLabelNotEditable(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	ctx := context.Background()
	eventually(t, 5*time.Second, "the issue imported", func() bool { _, _, err := h.d.db.GetIssue(ctx, "t-1"); return err == nil })
	if _, err := h.d.issues.labelAdd(ctx, rpc.IssueLabelParams{ID: "t-1", Label: "gtc:failed"}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("label.add gtc:failed: %v, want invalid", err)
	}
	if _, err := h.d.issues.labelRemove(ctx, rpc.IssueLabelParams{ID: "t-1", Label: "gtc:failed"}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("label.remove gtc:failed: %v, want invalid", err)
	}
}

// TestUpdateStatusKnown: issue.update takes bd's statuses, the configured custom ones (HEAD's
// name:category form too) and any status an issue already has, and refuses a typo with invalid_params
// instead of storing a status bd does not know.
func TestUpdateStatusKnown(t *testing.T) {
	custom := strings.Replace(line("t-9", "nine", 2), `"status":"open"`, `"status":"review"`, 1)
	h := start(t, []string{line("t-1", "one", 1), custom}, func(c *Config) {
		c.CustomStatuses = []string{"qa:wip"}
		c.Coord.CodeCompleteStatus = "code_complete"
	})
	ctx := context.Background()
	eventually(t, 5*time.Second, "the issues imported", func() bool { _, _, err := h.d.db.GetIssue(ctx, "t-9"); return err == nil })
	for _, tc := range []struct {
		status string
		ok     bool
	}{
		{"deferred", true}, {"pinned", true}, {"open", true},
		{"qa", true},            // configured, category stripped
		{"code_complete", true}, // the scheduler's own
		{"review", true},        // an issue in the file has it
		{"cloesd", false}, {"qa:wip", false},
	} {
		_, err := h.d.issues.update(ctx, "test", rpc.IssueUpdateParams{ID: "t-1", Status: &tc.status})
		if tc.ok && err != nil {
			t.Errorf("status %q: %v, want accepted", tc.status, err)
		}
		if !tc.ok && (coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), "--custom-status")) {
			t.Errorf("status %q: %v, want invalid naming --custom-status", tc.status, err)
		}
	}
	is, _, _ := h.d.db.GetIssue(ctx, "t-1")
	if is.Status != "review" {
		t.Errorf("status after the refused typos: %q, want review (the last accepted)", is.Status)
	}
}

// TestIssueTypeKnown: issue.create and issue.update take bd's and Gas Town's types, the configured custom
// ones and any type an issue already has, and refuse a typo with invalid_params.
func TestIssueTypeKnown(t *testing.T) {
	custom := strings.Replace(line("t-9", "nine", 2), `"issue_type":"task"`, `"issue_type":"incident"`, 1)
	h := start(t, []string{line("t-1", "one", 1), custom}, func(c *Config) { c.CustomTypes = []string{"research"} })
	ctx := context.Background()
	eventually(t, 5*time.Second, "the issues imported", func() bool { _, _, err := h.d.db.GetIssue(ctx, "t-9"); return err == nil })
	for i, tc := range []struct {
		typ string
		ok  bool
	}{
		{"", true}, {"bug", true}, {"merge-request", true}, {"research", true}, {"incident", true},
		{"taks", false}, {"feat ure", false},
	} {
		_, err := h.d.issues.create(ctx, rpc.IssueCreateParams{ID: fmt.Sprintf("n-%d", i), Title: "typed", Type: tc.typ})
		if tc.ok && err != nil {
			t.Errorf("create --type %q: %v, want accepted", tc.typ, err)
		}
		if !tc.ok && (coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), "--custom-type")) {
			t.Errorf("create --type %q: %v, want invalid naming --custom-type", tc.typ, err)
		}
		typ := tc.typ
		_, err = h.d.issues.update(ctx, "test", rpc.IssueUpdateParams{ID: "t-1", Type: &typ})
		if tc.ok != (err == nil) {
			t.Errorf("update --type %q: %v, want ok=%v", tc.typ, err, tc.ok)
		}
	}
}
