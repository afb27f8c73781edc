package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestAssignedIssueStaysItsAssigneesAcrossARestart: an issue bd assigned to alice goes to alice, not to
// bob who was free first; a restart in the middle of her lease keeps what the lease knew (the issue
// was hers before), so her release leaves it assigned to her in the file, as bd left it.
func TestAssignedIssueStaysItsAssigneesAcrossARestart(t *testing.T) {
	assigned := strings.Replace(line("t-1", "alice's", 1), `"issue_type":"task"`, `"issue_type":"task","assignee":"alice"`, 1)
	h := start(t, []string{assigned}, func(c *Config) { c.SyncInterval = time.Hour })
	bob := h.worker("bob", 1)
	bob.none(t, 300*time.Millisecond)
	alice := h.worker("alice", 1)
	a := alice.next(t, 5*time.Second)
	if a.Lease.IssueID != "t-1" || !a.Lease.Reserved {
		t.Fatalf("alice got %+v", a.Lease)
	}
	_ = alice.c.Close()
	_ = bob.c.Close()
	h.shutdown()

	h2 := startIn(t, h.dir, func(c *Config) { c.Coord.Grace = 5 * time.Second; c.SyncInterval = time.Hour })
	ctx := context.Background()
	c, res := h2.session(rpc.HelloParams{Name: "alice", Capacity: 1})
	if len(res.Leases) != 1 || !res.Leases[0].Lease.Reserved {
		t.Fatalf("alice's lease after the restart: %+v", res.Leases)
	}
	l := res.Leases[0].Lease
	if _, err := c.CoordDrain(ctx, rpc.DrainParams{Worker: "alice", Session: true}); err != nil { // no new push to her
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, rpc.ReleaseParams{LeaseID: l.ID, Epoch: l.Epoch, Reason: "later"}); err != nil {
		t.Fatal(err)
	}
	h2.shutdown()
	got := h2.fileLines()["t-1"]
	if !strings.Contains(got, `"status":"open"`) || !strings.Contains(got, `"assignee":"alice"`) {
		t.Fatalf("t-1 after alice released it: %s, want open and still assigned to alice", got)
	}
}

// TestReassigningALeasedIssue: gtc issue update --assignee on an issue a worker holds ends that lease
// and sends the issue back to the queue — to the new assignee only, or to anyone with "" — instead of
// leaving it in progress with nobody working on it (re-trial: it stayed in_progress, handed to no one).
func TestReassigningALeasedIssue(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	carl := h.worker("carl", 1)
	a := carl.next(t, 5*time.Second)
	// the ack (the push's reply) is applied after the push: an update read before it would be refused
	eventually(t, 5*time.Second, "carl's ack", func() bool {
		l, ok := h.d.Engine().Lease(a.Lease.ID)
		return ok && l.State == coord.LeaseAcked
	})
	op, _ := h.session(rpc.HelloParams{Name: "op", Role: "client"})
	ctx := context.Background()
	dave := "dave"
	r, err := op.IssueUpdate(ctx, rpc.IssueUpdateParams{ID: "t-1", Assignee: &dave})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(r.Issue); !strings.Contains(s, `"status":"open"`) || !strings.Contains(s, `"assignee":"dave"`) {
		t.Fatalf("reassigned issue: %s, want open and dave's", s)
	}
	if _, ok := h.d.Engine().Lease(a.Lease.ID); ok {
		t.Error("carl's lease outlived the reassignment")
	}
	carl.none(t, 300*time.Millisecond) // not back to carl: it is dave's now
	d := h.worker("dave", 1)
	if got := d.next(t, 5*time.Second); got.Lease.IssueID != "t-1" || !got.Lease.Reserved {
		t.Fatalf("dave got %+v", got.Lease)
	}
}

// TestSlungBeadIsPushedToItsWorker: Gas Town's sling writes a bead as hooked with the worker as its
// assignee (`bd update ID --status=hooked --assignee=NAME`); the worker of that name, connected to gtc,
// gets it pushed within a sync tick — and no other worker does. gtc took every hooked bead for taken,
// so a slung bead never reached its worker.
func TestSlungBeadIsPushedToItsWorker(t *testing.T) {
	const nux = "gastown/polecats/nux"
	done := strings.Replace(line("t-0", "done", 1), `"status":"open"`, `"status":"closed"`, 1)
	h := start(t, []string{done}, nil)
	bob := h.worker("bob", 1)
	w := h.worker(nux, 1)
	slung := strings.Replace(line("t-1", "slung", 1), `"status":"open"`, `"status":"hooked","assignee":"`+nux+`"`, 1)
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(path, []byte(done+"\n"+slung+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := w.next(t, 10*time.Second) // a tick or two; bounded generously for a loaded CI machine
	if a.Lease.IssueID != "t-1" || !a.Lease.Reserved {
		t.Fatalf("nux got %+v, want its slung t-1", a.Lease)
	}
	bob.none(t, 300*time.Millisecond)
}
