package daemon

import (
	"testing"
	"time"
)

func TestNextSyncWait(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		interval, took time.Duration
		failed         bool
		want           time.Duration
	}{
		{2 * s, 0, false, 2 * s}, // the configured tick, start to start
		{2 * s, 50 * time.Millisecond, false, 1950 * time.Millisecond},
		{2 * s, 200 * time.Millisecond, false, 1800 * time.Millisecond}, // a tenth: still the tick
		{2 * s, 300 * time.Millisecond, false, 2700 * time.Millisecond}, // more: ten times the sync, start to start
		{2 * s, 3 * s, false, 27 * s},
		{2 * s, 30 * s, false, 30 * s},   // a sync that waited out bd's lock: capped
		{10 * s, 30 * s, false, 100 * s}, // the cap is ten intervals when that is longer
		{2 * s, 30 * s, true, 2 * s},     // a failed sync is retried at the tick
		{50 * time.Millisecond, 600 * time.Millisecond, true, 50 * time.Millisecond},
		{time.Millisecond, 0, false, time.Millisecond},
		{2 * s, -4 * s, false, 2 * s}, // lock waits that began before the sync, subtracted: the tick
	} {
		if got := nextSyncWait(tc.interval, tc.took, tc.failed); got != tc.want {
			t.Errorf("nextSyncWait(%v, %v, %v) = %v, want %v", tc.interval, tc.took, tc.failed, got, tc.want)
		}
	}
}
