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

// TestGapOfMatchesInsertion holds gapOf to the insertion it replaces (each candidate, in id order, goes
// before the first picked record that sorts after it, else at the end if it sorts before the line).
func TestGapOfMatchesInsertion(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(r *rand.Rand, id string) sortKey {
		return sortKey{id: id, priority: r.IntN(4), created: t0.Add(time.Duration(r.IntN(5)) * time.Hour)}
	}
	for _, prof := range []Profile{Classic, ModernUntyped, ModernTyped} {
		for seed := uint64(0); seed < 500; seed++ {
			r := rand.New(rand.NewPCG(seed, 7+uint64(prof)))
			e := &streamExport{prof: prof}
			var cand []int
			for i := range r.IntN(40) {
				id := fmt.Sprintf("bd-%03d", i*2)
				e.news = append(e.news, pendingRec{rec: &Record{Kind: KindIssue, ID: id}, key: key(r, id)})
				cand = append(cand, i)
			}
			origID := fmt.Sprintf("bd-%03d", r.IntN(81))
			ko, kf := key(r, origID), key(r, origID)
			handled, haveF := r.IntN(2) == 0, r.IntN(3) > 0
			got := e.gapOf(cand, origID, ko, kf, handled, haveF)
			var want []pendingRec
			for _, i := range cand {
				n := e.news[i]
				n.idx = i
				if j := slices.IndexFunc(want, func(x pendingRec) bool { return compareKeys(prof, n.key, x.key) < 0 }); j >= 0 {
					want = slices.Insert(want, j, n)
					continue
				}
				useFinal := handled && origID < n.rec.ID
				if useFinal && !haveF {
					continue
				}
				k := ko
				if useFinal {
					k = kf
				}
				if compareKeys(prof, n.key, k) < 0 {
					want = append(want, n)
				}
			}
			ids := func(g []pendingRec) (out []string) {
				for _, n := range g {
					out = append(out, fmt.Sprintf("%s#%d", n.rec.ID, n.idx))
				}
				return out
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Fatalf("%v seed %d: gapOf %v, insertion %v", prof, seed, ids(got), ids(want))
			}
		}
	}
}
