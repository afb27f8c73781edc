package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// TestFreshPushesEvictsOldestUnderFlow: issues that wait unpushed while thousands of others are created
// and pushed stay evictable (each kept entry keeps its place in the order), so a later burst of creates
// still has its renderings kept, and the order stays bounded.
func TestFreshPushesEvictsOldestUnderFlow(t *testing.T) {
	var f freshPushes
	for round := range 3 {
		for i := range 341 {
			f.put(fmt.Sprint("wait-", round, "-", i), json.RawMessage(`{}`), "waiting") // nobody takes these yet
		}
		for i := range 3 * freshMax {
			id := fmt.Sprint("flow-", round, "-", i)
			f.put(id, json.RawMessage(`{}`), "p")
			f.take(id)
		}
		f.put(fmt.Sprint("wait-", round, "-0"), json.RawMessage(`{}`), "put again") // a second put of one id
	}
	live := map[string]bool{}
	for _, r := range f.order {
		if e, ok := f.byID[r.id]; ok && e.seq == r.seq {
			live[r.id] = true
		}
	}
	if len(live) != len(f.byID) {
		t.Errorf("%d kept entries, %d of them with a place in the order: the rest can never be dropped", len(f.byID), len(live))
	}
	if len(f.order) > 2*freshMax {
		t.Errorf("order grew to %d", len(f.order))
	}
	for i := range 10 {
		f.put(fmt.Sprint("burst-", i), json.RawMessage(`{}`), "p")
	}
	for i := range 10 {
		if _, ok := f.take(fmt.Sprint("burst-", i)); !ok {
			t.Errorf("burst-%d: rendering not kept", i)
		}
	}
	if p, ok := f.take("wait-2-0"); !ok || p.prompt != "put again" {
		t.Errorf("re-put entry = %+v, %v; want the second put", p, ok)
	}
}

// TestPushOfNewIssueFollowsLaterEdits creates an issue while no worker is free, edits it, then frees a
// worker: the push must carry the edit (the rendering kept at create is dropped by the edit), and an
// issue created while the worker is idle is pushed with what was created.
func TestPushOfNewIssueFollowsLaterEdits(t *testing.T) {
	h := start(t, nil, nil)
	ctx := context.Background()
	c, _ := h.session(rpc.HelloParams{Name: "cli", Role: "client"})
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

// kept reports the rendering kept for id without taking it.
func (f *freshPushes) kept(id string) (freshPush, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.byID[id]
	return p, ok
}

// TestEditBetweenCreateCommitAndKeep: an edit can read a new issue from the store after the create's
// commit and before the engine has run the create's keep (the loop may apply another batch before it
// finishes the commit); the edit's drop of the kept rendering must still come last, so the first push
// carries the edit. The loop is held in OnStep once the create is in the store, with reads keeping it
// busy so that it applies a batch before finishing the create; rounds where the keep had already run
// do not count.
func TestEditBetweenCreateCommitAndKeep(t *testing.T) {
	var (
		d       atomic.Pointer[Daemon]
		target  atomic.Pointer[string]
		held    = make(chan struct{}, 1)
		release = make(chan struct{})
		once    atomic.Bool
	)
	h := start(t, nil, func(c *Config) {
		c.Coord.OnStep = func(time.Duration, int) {
			id, dd := target.Load(), d.Load()
			if id == nil || dd == nil || once.Load() {
				return
			}
			if _, _, err := dd.db.Body(context.Background(), *id); err != nil {
				return // not committed yet
			}
			if once.CompareAndSwap(false, true) {
				held <- struct{}{}
				<-release
			}
		}
	})
	d.Store(h.d)
	c := createClient(t, h)
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				h.d.engine.Status()
			}
		}
	}()
	hit := ""
	for round := 0; round < 300 && hit == ""; round++ {
		id := fmt.Sprintf("e-%d", round)
		once.Store(false)
		target.Store(&id)
		created := make(chan error, 1)
		go func() {
			_, err := c.IssueCreate(ctx, rpc.IssueCreateParams{ID: id, Title: "old title", Description: "old words"})
			created <- err
		}()
		<-held
		_, keptAlready := h.d.issues.fresh.kept(id)
		edited := make(chan error, 1)
		if !keptAlready {
			go func() {
				title := "new title"
				_, err := c.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: id, Title: &title})
				edited <- err
			}()
			time.Sleep(20 * time.Millisecond) // the edit reads the store and submits its put
		}
		target.Store(nil)
		release <- struct{}{}
		if err := <-created; err != nil {
			t.Fatal(err)
		}
		if keptAlready {
			continue
		}
		if err := <-edited; err != nil {
			t.Fatal(err)
		}
		hit = id
	}
	close(stop)
	wg.Wait()
	if hit == "" {
		t.Skip("no round had the edit read the issue before the create's keep")
	}
	if p, ok := h.d.issues.fresh.kept(hit); ok {
		t.Errorf("after the edit the cache still holds %s's rendering with prompt %q", hit, p.prompt)
	}
	w := h.worker("w1", 1)
	for {
		a := w.next(t, 5*time.Second)
		if a.Lease.IssueID != hit {
			w.complete(t, a)
			continue
		}
		// the prompt follows protocol edits at once; the record is the issue's line as last exported,
		// which an export between the create and the edit may have written with the old title
		if !strings.HasPrefix(a.Prompt, "new title") {
			t.Fatalf("first push of %s after its edit: prompt %q, record %s", hit, a.Prompt, a.Issue)
		}
		return
	}
}
