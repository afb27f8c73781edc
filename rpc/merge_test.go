package rpc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/health"
)

// The fake backend's merge, convoy, health, drain and cancel methods echo what they were given.

func (f *fakeBackend) MergeSubmit(_ context.Context, s *Session, p MergeSubmitParams) (*MergeSubmitResult, error) {
	return &MergeSubmitResult{Request: coord.MergeRequest{ID: "MR-1", IssueID: p.IssueID, Worker: s.Worker, Branch: p.Branch,
		Target: p.Target, Files: p.Files, State: "pending"}, ConflictsWith: []string{}, ConflictingFiles: []string{}}, nil
}
func (f *fakeBackend) MergeList(_ context.Context, _ *Session, p MergeListParams) (*MergeListResult, error) {
	return &MergeListResult{Requests: []coord.MergeRequest{{ID: "MR-1", Target: p.Target}}}, nil
}
func (f *fakeBackend) MergeReport(_ context.Context, _ *Session, p MergeReportParams) (*MergeReportResult, error) {
	st := "failed"
	if p.Merged {
		st = "merged"
	}
	return &MergeReportResult{Request: coord.MergeRequest{ID: p.ID, Epoch: p.Epoch, State: st, Conflicts: p.Conflicts}}, nil
}
func (f *fakeBackend) MergeCancel(_ context.Context, _ *Session, p MergeCancelParams) (*MergeCancelResult, error) {
	if p.ID == "" && p.IssueID == "" {
		return nil, coord.Errorf(coord.EInvalid, "merge cancel: the request id or the issue id is required")
	}
	id := p.ID
	if id == "" {
		id = "MR-for-" + p.IssueID
	}
	return &MergeCancelResult{Request: coord.MergeRequest{ID: id, IssueID: p.IssueID, State: "cancelled", Error: p.Reason}}, nil
}
func (f *fakeBackend) ConvoyCreate(_ context.Context, _ *Session, p ConvoyCreateParams) (*ConvoyResult, error) {
	return &ConvoyResult{Convoy: coord.ConvoyProgress{Name: p.Name, Total: len(p.IssueIDs), IssueIDs: p.IssueIDs}}, nil
}
func (f *fakeBackend) ConvoyList(context.Context, *Session, EmptyParams) (*ConvoyListResult, error) {
	return &ConvoyListResult{Convoys: []coord.ConvoyProgress{{Name: "a", IssueIDs: []string{}}}}, nil
}
func (f *fakeBackend) ConvoyShow(_ context.Context, _ *Session, p ConvoyShowParams) (*ConvoyResult, error) {
	if p.Name == "missing" {
		return nil, coord.Errorf(coord.ENotFound, "no convoy %q", p.Name)
	}
	return &ConvoyResult{Convoy: coord.ConvoyProgress{Name: p.Name, IssueIDs: []string{}}}, nil
}
func (f *fakeBackend) EventsList(context.Context, *Session, EventsListParams) (*EventsListResult, error) {
	return &EventsListResult{Events: []coord.Event{}}, nil
}

func (f *fakeBackend) CoordHealth(context.Context, *Session, EmptyParams) (*HealthResult, error) {
	return &HealthResult{Status: health.Degraded, SuccessRate: 0.7, Stalled: []string{}, Reasons: []string{"x"}}, nil
}
func (f *fakeBackend) CoordDrain(_ context.Context, _ *Session, p DrainParams) (*DrainResult, error) {
	return &DrainResult{Worker: p.Worker, Draining: true}, nil
}
func (f *fakeBackend) LeaseCancel(_ context.Context, _ *Session, p LeaseCancelParams) (*LeaseCancelResult, error) {
	return &LeaseCancelResult{LeaseID: p.LeaseID, Cancelled: true}, nil
}

func TestMergeMethodsParams(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	p := dialRaw(t, "unix", ts.unixPath, FramingNDJSON)
	p.hello(testToken)
	for _, tt := range []struct {
		method, params string
		want           string // substring of the reply
	}{
		{"merge.submit", `{}`, `missing required field \"issue_id\"`},
		{"merge.submit", `{"issue_id":"bd-1"}`, `missing required field \"branch\"`},
		{"merge.submit", `{"issue_id":"bd-1","branch":"b","files":"x"}`, `field \"files\" must be an array`},
		{"merge.submit", `{"issue_id":"bd-1","branch":"b","files":["a.go"]}`, `"branch":"b"`},
		{"merge.list", `{}`, `"requests":[{"id":"MR-1"`},
		{"merge.list", `{"target":7}`, `field \"target\" must be a string`},
		{"merge.report", `{"epoch":3}`, `missing required field \"id\"`},
		{"merge.report", `{"id":"MR-1"}`, `missing required field \"epoch\"`},
		{"merge.report", `{"id":"MR-1","epoch":0}`, `missing required field \"epoch\" (0 is not a value it takes)`},
		{"merge.report", `{"id":"MR-1","epoch":"3"}`, `field \"epoch\" must be an integer`},
		{"merge.report", `{"id":"MR-1","epoch":3,"merged":true}`, `"state":"merged"`},
		{"merge.report", `{"id":"MR-1","epoch":3,"conflicts":["a.go"]}`, `"conflicts":["a.go"]`},
		{"merge.cancel", `{"id":"MR-3","reason":"wrong branch"}`, `"error":"wrong branch"`},
		{"merge.cancel", `{"issue_id":"bd-4"}`, `"id":"MR-for-bd-4","issue_id":"bd-4"`},
		{"merge.cancel", `{}`, `"code":-32602`},
		{"merge.cancel", `{"id":3}`, `field \"id\" must be a string`},
		{"convoy.create", `{"issue_ids":["a"]}`, `missing required field \"name\"`},
		{"convoy.create", `{"name":"c","issue_ids":["a","b"]}`, `"total":2`},
		{"convoy.list", ``, `"convoys":[{"name":"a"`},
		{"convoy.show", `{}`, `missing required field \"name\"`},
		{"convoy.show", `{"name":"missing"}`, `"code":"not_found"`},
		{"coord.health", `{}`, `"status":"degraded"`},
		{"coord.drain", `{}`, `missing required field \"worker\"`},
		{"coord.drain", `{"worker":"w9"}`, `"draining":true`},
		{"lease.cancel", `{"reason":"x"}`, `missing required field \"lease_id\"`},
		{"lease.cancel", `{"lease_id":"L-4"}`, `"cancelled":true`},
	} {
		body := `{"jsonrpc":"2.0","id":1,"method":"` + tt.method + `"`
		if tt.params != "" {
			body += `,"params":` + tt.params
		}
		got := p.call(body + `}`)
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s %s: got %s, want it to contain %s", tt.method, tt.params, got, tt.want)
		}
	}
}

