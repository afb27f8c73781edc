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
// or to put it in a convoy (which then never completed); a convoy of no issue is refused too. A close
// stamps closed_at and updated_at with one instant, as bd does.
func TestTombstonesStayDeleted(t *testing.T) {
	tomb := strings.Replace(line("t-gone", "deleted", 1), `"status":"open"`, `"status":"tombstone","deleted_at":"2026-01-02T03:04:05Z"`, 1)
	h := start(t, []string{tomb, line("t-live", "alive", 2)}, nil)
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
