package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

func TestFreshPushesBoundedTakeForget(t *testing.T) {
	var f freshPushes
	for i := range freshMax + 10 {
		f.put(fmt.Sprint(i), json.RawMessage(`{}`), fmt.Sprint("p", i))
	}
	if _, ok := f.take("0"); ok {
		t.Error("the oldest entry is still kept beyond freshMax")
	}
	if p, ok := f.take(fmt.Sprint(freshMax + 9)); !ok || p.prompt != fmt.Sprint("p", freshMax+9) {
		t.Errorf("newest entry = %+v, %v", p, ok)
	}
	if _, ok := f.take(fmt.Sprint(freshMax + 9)); ok {
		t.Error("take did not remove the entry")
	}
	f.forget("20")
	if _, ok := f.take("20"); ok {
		t.Error("forget did not remove the entry")
	}
	if len(f.order) > 2*freshMax {
		t.Errorf("order grew to %d", len(f.order))
	}
}

// TestPushOfNewIssueFollowsLaterEdits creates an issue while no worker is free, edits it, then frees a
// worker: the push must carry the edit (the rendering kept at create is dropped by the edit), and an
// issue created while the worker is idle is pushed with what was created.
func TestPushOfNewIssueFollowsLaterEdits(t *testing.T) {
	h := start(t, nil, nil)
	ctx := context.Background()
	c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Hello(ctx, rpc.HelloParams{Name: "cli", Role: "client", Protocol: 1}); err != nil {
		t.Fatal(err)
	}
	idOf := func(res *rpc.IssueResult) string {
		var is struct{ ID string }
		if err := json.Unmarshal(res.Issue, &is); err != nil || is.ID == "" {
			t.Fatalf("create result %s: %v", res.Issue, err)
		}
		return is.ID
	}
	res, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "first title", Description: "old words"})
	if err != nil {
		t.Fatal(err)
	}
	id := idOf(res)
	title := "second title"
	if _, err := c.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: id, Title: &title}); err != nil {
		t.Fatal(err)
	}
	w := h.worker("w1", 1)
	a := w.next(t, 5*time.Second)
	if a.Lease.IssueID != id || !strings.Contains(string(a.Issue), "second title") || !strings.HasPrefix(a.Prompt, "second title") {
		t.Fatalf("push after an edit: issue %s record %s prompt %q", a.Lease.IssueID, a.Issue, a.Prompt)
	}
	w.complete(t, a)
	res, err = c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "made while idle", Description: "body words"})
	if err != nil {
		t.Fatal(err)
	}
	a = w.next(t, 5*time.Second)
	if a.Lease.IssueID != idOf(res) || !strings.Contains(string(a.Issue), "made while idle") || a.Prompt != "made while idle\n\nbody words" {
		t.Fatalf("push of a new issue: issue %s record %s prompt %q", a.Lease.IssueID, a.Issue, a.Prompt)
	}
}
