package coord

import (
	"strconv"
	"testing"
)

func TestEventDetailsText(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 123, -1} {
		if got, want := attemptDetail(n), "attempt "+strconv.Itoa(n); got != want {
			t.Errorf("attemptDetail(%d) = %q, want %q", n, got, want)
		}
	}
	for _, c := range [][2]string{{OutcomeSuccess, ""}, {OutcomeCodeComplete, ""}, {OutcomeSuccess, "x (commit y)"},
		{OutcomeFailure, ""}, {"", ""}} {
		if got, want := outcomeDetail(c[0], c[1]), c[0]+": "+c[1]; got != want {
			t.Errorf("outcomeDetail(%q, %q) = %q, want %q", c[0], c[1], got, want)
		}
	}
}
