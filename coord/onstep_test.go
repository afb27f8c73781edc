package coord

import (
	"sync"
	"testing"
	"time"
)

// TestOnStepObservesEveryStep checks that the engine reports each loop step with its batch size.
func TestOnStepObservesEveryStep(t *testing.T) {
	var (
		mu      sync.Mutex
		steps   int
		batched int
	)
	cfg := testCfg()
	cfg.OnStep = func(d time.Duration, batch int) {
		if d < 0 {
			t.Errorf("negative step duration %v", d)
		}
		mu.Lock()
		steps++
		batched += batch
		mu.Unlock()
	}
	h := startEngine(t, cfg, newMemPersister(nil), NewFakeClock(time.Unix(1_700_000_000, 0)))
	if err := h.e.PutIssues(h.ctx, puts(iss("t-1", 1), iss("t-2", 2))); err != nil {
		t.Fatal(err)
	}
	_ = h.e.Status()
	h.stop()
	mu.Lock()
	defer mu.Unlock()
	if steps < 2 || batched < 2 {
		t.Fatalf("OnStep saw %d steps carrying %d requests; want at least 2 and 2", steps, batched)
	}
}
