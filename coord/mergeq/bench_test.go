package mergeq

import (
	"testing"
	"time"
)

// BenchmarkAcquireMerged measures one slot cycle (Acquire + Merged + Submit of a replacement) with
// n requests pending on one target.
func BenchmarkAcquireMerged(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		for _, par := range []int{1, 4} {
			b.Run(itoa(n)+"-pending/parallel-"+itoa(par), func(b *testing.B) {
				q := New(Config{MaxParallel: par})
				now := t0
				for i := 0; i < n; i++ {
					_, _, err := q.Submit(now, Submission{IssueID: "bd-" + itoa(i), Worker: "w", Branch: "b",
						Priority: i % 5, Files: []string{"f" + itoa(i%200) + ".go"}})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					now = now.Add(time.Second)
					r, _, ok := q.Acquire(now, "ref", "")
					if !ok {
						b.Fatal("nothing to acquire")
					}
					if _, _, err := q.Merged(now, r.ID, r.Epoch, ""); err != nil {
						b.Fatal(err)
					}
					if _, _, err := q.Submit(now, Submission{IssueID: "bd-n" + itoa(i), Worker: "w", Branch: "b",
						Priority: i % 5, Files: []string{"f" + itoa(i%200) + ".go"}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
