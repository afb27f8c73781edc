package daemon

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBdV1FileGetsBdV1Readiness: a workspace whose issues.jsonl bd v1 writes (its lines carry
// dependency_count) is scheduled by bd v1's rules: an issue blocked by one in a custom status
// (in_review) is not handed out, which classic rules would do.
func TestBdV1FileGetsBdV1Readiness(t *testing.T) {
	v1 := func(l string) string {
		return strings.Replace(l, `,"x_custom":{"keep":"me"}}`, `,"dependency_count":0,"dependent_count":0,"comment_count":0}`, 1)
	}
	review := strings.Replace(v1(line("t-1", "in review", 1)), `"status":"open"`, `"status":"in_review"`, 1)
	h := start(t, []string{review, v1(line("t-2", "after the review", 2, "t-1")), v1(line("t-3", "free", 3))}, nil)
	eventually(t, 5*time.Second, "bd v1 rules", func() bool { return h.d.modernSet.Load() })
	if ready := h.d.Engine().Ready(0); !slices.Equal(ready, []string{"t-3"}) {
		t.Fatalf("ready %v, want t-3 alone (t-2 waits for t-1's review under bd v1's rules)", ready)
	}
	if !h.d.modern.Load() {
		t.Error("the v1 file was not taken for bd v1's")
	}
}
