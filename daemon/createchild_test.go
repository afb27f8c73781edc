package daemon

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestCreateChild: a create with parent gets bd's next child id (parent.N, after the highest stored and
// after those created just before it, not yet stored) and a parent-child dependency on it; a given id
// keeps the id; a missing parent is refused and creates nothing.
func TestCreateChild(t *testing.T) {
	h := start(t, []string{line("t-1", "epic", 1), line("t-1.4", "older child", 1), line("t-1.4.1", "grandchild", 1)}, nil)
	c := createClient(t, h)
	ctx := context.Background()
	type dep struct {
		DependsOnID string `json:"depends_on_id"`
		Type        string
	}
	create := func(p rpc.IssueCreateParams) (string, []dep) {
		t.Helper()
		res, err := c.IssueCreate(ctx, p)
		if err != nil {
			t.Fatalf("create %+v: %v", p, err)
		}
		var is struct {
			ID   string
			Deps []dep `json:"dependencies"`
		}
		if err := json.Unmarshal(res.Issue, &is); err != nil {
			t.Fatal(err)
		}
		return is.ID, is.Deps
	}
	id, deps := create(rpc.IssueCreateParams{Title: "child", Parent: "t-1"})
	if id != "t-1.5" || len(deps) != 1 || deps[0].DependsOnID != "t-1" || deps[0].Type != "parent-child" {
		t.Fatalf("child of t-1: %s %+v, want t-1.5 with parent-child on t-1", id, deps)
	}
	// several at once on one connection: each its own number
	var wg sync.WaitGroup
	got := make(chan string, 3)
	for range 3 {
		wg.Go(func() {
			res, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "sibling", Parent: "t-1"})
			if err != nil {
				t.Error(err)
				return
			}
			got <- createdID(t, res)
		})
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for id := range got {
		seen[id] = true
	}
	if !seen["t-1.6"] || !seen["t-1.7"] || !seen["t-1.8"] {
		t.Fatalf("concurrent children %v, want t-1.6, t-1.7, t-1.8", seen)
	}
	if id, _ := create(rpc.IssueCreateParams{Title: "named", Parent: "t-1", ID: "t-named"}); id != "t-named" {
		t.Fatalf("child with a given id: %s", id)
	}
	if id, _ := create(rpc.IssueCreateParams{Title: "deeper", Parent: "t-1.4"}); id != "t-1.4.2" {
		t.Fatalf("child of t-1.4: %s, want t-1.4.2", id)
	}
	before := len(h.d.Engine().Ready(0))
	for _, p := range []string{"t-404", "../x"} {
		_, err := c.IssueCreate(ctx, rpc.IssueCreateParams{Title: "orphan", Parent: p})
		if code := coord.ErrorCode(err); code != coord.ENotFound && code != coord.EInvalid {
			t.Fatalf("child of %s: %v, want refused", p, err)
		}
	}
	if n := len(h.d.Engine().Ready(0)); n != before {
		t.Fatalf("ready %d after refused creates, want %d", n, before)
	}
}
