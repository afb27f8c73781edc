package coord

import (
	"fmt"
	"testing"
)

// Scale benchmarks: each iteration runs one whole workload of size n (run with -benchtime 1x); the
// ratio between the two sizes shows how the cost grows.

var scaleSizes = []int{2500, 10000}

// BenchmarkScaleChainCreate creates a chain of n issues through the protocol, each blocked by the one
// before (the cycle check runs on every create).
func BenchmarkScaleChainCreate(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				c := newCore(testCfg(), nil, t0)
				for i := range n {
					is := iss(fmt.Sprintf("ch-%06d", i), 2)
					if i > 0 {
						withDep(fmt.Sprintf("ch-%06d", i-1), "blocks")(&is)
					}
					if err := c.putIssues(t0, []IssuePut{{Issue: is, Create: true}}); err != nil {
						b.Fatal(err)
					}
					c.take()
				}
			}
		})
	}
}
