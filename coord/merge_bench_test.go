package coord_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/mergeq"
)

// BenchmarkMergeRoundTrip measures one merge through the engine: submit, slot push to a refinery,
// report (nop persister: the engine's own cost).
func BenchmarkMergeRoundTrip(b *testing.B) { mergeRoundTrips(b, 0) }

// BenchmarkScaleMergeWorkers is BenchmarkMergeRoundTrip with n other workers connected.
func BenchmarkScaleMergeWorkers(b *testing.B) {
	for _, n := range []int{2500, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { mergeRoundTrips(b, n) })
	}
}

func mergeRoundTrips(b *testing.B, others int) {
	clk := coord.NewFakeClock(mt0)
	out := newMergeOut()
	e, err := coord.NewEngine(coord.Config{MergeQueue: mergeq.Factory(mergeq.Config{KeepDone: 100})}, clk, &failPersister{}, nil, out)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var puts []coord.IssuePut
	for i := 0; i < b.N; i++ {
		puts = append(puts, task(fmt.Sprintf("gt-%d", i), i%5))
	}
	if err := e.PutIssues(ctx, puts); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < others; i++ {
		if _, err := e.Connect(ctx, coord.Hello{Name: fmt.Sprint("c", i), Role: "client"}, uint64(2+i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range []coord.Hello{{Name: "w", Role: "client"}, {Name: "r", Role: coord.RoleRefinery}} {
		if _, err := e.Connect(ctx, w, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.MergeSubmit(ctx, "w", coord.MergeSubmit{IssueID: fmt.Sprintf("gt-%d", i), Branch: "b", Files: []string{"a.go"}}); err != nil {
			b.Fatal(err)
		}
		var m mergePushed
		select {
		case m = <-out.merges:
		case <-time.After(5 * time.Second):
			b.Fatal("no push")
		}
		if _, err := e.MergeReport(ctx, "r", m.req.ID, m.req.Epoch, coord.MergeResult{Merged: true}); err != nil {
			b.Fatal(err)
		}
	}
}
