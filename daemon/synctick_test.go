package daemon

import (
	"testing"
	"time"
)

func TestNextSyncWait(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct{ interval, took, want time.Duration }{
		{2 * s, 0, 2 * s}, // the configured tick, start to start
		{2 * s, 50 * time.Millisecond, 1950 * time.Millisecond},
		{2 * s, 200 * time.Millisecond, 1800 * time.Millisecond}, // a tenth: still the tick
		{2 * s, 300 * time.Millisecond, 2700 * time.Millisecond}, // more: ten times the sync, start to start
		{2 * s, 5 * s, 45 * s},
		{time.Millisecond, 0, time.Millisecond},
	} {
		if got := nextSyncWait(tc.interval, tc.took); got != tc.want {
			t.Errorf("nextSyncWait(%v, %v) = %v, want %v", tc.interval, tc.took, got, tc.want)
		}
	}
}
