package loadtest

import "testing"

// TestFailsAnExactShare: --fail-rate fails an exact share of the sessions, spread evenly: the harness's
// smoke scenario (10 issues, 10 %) missed its 80 % success criterion on the dice in a bench-load run
// (10 of 13 sessions succeeded) with a draw per session.
func TestFailsAnExactShare(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		sessions int
		fails    int
	}{
		{0, 50, 0}, {0.1, 9, 0}, {0.1, 10, 1}, {0.1, 13, 1}, {0.1, 100, 10}, {0.15, 300, 45}, {0.2, 1000, 200}, {1, 7, 7},
	} {
		d := &driver{cfg: Config{FailRate: tc.rate}}
		fails, run, longest := 0, 0, 0
		for range tc.sessions {
			if d.failsNext() {
				fails++
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
		if fails != tc.fails {
			t.Errorf("rate %g over %d sessions: %d fails, want %d", tc.rate, tc.sessions, fails, tc.fails)
		}
		if tc.rate > 0 && tc.rate <= 0.5 && longest > 1 {
			t.Errorf("rate %g: %d fails in a row, want them spread", tc.rate, longest)
		}
	}
}
