package beads

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// mergeArrayScan is mergeArray as it was (a scan of n for every old element), for the differential test.
func mergeArrayScan[T any](dst []byte, old []elem[T], n []T, keyOf func(T) string, eq func(a, b T) bool, enc func([]byte, T) []byte) []byte {
	used := make([]bool, len(n))
	keys := make([]string, 0, len(n))
	for _, v := range n {
		keys = append(keys, keyOf(v))
	}
	start := len(dst)
	dst = append(dst, '[')
	count := 0
	sep := func() {
		if count > 0 {
			dst = append(dst, ',')
		}
		count++
	}
	for _, o := range old {
		for j, v := range n {
			if used[j] || keys[j] != o.key {
				continue
			}
			used[j] = true
			sep()
			if eq(o.v, v) {
				dst = append(dst, o.raw...)
			} else {
				dst = enc(dst, v)
			}
			break
		}
	}
	for j, v := range n {
		if !used[j] {
			sep()
			dst = enc(dst, v)
		}
	}
	if count == 0 {
		return dst[:start]
	}
	return append(dst, ']')
}

// TestMergeArrayDifferential checks mergeArray against the scan on random arrays, short (the scan)
// and long (the per-key chains), with repeated keys and values on both sides.
func TestMergeArrayDifferential(t *testing.T) {
	type kv struct{ k, v int }
	keyOf := func(x kv) string { return strconv.Itoa(x.k) }
	eq := func(a, b kv) bool { return a == b }
	enc := func(d []byte, x kv) []byte {
		return append(d, "{"+strconv.Itoa(x.k)+":"+strconv.Itoa(x.v)+"}"...)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for it := range 6000 {
		size := 12
		if it%2 == 0 {
			size = 40
		}
		if it%500 == 0 {
			size = 2000
		}
		keys := 1 + rnd.IntN(size)
		var old []elem[kv]
		for i := rnd.IntN(size); i > 0; i-- {
			x := kv{rnd.IntN(keys), rnd.IntN(2)}
			old = append(old, elem[kv]{raw: []byte("R" + strconv.Itoa(x.k) + "_" + strconv.Itoa(x.v)), v: x, key: keyOf(x)})
		}
		var n []kv
		for i := rnd.IntN(size); i > 0; i-- {
			n = append(n, kv{rnd.IntN(keys), rnd.IntN(2)})
		}
		pt := getPatcher(Classic, false) // pooled: its buffers were used by the cases before
		got := slices.Clone(mergeArray(pt, []byte("pre"), old, n, keyOf, eq, enc))
		pt.release()
		want := mergeArrayScan([]byte("pre"), old, n, keyOf, eq, enc)
		if !bytes.Equal(got, want) {
			t.Fatalf("old %v new %v: got %s want %s", old, n, got, want)
		}
	}
}
