package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// uniqueLabelsScan is uniqueLabels as it was (a scan of the kept labels per label).
func uniqueLabelsScan(ls []string) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// TestUniqueLabelsDifferential checks uniqueLabels against the scan on random lists, short and long
// (both sides of the set's threshold), with repeats.
func TestUniqueLabelsDifferential(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for it := range 3000 {
		n := rnd.IntN(80)
		if it%100 == 0 {
			n = 500 + rnd.IntN(2000)
		}
		distinct := 1 + rnd.IntN(n+1)
		var ls []string
		for range n {
			ls = append(ls, fmt.Sprintf("l%d", rnd.IntN(distinct)))
		}
		got, want := uniqueLabels(ls), uniqueLabelsScan(ls)
		if got == nil || !slices.Equal(got, want) {
			t.Fatalf("labels %q: got %q, want %q", ls, got, want)
		}
	}
	if got := uniqueLabels(nil); got == nil || len(got) != 0 {
		t.Fatalf("nil: %#v", got)
	}
}
