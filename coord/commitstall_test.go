package coord

import (
	"context"
	"strings"
	"testing"
	"time"
)

// blockingPersister commits through m once release is closed.
type blockingPersister struct {
	m       *memPersister
	entered chan struct{}
	release chan struct{}
}

func (b *blockingPersister) Commit(ctx context.Context, chs []Change) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.m.Commit(ctx, chs)
}

// TestHealthReportsAStalledCommit: a commit that neither returns nor fails (a frozen file system) is
// reported by Health once it has run for commitStall, and not before; health is ok again once it
// returns. Before, /healthz said ok while every change waited.
func TestHealthReportsAStalledCommit(t *testing.T) {
	mp := newMemPersister(nil)
	clk := NewFakeClock(t0)
	bp := &blockingPersister{m: mp, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := startEngineOn(t, testCfg(), mp, bp, clk)
	done := make(chan error, 1)
	go func() { done <- h.e.PutIssues(h.ctx, puts(iss("a", 1))) }()
	select {
	case <-bp.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the commit did not start")
	}
	clk.Advance(commitStall - time.Second)
	if err := h.e.Health(); err != nil {
		t.Fatalf("health %v after %v of a commit", err, commitStall-time.Second)
	}
	clk.Advance(2 * time.Second)
	err, since := h.e.StorageFailing()
	if err == nil || !strings.Contains(err.Error(), "stalled") || !since.Equal(t0) {
		t.Fatalf("health after %v of a commit: %v since %v", commitStall+time.Second, err, since)
	}
	close(bp.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := h.e.Health(); err != nil {
		t.Fatalf("health after the commit returned: %v", err)
	}
}
