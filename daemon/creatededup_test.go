package daemon

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
)

// createLabelsScan and createDepsScan are issue.create's de-duplication as it was (a scan of the kept
// labels or dependencies per one), for the differential test.
func createLabelsScan(ls []string) []string {
	var out []string
	for _, l := range ls {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func createDepsScan(deps []rpc.DepSpec, now time.Time) ([]beads.Dependency, error) {
	var out []beads.Dependency
	for _, dp := range deps {
		if dp.ID == "" {
			return nil, coord.Errorf(coord.EInvalid, "deps: id is required")
		}
		t := dp.Type
		if t == "" {
			t = "blocks"
		}
		if len(t) > maxDepType {
			return nil, coord.Errorf(coord.EInvalid, "deps: type at most %d characters", maxDepType)
		}
		if slices.ContainsFunc(out, func(d beads.Dependency) bool { return d.DependsOnID == dp.ID && d.Type == t }) {
			continue
		}
		out = append(out, beads.Dependency{DependsOnID: dp.ID, Type: t, CreatedAt: now, CreatedBy: "gtc"})
	}
	return out, nil
}

// TestCreateDedupDifferential checks createLabels and createDeps against the scans on random params:
// repeats, blanks and padding, empty ids, default and over-long types.
func TestCreateDedupDifferential(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pads := []string{"", " ", "\t", "  "}
	for it := range 3000 {
		n := rnd.IntN(40)
		if it%200 == 0 {
			n = 1000 + rnd.IntN(1000)
		}
		distinct := 1 + rnd.IntN(n+1)
		var ls []string
		var deps []rpc.DepSpec
		for range n {
			l := fmt.Sprintf("l%d", rnd.IntN(distinct))
			switch rnd.IntN(10) {
			case 0:
				l = pads[rnd.IntN(len(pads))]
			case 1:
				l = pads[rnd.IntN(len(pads))] + l + pads[rnd.IntN(len(pads))]
			}
			ls = append(ls, l)
			d := rpc.DepSpec{ID: fmt.Sprintf("d%d", rnd.IntN(distinct))}
			switch rnd.IntN(8) {
			case 0:
				d.Type = "blocks"
			case 1:
				d.Type = "related"
			case 2:
				d.Type = "parent-child"
			}
			if rnd.IntN(400) == 0 {
				d.ID = ""
			}
			if rnd.IntN(400) == 0 {
				d.Type = strings.Repeat("x", maxDepType+rnd.IntN(2))
			}
			deps = append(deps, d)
		}
		if got, want := createLabels(ls), createLabelsScan(ls); !reflect.DeepEqual(got, want) {
			t.Fatalf("labels %q: got %#v, want %#v", ls, got, want)
		}
		got, gerr := createDeps(deps, now)
		want, werr := createDepsScan(deps, now)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(gerr) != fmt.Sprint(werr) || coord.ErrorCode(gerr) != coord.ErrorCode(werr) {
			t.Fatalf("deps %v: got %v, %v; want %v, %v", deps, got, gerr, want, werr)
		}
	}
}
