package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// TestDrainNotifiesTheWorker: an operator's coord.drain and its undo reach the worker's connection as
// drain notifications naming who did it, and a worker connecting while drained is told at once.
func TestDrainNotifiesTheWorker(t *testing.T) {
	h := start(t, nil, nil)
	ctx := context.Background()
	dial := func() (*rpc.Client, chan rpc.DrainNotice) {
		c, err := rpc.Dial(ctx, rpc.DialOptions{Network: "unix", Addr: h.d.SocketPath()})
		if err != nil {
			t.Fatal(err)
		}
		notes := make(chan rpc.DrainNotice, 4)
		c.OnDrain(func(n rpc.DrainNotice) { notes <- n })
		if _, err := c.Hello(ctx, rpc.HelloParams{Protocol: 1, Name: "w1", Capacity: 1}); err != nil {
			t.Fatal(err)
		}
		return c, notes
	}
	next := func(notes chan rpc.DrainNotice, what string) rpc.DrainNotice {
		t.Helper()
		select {
		case n := <-notes:
			return n
		case <-time.After(5 * time.Second):
			t.Fatalf("no drain notification %s", what)
		}
		return rpc.DrainNotice{}
	}
	w, notes := dial()
	op, _ := h.session(rpc.HelloParams{Name: "alice", Role: "client"})
	if _, err := op.CoordDrain(ctx, rpc.DrainParams{Worker: "w1"}); err != nil {
		t.Fatal(err)
	}
	if n := next(notes, "after the drain"); n != (rpc.DrainNotice{Draining: true, By: "alice"}) {
		t.Fatalf("after the drain: %+v", n)
	}
	w.Close()
	w, notes = dial()
	defer w.Close()
	if n := next(notes, "at the hello of a drained worker"); n != (rpc.DrainNotice{Draining: true}) {
		t.Fatalf("at the hello of a drained worker: %+v", n)
	}
	if _, err := op.CoordDrain(ctx, rpc.DrainParams{Worker: "w1", Undo: true}); err != nil {
		t.Fatal(err)
	}
	if n := next(notes, "after the undo"); n != (rpc.DrainNotice{Draining: false, By: "alice"}) {
		t.Fatalf("after the undo: %+v", n)
	}
}

// TestDrainSessionUndoRefused: coord.drain with session and undo is refused (invalid): a worker could end
// an operator's durable drain with it, and its own drain ends with its connection anyway.
func TestDrainSessionUndoRefused(t *testing.T) {
	h := start(t, nil, nil)
	ctx := context.Background()
	op, _ := h.session(rpc.HelloParams{Name: "alice", Role: "client"})
	w, _ := h.session(rpc.HelloParams{Name: "w1", Capacity: 1})
	if _, err := op.CoordDrain(ctx, rpc.DrainParams{Worker: "w1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CoordDrain(ctx, rpc.DrainParams{Worker: "w1", Session: true, Undo: true}); coord.ErrorCode(err) != coord.EInvalid {
		t.Fatalf("session+undo: %v, want invalid", err)
	}
	for _, ws := range h.d.Engine().Workers() {
		if ws.Name == "w1" && !ws.Draining {
			t.Fatalf("the operator's drain was ended: %+v", ws)
		}
	}
}