func TestPushMergeAndClient(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath, Token: testToken})
	got := make(chan coord.MergeRequest, 1)
	c.OnMerge(func(_ context.Context, r coord.MergeRequest) bool { got <- r; return true })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Hello(ctx, HelloParams{Name: "ref", Role: "refinery"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.PushMerge("ref", ts.b.sessionOf(t, "ref"), coord.MergeRequest{ID: "MR-7", Epoch: 4, Branch: "feat"}); err != nil {
		t.Fatal(err)
	}
	if r := wait(t, got, "merge push"); r.ID != "MR-7" || r.Epoch != 4 || r.Branch != "feat" {
		t.Fatalf("pushed %+v", r)
	}
	if err := ts.PushMerge("other", ts.b.sessionOf(t, "ref"), coord.MergeRequest{ID: "MR-8"}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("push to a wrong worker: %v", err)
	}
	// The connection survives the merge reply and keeps serving.
	rep, err := c.MergeReport(ctx, MergeReportParams{ID: "MR-7", Epoch: 4, Merged: true, MergeCommit: "abc"})
	if err != nil || rep.Request.State != "merged" {
		t.Fatalf("report %+v %v", rep, err)
	}
	sub, err := c.MergeSubmit(ctx, MergeSubmitParams{IssueID: "bd-1", Branch: "b", Files: []string{"x"}})
	if err != nil || sub.Request.Worker != "ref" || len(sub.Request.Files) != 1 {
		t.Fatalf("submit %+v %v", sub, err)
	}
	h, err := c.CoordHealth(ctx)
	if err != nil || h.Status != health.Degraded {
		t.Fatalf("health %+v %v", h, err)
	}
	if _, err := c.ConvoyShow(ctx, ConvoyShowParams{Name: "missing"}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("convoy.show missing: %v", err)
	}
	if d, err := c.CoordDrain(ctx, DrainParams{Worker: "w2"}); err != nil || !d.Draining {
		t.Fatalf("drain %+v %v", d, err)
	}
	if l, err := c.LeaseCancel(ctx, LeaseCancelParams{LeaseID: "L-1"}); err != nil || !l.Cancelled {
		t.Fatalf("cancel %+v %v", l, err)
	}
}

// TestMergeCancelClientAndNotification: the Go client's MergeCancel calls merge.cancel, and a refinery
// is told of a cancelled slot by a cancel notification naming merge_id (no lease_id).
func TestMergeCancelClientAndNotification(t *testing.T) {
	ts := startServer(t, Options{}, nil)
	c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath, Token: testToken})
	cancels := make(chan CancelParams, 1)
	c.OnCancel(func(p CancelParams) { cancels <- p })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Hello(ctx, HelloParams{Name: "ref", Role: "refinery"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.MergeCancel(ctx, MergeCancelParams{IssueID: "bd-2", Reason: "superseded"})
	if err != nil || r.Request.State != "cancelled" || r.Request.IssueID != "bd-2" || r.Request.Error != "superseded" {
		t.Fatalf("merge.cancel by issue: %+v %v", r, err)
	}
	if _, err := c.MergeCancel(ctx, MergeCancelParams{}); coord.ErrorCode(err) != coord.EInvalid {
		t.Fatalf("merge.cancel without id or issue: %v", err)
	}
	if err := ts.Cancel("ref", ts.b.sessionOf(t, "ref"), CancelParams{MergeID: "MR-7", Epoch: 4, IssueID: "bd-7", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if p := wait(t, cancels, "merge cancel"); p != (CancelParams{MergeID: "MR-7", Epoch: 4, IssueID: "bd-7", Reason: "r"}) {
		t.Fatalf("cancel notification %+v", p)
	}
	if b := string(mustJSON(CancelParams{MergeID: "MR-7", Epoch: 4, IssueID: "bd-7"})); b != `{"merge_id":"MR-7","epoch":4,"issue_id":"bd-7"}` {
		t.Fatalf("merge cancel encodes as %s", b)
	}
	if b := string(mustJSON(CancelParams{LeaseID: "L-1", Epoch: 2, IssueID: "bd-1"})); b != `{"lease_id":"L-1","epoch":2,"issue_id":"bd-1"}` {
		t.Fatalf("lease cancel encodes as %s", b)
	}
}
