package convoy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/coord/convoy"
)

type nopPersister struct{}

func (nopPersister) Commit(context.Context, []coord.Change) error { return nil }

// TestEngineConvoysMatchCompute checks that the scheduler's convoy figures (coord cannot import this
// package) equal All and Compute over the same issues.
func TestEngineConvoysMatchCompute(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for seed := uint64(1); seed <= 20; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 7))
		var issues []beads.Issue
		for i := 0; i < 60; i++ {
			is := beads.Issue{ID: fmt.Sprintf("gt-%02d", i), Title: "x", Priority: rnd.IntN(5), IssueType: "task",
				Status: []string{"open", "in_progress", "hooked", "closed", "blocked"}[rnd.IntN(5)], CreatedAt: t0, UpdatedAt: t0}
			if rnd.IntN(8) == 0 {
				is.IssueType = convoy.TypeConvoy
			}
			for _, n := range []string{"a", "b", "c"} {
				if rnd.IntN(3) == 0 {
					is.Labels = append(is.Labels, convoy.Label(n))
				}
			}
			if rnd.IntN(6) == 0 {
				is.Labels = append(is.Labels, []string{convoy.LabelFailed, convoy.LabelHookBad}[rnd.IntN(2)])
			}
			issues = append(issues, is)
		}
		clk := coord.NewFakeClock(t0)
		e, err := coord.NewEngine(coord.Config{}, clk, nopPersister{}, nil, coord.DiscardOutbox{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		var puts []coord.IssuePut
		var metas []coord.IssueMeta
		for _, is := range issues {
			puts = append(puts, coord.IssuePut{Issue: is, FromImport: true})
			metas = append(metas, coord.MetaOf(is))
		}
		if err := e.PutIssues(ctx, puts); err != nil {
			t.Fatal(err)
		}
		got, want := e.ConvoyList(), convoy.All(metas)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d convoys, want %d", seed, len(got), len(want))
		}
		for i := range want {
			g, w := got[i], want[i]
			if g.Name != w.Name || g.Total != w.Total || g.Closed != w.Closed || g.InProgress != w.InProgress ||
				g.Failed != w.Failed || g.Open != w.Open || g.Percent != w.Percent || g.Complete != w.Complete ||
				g.TrackingID != w.TrackingID || fmt.Sprint(g.IssueIDs) != fmt.Sprint(w.IssueIDs) {
				t.Fatalf("seed %d convoy %s:\n got %+v\nwant %+v", seed, w.Name, g, w)
			}
			if cp := convoy.Compute(w.Name, metas); cp.Total != g.Total || cp.Closed != g.Closed {
				t.Fatalf("seed %d: Compute %+v differs from All", seed, cp)
			}
		}
	}
}
