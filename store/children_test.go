package store

import (
	"context"
	"testing"

	"github.com/gastown/gtc/coord"
)

// TestLastChild: the highest n of the ids parent.n, whatever else shares the prefix.
func TestLastChild(t *testing.T) {
	db := openTest(t, Options{})
	var puts []coord.Change
	for _, id := range []string{"bd-a", "bd-a.1", "bd-a.2", "bd-a.10", "bd-a.3.7", "bd-a.x", "bd-a.+12", "bd-a.1234567890",
		"bd-ab.40", "bd-a-b.50", "bd-b.9", "bd-a0.60"} {
		puts = append(puts, coord.IssuePut{Issue: sampleIssue(id)})
	}
	commit(t, db, puts...)
	for _, tc := range []struct {
		parent string
		want   int
	}{{"bd-a", 10}, {"bd-a.3", 7}, {"bd-b", 9}, {"bd-ab", 40}, {"bd-c", 0}, {"bd-a.1", 0}} {
		got, err := db.LastChild(context.Background(), tc.parent)
		if err != nil || got != tc.want {
			t.Errorf("LastChild(%s) = %d, %v; want %d", tc.parent, got, err, tc.want)
		}
	}
}
