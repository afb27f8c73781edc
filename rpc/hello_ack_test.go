package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// helloPushBackend pushes an assignment from inside Hello (as the daemon's engine does for a worker that
// connects while issues are ready) and keeps hello open until the worker's ack reached the backend.
type helloPushBackend struct {
	*fakeBackend
	srv          *Server
	ackedInHello chan bool
}

func (b *helloPushBackend) Hello(_ context.Context, s *Session, _ HelloParams) (*HelloResult, error) {
	if err := b.srv.Push(s.Worker, s.ID, Assignment{Lease: coord.Lease{ID: "L-9", Epoch: 9, IssueID: "bd-9"}, Issue: issueJSON("bd-9")}); err != nil {
		return nil, err
	}
	select {
	case <-b.fakeBackend.acked:
		b.ackedInHello <- true
	case <-time.After(time.Second):
		b.ackedInHello <- false
	}
	return &HelloResult{HeartbeatMS: 1000}, nil
}

// An assign pushed while hello is served can be acked before hello's reply: that ack must count.
func TestAckOfPushMadeDuringHello(t *testing.T) {
	b := &helloPushBackend{fakeBackend: newFake(), ackedInHello: make(chan bool, 1)}
	s := NewServer(b, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.srv = s
	l, err := ListenUnix(filepath.Join(t.TempDir(), "gtc.sock"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx, "test over")
		wg.Wait()
	})

	nc, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	if _, err := io.WriteString(nc, `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"name":"w1","protocol":1}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	var push struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	line, err := r.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &push) != nil || push.Method != "assign" {
		t.Fatalf("want the assign before hello's reply, got %q (%v)", line, err)
	}
	if _, err := io.WriteString(nc, `{"jsonrpc":"2.0","id":`+string(push.ID)+`,"result":{"accepted":true}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if !wait(t, b.ackedInHello, "hello to see the ack") {
		t.Fatal("the ack sent while hello was served was dropped (the lease would wait for its ack deadline)")
	}
	if line, err = r.ReadBytes('\n'); err != nil || !json.Valid(line) {
		t.Fatalf("hello reply %q: %v", line, err)
	}
	var reply struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
	}
	if json.Unmarshal(line, &reply) != nil || reply.ID != 1 || reply.Result == nil {
		t.Fatalf("hello reply %s", line)
	}
}
