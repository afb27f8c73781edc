package beads

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestPlaceBlockMatchesPlaceEach holds the linear placement of the records that no line stopped to the
// one-by-one placement it replaces, on random held lines (without new records or removed lines, where
// finishTail uses it) and random pending records in id order, in every profile, with and without an
// issue line written before them.
func TestPlaceBlockMatchesPlaceEach(t *testing.T) {
	kinds := []Kind{KindIssue, KindMemory, KindOther, KindBlank}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, prof := range []Profile{Classic, ModernUntyped, ModernTyped} {
		for seed := uint64(0); seed < 300; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(prof)))
			var held []tailItem
			for i := range r.IntN(6) {
				k := kinds[r.IntN(len(kinds))]
				held = append(held, tailItem{kind: k, id: fmt.Sprintf("h-%d", i), raw: []byte(fmt.Sprintf("line %d", i))})
			}
			var pending []pendingRec
			for i := range r.IntN(40) {
				id := fmt.Sprintf("bd-%03d", i*3+r.IntN(3)) // increasing: pending is in id order
				k := sortKey{id: id, priority: r.IntN(3), created: t0.Add(time.Duration(r.IntN(4)) * time.Hour)}
				pending = append(pending, pendingRec{rec: &Record{Kind: KindIssue, ID: id, raw: []byte(id)}, key: k, rev: int64(i)})
			}
			anchor := r.IntN(2) == 0
			each := &streamExport{prof: prof, tail: slices.Clone(held), pending: slices.Clone(pending), anchor: anchor}
			block := &streamExport{prof: prof, tail: slices.Clone(held), pending: slices.Clone(pending), anchor: anchor}
			each.placeEach()
			block.placeBlock()
			if got, want := order(block.tail), order(each.tail); !slices.Equal(got, want) {
				t.Fatalf("%v seed %d anchor %v:\nblock %v\neach  %v", prof, seed, anchor, got, want)
			}
		}
	}
}

// order names the held items in order (raw bytes, new records marked).
func order(tail []tailItem) []string {
	out := make([]string, len(tail))
	for i, it := range tail {
		out[i] = string(it.raw)
		if it.isNew {
			out[i] = "+" + out[i]
		}
	}
	return out
}
