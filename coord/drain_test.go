package coord_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestDrainHoldsUntilUndone: a drained worker gets no work after it reconnects, nor after the
// coordinator restarts (the drain is durable), until the drain is undone. Before, a reconnect ended it
// (a blip put a worker drained for maintenance back to work) and a restart lost it.
func TestDrainHoldsUntilUndone(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.hello("w", "worker", 1)
	if err := h.e.Drain(h.ctx, "w", ""); err != nil {
		t.Fatal(err)
	}
	h.put(task("gt-1", 2))
	noPush := func(h *mh, when string) {
		t.Helper()
		h.e.Status()
		select {
		case a := <-h.out.pushes:
			t.Fatalf("%s: the drained worker was pushed %s", when, a.Lease.IssueID)
		default:
		}
	}
	noPush(h, "drained")
	if err := h.e.Disconnect(h.ctx, "w", 1); err != nil {
		t.Fatal(err)
	}
	h.hello("w", "worker", 2)
	noPush(h, "after a reconnect")
	h.stop()
	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h2 := runMerge(t, mergeCfg(), db, snap, mt0.Add(time.Minute))
	h2.hello("w", "worker", 3)
	noPush(h2, "after a restart")
	if ws := h2.e.Workers(); len(ws) != 1 || ws[0].State != coord.WorkerDraining {
		t.Fatalf("workers after the restart: %+v", ws)
	}
	if err := h2.e.Undrain(h2.ctx, "w", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-h2.out.pushes:
		if a.Lease.IssueID != "gt-1" {
			t.Fatalf("pushed %s", a.Lease.IssueID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push after the drain was undone")
	}
}

// TestOwnDrainEndsWithTheSession: a worker's drain of its own session (it shuts down) ends when the
// session does — the worker restarted takes work — and is not written as a durable drain; an operator's
// drain on top of it holds after the reconnect.
func TestOwnDrainEndsWithTheSession(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.hello("w", "worker", 1)
	if err := h.e.DrainSession(h.ctx, "w", 1); err != nil {
		t.Fatal(err)
	}
	h.put(task("gt-1", 2))
	h.e.Status()
	select {
	case a := <-h.out.pushes:
		t.Fatalf("pushed %s to a worker draining itself", a.Lease.IssueID)
	default:
	}
	if err := h.e.Disconnect(h.ctx, "w", 1); err != nil {
		t.Fatal(err)
	}
	h.hello("w", "worker", 2)
	select {
	case <-h.out.pushes:
	case <-time.After(5 * time.Second):
		t.Fatal("the restarted worker got no work: its own drain outlived its session")
	}
	// the operator drains it on top of its own drain: that one is durable
	if err := h.e.DrainSession(h.ctx, "w", 2); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Drain(h.ctx, "w", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Disconnect(h.ctx, "w", 2); err != nil {
		t.Fatal(err)
	}
	h.hello("w", "worker", 3)
	if ws := h.e.Workers(); len(ws) != 1 || ws[0].State != coord.WorkerDraining {
		t.Fatalf("after the reconnect: %+v, want the operator's drain in force", ws)
	}
}

// TestOwnDrainEndsAtACrash: a worker's drain of its own session ends with that session also when the
// coordinator died meanwhile (kill -9: the row still reads state draining) — the restarted worker takes
// work, and is told of no operator's drain. The state column was read as a drain, so the worker's own
// Ctrl-C drain became an operator's one at the restart: a new process of that name was never pushed
// work (and, with the drain notification, `gtc worker --exit-when-drained` exited at once).
func TestOwnDrainEndsAtACrash(t *testing.T) {
	db := openStore(t, filepath.Join(t.TempDir(), "gtc.db"))
	h := runMerge(t, mergeCfg(), db, nil, mt0)
	h.hello("w", "worker", 1)
	if err := h.e.DrainSession(h.ctx, "w", 1); err != nil {
		t.Fatal(err)
	}
	h.stop() // no disconnect recorded: the coordinator died
	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h2 := runMerge(t, mergeCfg(), db, snap, mt0.Add(time.Minute))
	h2.put(task("gt-1", 2))
	h2.hello("w", "worker", 2)
	select {
	case <-h2.out.pushes:
	case <-time.After(5 * time.Second):
		t.Fatalf("the restarted worker got no work after a crash: its own drain outlived its session (%+v)", h2.e.Workers())
	}
}
