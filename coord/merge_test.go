package coord_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/health"
	"github.com/gastown/gtc/coord/mergeq"
	"github.com/gastown/gtc/store"
)

var mt0 = time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)

// mergeOut records merge pushes, merge cancels and lease pushes.
type mergeOut struct {
	merges  chan mergePushed
	cancels chan mergePushed
	pushes  chan coord.Assignment
}

type mergePushed struct {
	worker string
	req    coord.MergeRequest
}

func newMergeOut() *mergeOut {
	return &mergeOut{merges: make(chan mergePushed, 4096), cancels: make(chan mergePushed, 64), pushes: make(chan coord.Assignment, 4096)}
}
func (o *mergeOut) Push(_ string, _ uint64, a coord.Assignment)          { o.pushes <- a }
func (o *mergeOut) Cancel(string, uint64, string, int64, string, string) {}
func (o *mergeOut) Publish(coord.Event)                                  {}
func (o *mergeOut) PushMerge(w string, _ uint64, m coord.MergeRequest)   { o.merges <- mergePushed{w, m} }
func (o *mergeOut) CancelMerge(w string, _ uint64, m coord.MergeRequest) {
	o.cancels <- mergePushed{w, m}
}

// failPersister passes commits to an inner Persister unless failing is set.
type failPersister struct {
	inner   coord.Persister
	mu      sync.Mutex
	failing bool
}

func (f *failPersister) Commit(ctx context.Context, ch []coord.Change) error {
	f.mu.Lock()
	fail := f.failing
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	if f.inner == nil {
		return nil
	}
	return f.inner.Commit(ctx, ch)
}

func (f *failPersister) setFailing(v bool) { f.mu.Lock(); f.failing = v; f.mu.Unlock() }

type mh struct {
	t   *testing.T
	e   *coord.Engine
	clk *coord.FakeClock
	out *mergeOut
	ctx context.Context
	// stop ends the engine's Run (also done at the test's end)
	stop func()
}

func mergeCfg() coord.Config {
	return coord.Config{MergeQueue: mergeq.Factory(mergeq.Config{}), HeartbeatTimeout: time.Hour, Grace: 30 * time.Second}
}

