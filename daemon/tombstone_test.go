package daemon

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestTombstonesStayDeleted: bd never brings a deleted issue back, so gtc refuses to change a tombstone
// (an update to open put it back in the ready queue; a close rewrote it as closed with its deleted_at)
// or to put it in a convoy (which then never completed) or depend on it (it never blocks); a convoy of
// no issue is refused too. A close
// stamps closed_at and updated_at with one instant, as bd does.
func TestTombstonesStayDeleted(t *testing.T) {
	tomb := strings.Replace(line("t-gone", "deleted", 1), `"status":"open"`, `"status":"tombstone","deleted_at":"2026-01-02T03:04:05Z"`, 1)
	old := strings.Replace(line("t-old", "waits on a deleted one", 3, "t-gone"), `"status":"open"`, `"status":"deferred"`, 1)
	h := start(t, []string{tomb, line("t-live", "alive", 2), old}, nil)
	ctx := context.Background()
	c, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
	open := "open"
	if _, err := c.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "t-gone", Status: &open}); coord.ErrorCode(err) != coord.EConflict {
		t.Errorf("update of a tombstone to open: %v, want conflict", err)
	}
	r, err := c.IssueClose(ctx, rpc.IssueCloseParams{ID: "t-gone", Reason: "x"})
	if coord.ErrorCode(err) != coord.EConflict {
		t.Errorf("close of a tombstone: %v, want conflict", err)
	}
	if _, err := c.IssueLabelAdd(ctx, rpc.IssueLabelParams{ID: "t-gone", Label: "x"}); coord.ErrorCode(err) != coord.EConflict {
		t.Errorf("label on a tombstone: %v, want conflict", err)
	}
	if _, err := c.ConvoyCreate(ctx, rpc.ConvoyCreateParams{Name: "alpha", IssueIDs: []string{"t-live", "t-gone"}}); coord.ErrorCode(err) != coord.EConflict {
		t.Errorf("convoy with a tombstone: %v, want conflict", err)
	}
	if _, err := c.ConvoyCreate(ctx, rpc.ConvoyCreateParams{Name: "empty"}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("convoy of no issue: %v, want invalid", err)
	}
	// a dependency on a tombstone would never hold anything back: refused as invalid
	if _, err := c.IssueDepAdd(ctx, rpc.IssueDepParams{ID: "t-live", DependsOn: "t-gone"}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("dependency on a tombstone: %v, want invalid", err)
	}
	if _, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "after", Deps: []rpc.DepSpec{{ID: "t-gone", Type: "blocks"}}}); coord.ErrorCode(err) != coord.EInvalid {
		t.Errorf("create depending on a tombstone: %v, want invalid", err)
	}
	// an edge to a tombstone the file holds already does not stop other changes of its issue
	if _, err := c.IssueDepAdd(ctx, rpc.IssueDepParams{ID: "t-old", DependsOn: "t-live", Type: "related"}); err != nil {
		t.Errorf("change of an issue with an edge to a tombstone: %v", err)
	}
	if ids := h.d.Engine().Ready(0); len(ids) != 1 || ids[0] != "t-live" {
		t.Errorf("ready %v, want t-live alone", ids)
	}
	r, err = c.IssueClose(ctx, rpc.IssueCloseParams{ID: "t-live", Reason: "done"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ClosedAt  time.Time `json:"closed_at"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	if err := json.Unmarshal(r.Issue, &got); err != nil || got.ClosedAt.IsZero() || !got.ClosedAt.Equal(got.UpdatedAt) {
		t.Errorf("close: closed_at %v, updated_at %v (%v), want one instant", got.ClosedAt, got.UpdatedAt, err)
	}
}
