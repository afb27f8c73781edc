package loadtest

import (
	"runtime/debug"
	"testing"
)

func TestRelaxCollectorOverlappingRuns(t *testing.T) {
	t.Setenv("GOGC", "") // an operator's GOGC would win; t.Setenv also keeps this test off parallel ones
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }

	endA := relaxCollector()
	if got := percent(); got != runGCPercent {
		t.Fatalf("during a run GOGC = %d, want %d", got, runGCPercent)
	}
	endB := relaxCollector()
	endA()
	endA() // a second call changes nothing
	if got := percent(); got != runGCPercent {
		t.Fatalf("with one run still going GOGC = %d, want %d", got, runGCPercent)
	}
	endB()
	if got := percent(); got != 77 {
		t.Fatalf("after the last run GOGC = %d, want the 77 from before", got)
	}

	t.Setenv("GOGC", "150")
	end := relaxCollector()
	if got := percent(); got != 77 {
		t.Fatalf("with GOGC in the environment the run set GOGC %d, want it left at 77", got)
	}
	end()
}