// runMerge starts an engine on snap with persister p and a fake clock at now.
func runMerge(t *testing.T, cfg coord.Config, p coord.Persister, snap *coord.Snapshot, now time.Time) *mh {
	t.Helper()
	clk := coord.NewFakeClock(now)
	out := newMergeOut()
	e, err := coord.NewEngine(cfg, clk, p, snap, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &mh{t: t, e: e, clk: clk, out: out, ctx: context.Background(), stop: stop}
}

func task(id string, prio int, labels ...string) coord.IssuePut {
	return coord.IssuePut{Issue: beads.Issue{ID: id, Title: id, Status: "open", Priority: prio, IssueType: "task",
		Labels: labels, CreatedAt: mt0.Add(-time.Hour), UpdatedAt: mt0.Add(-time.Hour)}}
}

func (h *mh) put(puts ...coord.IssuePut) {
	h.t.Helper()
	if err := h.e.PutIssues(h.ctx, puts); err != nil {
		h.t.Fatal(err)
	}
}

func (h *mh) hello(name, role string, session uint64) {
	h.t.Helper()
	if _, err := h.e.Connect(h.ctx, coord.Hello{Name: name, Role: role, Capacity: 1}, session); err != nil {
		h.t.Fatal(err)
	}
}

func (h *mh) submit(worker, issue string, files ...string) coord.MergeSubmitted {
	h.t.Helper()
	r, err := h.e.MergeSubmit(h.ctx, worker, coord.MergeSubmit{IssueID: issue, Branch: "b/" + issue, Files: files})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *mh) nextMerge() mergePushed {
	h.t.Helper()
	select {
	case m := <-h.out.merges:
		return m
	case <-time.After(5 * time.Second):
		h.t.Fatal("no merge push within 5s")
	}
	return mergePushed{}
}

func (h *mh) noMerge() {
	h.t.Helper()
	h.e.Status() // a full engine round: anything due was decided and delivered
	select {
	case m := <-h.out.merges:
		h.t.Fatalf("unexpected merge push %+v", m)
	default:
	}
}

// workerState is the state coord.workers shows for a worker ("absent" when it does not list it).
func (h *mh) workerState(name string) string {
	for _, w := range h.e.Workers() {
		if w.Name == name {
			return w.State
		}
	}
	return "absent"
}

// advance moves the fake clock and waits for one engine round, so due timers have run.
func (h *mh) advance(d time.Duration) {
	h.clk.Advance(d)
	h.e.Status()
}

func TestMergeDeadRefinery(t *testing.T) {
	h := runMerge(t, mergeCfg(), &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2), task("gt-2", 2), task("gt-3", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1", "a.go")
	res := h.submit("w", "gt-2", "a.go")
	if !slices.Equal(res.ConflictsWith, []string{"MR-1"}) || !slices.Equal(res.ConflictingFiles, []string{"a.go"}) {
		t.Fatalf("overlap not reported: %+v", res)
	}
	m := h.nextMerge()
	if m.worker != "r1" || m.req.ID != "MR-1" || m.req.Epoch == 0 || m.req.State != "merging" {
		t.Fatalf("first push %+v", m)
	}
	state := h.workerState
	if st := state("r1"); st != coord.WorkerBusy {
		t.Errorf("refinery holding a merge slot is %s, want busy", st)
	}
	h.hello("r2", coord.RoleRefinery, 3)
	h.noMerge() // one slot per target: MR-2 waits while MR-1 merges
	if st := state("r2"); st != coord.WorkerIdle {
		t.Errorf("refinery without a slot is %s, want idle", st)
	}
	// r1 dies mid-merge: within the grace nothing moves, after it MR-1 is taken back and MR-2 proceeds.
	if err := h.e.Disconnect(h.ctx, "r1", 2); err != nil {
		t.Fatal(err)
	}
	h.advance(29 * time.Second)
	h.noMerge()
	h.advance(2 * time.Second)
	m2 := h.nextMerge()
	if m2.worker != "r2" || m2.req.ID != "MR-2" {
		t.Fatalf("after the grace: %+v", m2)
	}
	if r, _ := h.e.MergeGet("MR-1"); r.State != "pending" || r.Attempts != 1 {
		t.Fatalf("MR-1 after abandon: %+v", r)
	}
	// r2 goes silent: its slot expires at the deadline (10m) and the queue moves on.
	h.advance(10*time.Minute + time.Second)
	m3 := h.nextMerge()
	if m3.req.ID != "MR-1" || m3.worker != "r2" {
		t.Fatalf("after the deadline: %+v", m3)
	}
	if _, err := h.e.MergeReport(h.ctx, "r2", "MR-2", m2.req.Epoch, coord.MergeResult{Merged: true}); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("late report of an expired slot: %v", err)
	}
	// A conflict fails MR-1 and reopens gt-1 for rework.
	r, err := h.e.MergeReport(h.ctx, "r2", "MR-1", m3.req.Epoch, coord.MergeResult{Conflicts: []string{"a.go"}})
	if err != nil || r.State != "failed" {
		t.Fatalf("conflict report: %+v %v", r, err)
	}
	if slices.Contains(h.e.Ready(0), "gt-1") {
		t.Fatalf("gt-1 ready again at once: a rework is a failed attempt, retried after a backoff")
	}
	h.advance(11 * time.Second) // past the rework's backoff (5 s at most) and MR-2's retry delay (10 s from its expiry)
	if !slices.Contains(h.e.Ready(0), "gt-1") {
		t.Fatalf("gt-1 not reopened: ready %v", h.e.Ready(0))
	}
	if m := h.nextMerge(); m.req.ID != "MR-2" {
		t.Fatalf("MR-2 retried: %+v", m)
	}
}

func TestMergeThousandNoneStarves(t *testing.T) {
	h := runMerge(t, mergeCfg(), &failPersister{}, nil, mt0)
	const n = 1000
	var puts []coord.IssuePut
	prio := func(i int) int { return []int{4, 0, 0, 1, 0, 2, 0, 3, 0, 0}[i%10] }
	for i := 0; i < n; i++ {
		puts = append(puts, task(fmt.Sprintf("gt-%d", i), prio(i)))
	}
	h.put(puts...)
	h.hello("w", "client", 1)
	submitted := map[string]time.Time{} // request id -> submit time
	issueOf := map[string]int{}
	started := map[string]time.Time{}
	final := map[string]string{}
	next := 0
	submitRound := func() {
		for k := 0; k < 10 && next < n; k++ {
			r := h.submit("w", fmt.Sprintf("gt-%d", next))
			submitted[r.Request.ID] = h.clk.Now()
			issueOf[r.Request.ID] = next
			next++
		}
	}
	submitRound()
	h.hello("r", coord.RoleRefinery, 2)
	for steps := 0; len(final) < n; steps++ {
		if steps > 4*n {
			t.Fatalf("not done after %d merges: %d final", steps, len(final))
		}
		m := h.nextMerge()
		if _, ok := started[m.req.ID]; !ok {
			started[m.req.ID] = h.clk.Now()
		}
		h.advance(12 * time.Second) // 5 merges a minute, 10 arrivals a minute
		res := coord.MergeResult{Merged: true, MergeCommit: "c"}
		if issueOf[m.req.ID]%7 == 0 && m.req.Attempts == 0 {
			res = coord.MergeResult{Reason: "flaky fetch"} // retryable
		}
		r, err := h.e.MergeReport(h.ctx, "r", m.req.ID, m.req.Epoch, res)
		if err != nil {
			t.Fatal(err)
		}
		if r.State == "merged" || r.State == "failed" {
			final[r.ID] = r.State
		}
		if steps%5 == 4 {
			submitRound()
		}
	}
	for id, st := range final {
		if st != "merged" {
			t.Fatalf("%s ended %s", id, st)
		}
	}
	// Aging: every P4 request started before any P0 request submitted more than 65 minutes after it.
	checked := 0
	for a, ta := range submitted {
		if prio(issueOf[a]) != 4 {
			continue
		}
		for b, tb := range submitted {
			if prio(issueOf[b]) == 0 && tb.Sub(ta) > 65*time.Minute {
				checked++
				if !started[a].Before(started[b]) && !started[a].Equal(started[b]) {
					t.Fatalf("P4 %s (submitted %v, started %v) waited behind P0 %s (submitted %v, started %v)",
						a, ta, started[a], b, tb, started[b])
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("the backlog never grew enough to test aging")
	}
	if l, err := h.e.MergeList(""); err != nil || len(l) != 0 {
		t.Fatalf("queue not empty: %d %v", len(l), err)
	}
}

func openStore(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConvoyCompletesAndClosesTracking(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.put(task("gt-1", 3), task("gt-2", 3), task("gt-3", 0))
	p, err := h.e.ConvoyCreate(h.ctx, coord.ConvoyCreate{Name: "alpha", Title: "Alpha", TrackingID: "gt-cv", IssueIDs: []string{"gt-1", "gt-2"}})
	if err != nil || p.Total != 2 || p.TrackingID != "gt-cv" || p.Complete {
		t.Fatalf("create: %+v %v", p, err)
	}
	if _, err := h.e.ConvoyCreate(h.ctx, coord.ConvoyCreate{Name: "alpha"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("second create: %v", err)
	}
	if slices.Contains(h.e.Ready(0), "gt-cv") {
		t.Fatal("the tracking issue is handed out as work")
	}
	// A convoy-bound worker takes the convoy's P3 issues before the P0 issue outside it.
	if _, err := h.e.Connect(h.ctx, coord.Hello{Name: "w", Capacity: 1, Filters: coord.Filters{Convoy: "alpha"}}, 1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 3; i++ {
		var a coord.Assignment
		select {
		case a = <-h.out.pushes:
		case <-time.After(5 * time.Second):
			t.Fatal("no push")
		}
		got = append(got, a.Lease.IssueID)
		if err := h.e.Ack(h.ctx, "w", a.Lease.ID, a.Lease.Epoch); err != nil {
			t.Fatal(err)
		}
		if _, err := h.e.Complete(h.ctx, "w", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			cp, _ := h.e.ConvoyShow("alpha")
			if !cp.Complete || cp.Tracking != "closed" || cp.Percent != 100 {
				t.Fatalf("after both closed: %+v", cp)
			}
			is, _, err := db.GetIssue(h.ctx, "gt-cv")
			if err != nil || is.Status != "closed" || is.CloseReason != "convoy complete" || is.IssueType != "convoy" {
				t.Fatalf("stored tracking issue %+v %v", is, err)
			}
		}
	}
	if !slices.Equal(got[:2], []string{"gt-1", "gt-2"}) || got[2] != "gt-3" {
		t.Fatalf("convoy-first order %v", got)
	}
	if l := h.e.ConvoyList(); len(l) != 1 || l[0].Name != "alpha" || l[0].Closed != 2 {
		t.Fatalf("list %+v", l)
	}
	if _, err := h.e.ConvoyShow("nope"); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("show missing: %v", err)
	}
}

func TestHealthThresholds(t *testing.T) {
	fp := &failPersister{}
	cfg := mergeCfg()
	h := runMerge(t, cfg, fp, nil, mt0)
	var puts []coord.IssuePut
	for i := 0; i < 60; i++ {
		puts = append(puts, task(fmt.Sprintf("gt-%02d", i), 2))
	}
	h.put(puts...)
	h.hello("c", "client", 1)
	outcome := func(o string) {
		t.Helper()
		a, err := h.e.Claim(h.ctx, "c", nil, 0)
		if err != nil || a == nil {
			t.Fatalf("claim: %v %v", a, err)
		}
		if _, err := h.e.Complete(h.ctx, "c", a.Lease.ID, a.Lease.Epoch, coord.SessionResult{Outcome: o}); err != nil {
			t.Fatal(err)
		}
	}
	if r := h.e.HealthReport(); r.Status != health.Healthy || r.Samples != 0 || r.SuccessRate != 1 {
		t.Fatalf("empty: %+v", r)
	}
	for i := 0; i < 8; i++ {
		outcome("success")
	}
	outcome("failure")
	outcome("partial")
	if r := h.e.HealthReport(); r.Status != health.Healthy || r.SuccessRate != 0.8 {
		t.Fatalf("8/10 is exactly the degraded bound, not below it: %+v", r)
	}
	outcome("context_overflow")
	if r := h.e.HealthReport(); r.Status != health.Degraded {
		t.Fatalf("8/11: %+v", r)
	}
	for i := 0; i < 5; i++ {
		outcome("failure")
	}
	if r := h.e.HealthReport(); r.Status != health.Degraded || r.SuccessRate != 0.5 {
		t.Fatalf("8/16 is exactly the unhealthy bound: %+v", r)
	}
	outcome("failure")
	if r := h.e.HealthReport(); r.Status != health.Unhealthy {
		t.Fatalf("8/17: %+v", r)
	}
	for i := 0; i < 27; i++ {
		outcome("code_complete")
	}
	if r := h.e.HealthReport(); r.Status != health.Degraded {
		t.Fatalf("35/44: %+v", r)
	}
	outcome("success")
	if r := h.e.HealthReport(); r.Status != health.Healthy || r.SuccessRate != 0.8 {
		t.Fatalf("36/45: %+v", r)
	}
	// Stalls: busy workers with no heartbeat for more than 10 minutes.
	for i, w := range []string{"s1", "s2", "s3"} {
		h.hello(w, "client", uint64(10+i))
		if a, err := h.e.Claim(h.ctx, w, nil, 0); err != nil || a == nil {
			t.Fatalf("claim %s: %v", w, err)
		}
	}
	h.advance(10 * time.Minute)
	if r := h.e.HealthReport(); r.Status != health.Healthy {
		t.Fatalf("exactly 10m is not a stall: %+v", r)
	}
	if _, err := h.e.Heartbeat(h.ctx, "s1", "", 0, ""); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Nanosecond)
	if r := h.e.HealthReport(); r.Status != health.Degraded || !slices.Equal(r.Stalled, []string{"s2", "s3"}) {
		t.Fatalf("two stalled: %+v", r)
	}
	h.advance(10 * time.Minute)
	if r := h.e.HealthReport(); r.Status != health.Unhealthy || len(r.Stalled) != 3 {
		t.Fatalf("three stalled: %+v", r)
	}
	for _, w := range []string{"s1", "s2", "s3"} {
		if _, err := h.e.Heartbeat(h.ctx, w, "", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if r := h.e.HealthReport(); r.Status != health.Healthy {
		t.Fatalf("after heartbeats: %+v", r)
	}
	// Storage failing: unhealthy until a commit succeeds again.
	fp.setFailing(true)
	if err := h.e.Pause(h.ctx, ""); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("pause with a failing disk: %v", err)
	}
	if r := h.e.HealthReport(); r.Status != health.Unhealthy || !r.StorageFailing {
		t.Fatalf("storage failing: %+v", r)
	}
	fp.setFailing(false)
	if err := h.e.Pause(h.ctx, ""); err != nil {
		t.Fatal(err)
	}
	if r := h.e.HealthReport(); r.StorageFailing {
		t.Fatalf("storage back: %+v", r)
	}
}

func TestMergeQueueSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gtc.db")
	db := openStore(t, path)
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.put(task("gt-1", 1), task("gt-2", 2), task("gt-3", 3), task("gt-4", 0))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	h.submit("w", "gt-2", "x.go")
	h.submit("w", "gt-3", "x.go")
	m := h.nextMerge()
	if _, err := h.e.MergeReport(h.ctx, "r1", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	m2 := h.nextMerge() // MR-2 merging when the server stops
	before, _ := h.e.MergeList("")
	h.e.Status()
	// Restart: a new engine on what the store holds.
	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h2 := runMerge(t, mergeCfg(), db, snap, mt0.Add(time.Minute))
	after, err := h2.e.MergeList("")
	if err != nil || len(after) != 2 || after[0].ID != "MR-2" || after[0].State != "merging" ||
		after[0].Epoch != m2.req.Epoch || after[1].ID != "MR-3" || !slices.Equal(after[1].Files, []string{"x.go"}) {
		t.Fatalf("restored %+v, had %+v", after, before)
	}
	h2.hello("w", "client", 1)
	if r := h2.submit("w", "gt-4"); r.Request.ID != "MR-4" {
		t.Fatalf("ids restart at %s", r.Request.ID)
	}
	// r1 never comes back: MR-2 keeps the target's slot until r1's grace ends, then a new refinery
	// gets the work, best ranked first (MR-4 is P0; MR-2 carries a retry penalty).
	h2.hello("r2", coord.RoleRefinery, 3)
	h2.noMerge()
	h2.advance(31 * time.Second)
	first := h2.nextMerge()
	if first.req.ID != "MR-4" || first.worker != "r2" {
		t.Fatalf("after r1's grace: %+v", first)
	}
	if _, err := h2.e.MergeReport(h2.ctx, "r2", first.req.ID, first.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
		t.Fatal(err)
	}
	h2.advance(10 * time.Second) // MR-2's retry delay after it was taken back from r1
	if m := h2.nextMerge(); m.req.ID != "MR-2" || m.worker != "r2" || m.req.Epoch <= m2.req.Epoch || m.req.Attempts != 1 {
		t.Fatalf("MR-2 retried: %+v", m)
	}
}

// TestMergeQueueContinuesAfterRestoreFloors: a store restored from a backup carries the merge epoch and
// id sequence of the store it replaced (store.Restore); the queue hands out slot epochs and request ids
// after them, so a refinery still holding a slot of the replaced store cannot report into a new one.
func TestMergeQueueContinuesAfterRestoreFloors(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.put(task("gt-1", 1), task("gt-2", 2))
	h.hello("w", "client", 1)
	h.submit("w", "gt-1")
	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	snap.Meta[coord.MetaMergeEpochFloor], snap.Meta[coord.MetaMergeSeq] = "50", "20"
	h2 := runMerge(t, mergeCfg(), db, snap, mt0.Add(time.Minute))
	h2.hello("w", "client", 1)
	if r := h2.submit("w", "gt-2"); r.Request.ID != "MR-21" {
		t.Fatalf("request id after the restored sequence: %s", r.Request.ID)
	}
	h2.hello("r", coord.RoleRefinery, 2)
	if m := h2.nextMerge(); m.req.ID != "MR-1" || m.req.Epoch != 51 {
		t.Fatalf("first slot after the restore: %s epoch %d, want MR-1 epoch 51", m.req.ID, m.req.Epoch)
	}
	if _, err := h2.e.MergeReport(h2.ctx, "r", "MR-1", 1, coord.MergeResult{Merged: true}); coord.ErrorCode(err) != coord.EStaleEpoch {
		t.Fatalf("a report under an epoch of the replaced store: %v", err)
	}
}

func TestMergeSlotExtendedByRefineryHeartbeat(t *testing.T) {
	h := runMerge(t, mergeCfg(), &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	m := h.nextMerge()
	h.advance(9 * time.Minute)
	if _, err := h.e.Heartbeat(h.ctx, "r1", "", 0, ""); err != nil {
		t.Fatal(err)
	}
	h.advance(9 * time.Minute) // past the first deadline, before the renewed one
	if r, _ := h.e.MergeGet(m.req.ID); r.State != "merging" || r.Epoch != m.req.Epoch {
		t.Fatalf("after a heartbeat the slot lives on: %+v", r)
	}
	h.advance(2 * time.Minute)
	h.advance(10 * time.Second) // the retry delay after the expiry
	if m2 := h.nextMerge(); m2.req.ID != m.req.ID || m2.req.Epoch <= m.req.Epoch || m2.req.Attempts != 1 {
		t.Fatalf("after the renewed deadline: %+v", m2)
	}
}

func TestMergeSubmitNotDurableIsForgotten(t *testing.T) {
	fp := &failPersister{}
	h := runMerge(t, mergeCfg(), fp, nil, mt0)
	h.put(task("gt-1", 2), task("gt-2", 2))
	h.hello("w", "client", 1)
	h.hello("r", coord.RoleRefinery, 2)
	fp.setFailing(true)
	if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "b"}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("submit with failing storage: %v", err)
	}
	h.noMerge() // nothing undurable was pushed
	fp.setFailing(false)
	if l, err := h.e.MergeList(""); err != nil || len(l) != 0 {
		t.Fatalf("after the failed commit: %+v %v", l, err)
	}
	r := h.submit("w", "gt-1")
	if m := h.nextMerge(); m.req.ID != r.Request.ID || m.worker != "r" {
		t.Fatalf("push after recovery: %+v", m)
	}
	if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "b"}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("second request for one issue: %v", err)
	}
	if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-9", Branch: "b"}); coord.ErrorCode(err) != coord.ENotFound {
		t.Fatalf("unknown issue: %v", err)
	}
	if _, err := h.e.MergeSubmit(h.ctx, "nobody", coord.MergeSubmit{IssueID: "gt-2", Branch: "b"}); coord.ErrorCode(err) != coord.EUnauthorized {
		t.Fatalf("unknown worker: %v", err)
	}
	if _, err := h.e.MergeReport(h.ctx, "w", r.Request.ID, 1, coord.MergeResult{Merged: true}); coord.ErrorCode(err) != coord.ENotHolder {
		t.Fatalf("report by a non-holder: %v", err)
	}
}

func TestMergeDisabledWithoutQueue(t *testing.T) {
	h := runMerge(t, coord.Config{}, &failPersister{}, nil, mt0)
	h.put(task("gt-1", 2))
	h.hello("w", "client", 1)
	if _, err := h.e.MergeSubmit(h.ctx, "w", coord.MergeSubmit{IssueID: "gt-1", Branch: "b"}); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("submit without a queue: %v", err)
	}
	if _, err := h.e.MergeList(""); coord.ErrorCode(err) != coord.EUnavailable {
		t.Fatalf("list without a queue: %v", err)
	}
}

// TestEngineRefusesParallelMergeSlots: an engine whose merge queue is configured with more than one
// slot per target does not start (the refineries' merges would race), and says why.
func TestEngineRefusesParallelMergeSlots(t *testing.T) {
	cfg := coord.Config{MergeQueue: mergeq.Factory(mergeq.Config{MaxParallel: 2})}
	_, err := coord.NewEngine(cfg, coord.NewFakeClock(mt0), &failPersister{}, nil, newMergeOut())
	if coord.ErrorCode(err) != coord.EInvalid || !strings.Contains(err.Error(), "MaxParallel 2") {
		t.Fatalf("NewEngine with MaxParallel 2: %v", err)
	}
	if _, err := coord.NewEngine(mergeCfg(), coord.NewFakeClock(mt0), &failPersister{}, nil, newMergeOut()); err != nil {
		t.Fatalf("NewEngine with the default: %v", err)
	}
}

// TestMergeCancel: an operator withdraws a pending request (by issue) and a merging one (by id). The
// cancellation is in SQLite when the call returns; the merging one's slot goes to the next request at
// once, its refinery is told to stop (CancelMerge with the slot's epoch) and its late report is
// refused; the issue is left as it was; a new request for the issue may be submitted; a restart does
// not bring cancelled requests back.
func TestMergeCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gtc.db")
	db := openStore(t, path)
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.put(task("gt-1", 2), task("gt-2", 2), task("gt-3", 2), task("gt-9", 2))
	h.hello("w", "client", 1)
	h.hello("r1", coord.RoleRefinery, 2)
	h.submit("w", "gt-1")
	m1 := h.nextMerge()
	h.submit("w", "gt-2")
	h.submit("w", "gt-3")
	h.noMerge() // one slot per target: MR-2 and MR-3 wait

	durable := func(issue string) coord.MergeRequest {
		t.Helper()
		rs, err := db.MergeRequests(context.Background(), store.MergeFilter{IssueID: issue})
		if err != nil || len(rs) == 0 {
			t.Fatalf("merge requests of %s in SQLite: %v %v", issue, rs, err)
		}
		return rs[len(rs)-1]
	}

	// A pending request, by issue: nothing is sent to any refinery.
	r, err := h.e.MergeCancel(h.ctx, coord.MergeCancel{IssueID: "gt-3", Reason: "superseded"})
	if err != nil || r.ID != "MR-3" || r.State != "cancelled" || r.Error != "superseded" {
		t.Fatalf("cancel MR-3 by issue: %+v %v", r, err)
	}
	if d := durable("gt-3"); d.State != "cancelled" || d.Error != "superseded" {
		t.Fatalf("MR-3 in SQLite after the reply: %+v", d)
	}
	// The merging request, by id: its refinery is told, its slot goes to MR-2.
	r, err = h.e.MergeCancel(h.ctx, coord.MergeCancel{ID: m1.req.ID, Reason: "wrong branch"})
	if err != nil || r.State != "cancelled" || r.Epoch != m1.req.Epoch {
		t.Fatalf("cancel merging MR-1: %+v %v", r, err)
	}
	if d := durable("gt-1"); d.State != "cancelled" || d.Deadline != nil {
		t.Fatalf("MR-1 in SQLite after the reply: %+v", d)
	}
	select {
	case c := <-h.out.cancels:
		if c.worker != "r1" || c.req.ID != "MR-1" || c.req.Epoch != m1.req.Epoch || c.req.Error != "wrong branch" {
			t.Fatalf("cancel sent %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the refinery holding MR-1 was not told")
	}
	if len(h.out.cancels) != 0 {
		t.Fatalf("extra cancels: %d", len(h.out.cancels))
	}
	if m := h.nextMerge(); m.req.ID != "MR-2" || m.worker != "r1" {
		t.Fatalf("after the cancel the slot went to %+v", m)
	}
	if _, err := h.e.MergeReport(h.ctx, "r1", "MR-1", m1.req.Epoch, coord.MergeResult{Merged: true}); coord.ErrorCode(err) != coord.EConflict {
		t.Fatalf("report of a cancelled merge: %v", err)
	}
	if is, _, err := db.GetIssue(context.Background(), "gt-1"); err != nil || is.Status != "open" || len(is.Labels) != 0 {
		t.Fatalf("gt-1 after its merge was cancelled: %s %v %v", is.Status, is.Labels, err)
	}

	for _, tc := range []struct {
		name string
		mc   coord.MergeCancel
		code coord.Code
	}{
		{"neither id nor issue", coord.MergeCancel{}, coord.EInvalid},
		{"both id and issue", coord.MergeCancel{ID: "MR-2", IssueID: "gt-2"}, coord.EInvalid},
		{"unknown id", coord.MergeCancel{ID: "MR-99"}, coord.ENotFound},
		{"issue without a request", coord.MergeCancel{IssueID: "gt-9"}, coord.ENotFound},
		{"unknown issue", coord.MergeCancel{IssueID: "gt-404"}, coord.ENotFound},
		{"issue whose request was cancelled", coord.MergeCancel{IssueID: "gt-3"}, coord.ENotFound},
		{"already cancelled", coord.MergeCancel{ID: "MR-1"}, coord.EConflict},
	} {
		if _, err := h.e.MergeCancel(h.ctx, tc.mc); coord.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if r := h.submit("w", "gt-3"); r.Request.ID != "MR-4" || r.Request.State != "pending" {
		t.Fatalf("resubmit after a cancel: %+v", r.Request)
	}

	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h2 := runMerge(t, mergeCfg(), db, snap, mt0.Add(time.Minute))
	live, err := h2.e.MergeList("")
	if err != nil || len(live) != 2 || live[0].ID != "MR-2" || live[1].ID != "MR-4" {
		t.Fatalf("live after a restart: %+v %v", live, err)
	}
}
