package coord

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The scheduler model plus convoy creation (labels added in place), protocol edits of labels and
// types with KeepState, and claims with nil filters, checking the marked searches after every step.
func TestPropertyMarksWithConvoys(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newPropModel(t)
		nconv := 0
		for i, n := 0, rapid.IntRange(1, 80).Draw(t, "steps"); i < n; i++ {
			switch rapid.IntRange(0, 5).Draw(t, "extra") {
			case 0:
				nconv++
				var ids []string
				for _, id := range propIDs {
					if m.c.issues[id] != nil && rapid.Bool().Draw(t, "member") {
						ids = append(ids, id)
					}
				}
				name := rapid.SampledFrom([]string{"k", "j"}).Draw(t, "convoy")
				_, _ = m.c.convoyCreate(m.now, ConvoyCreate{Name: name, TrackingID: fmt.Sprintf("cv-%d", nconv), IssueIDs: ids})
				m.checkMarks(t)
				m.commit()
				m.check(t)
				m.checkLive(t)
			case 1:
				id := rapid.SampledFrom(propIDs).Draw(t, "eid")
				if it := m.c.issues[id]; it != nil {
					is := issueOf(m.c.metaOf(it))
					is.Labels = rapid.SampledFrom([][]string{nil, {"x"}, {"convoy:k"}, {"convoy:j", "x"}}).Draw(t, "elabels")
					is.IssueType = rapid.SampledFrom([]string{"task", "bug"}).Draw(t, "etype")
					is.UpdatedAt = m.now
					_ = m.c.putIssues(m.now, []IssuePut{{Issue: is, KeepState: true}})
					m.checkMarks(t)
					m.commit()
					m.check(t)
					m.checkLive(t)
				}
			case 2:
				w := rapid.SampledFrom(propWorkers).Draw(t, "cw")
				if x := m.c.workers[w]; x != nil && x.connected {
					want := ""
					if it := m.c.best(w, &x.row.Filters, true); it != nil && !m.c.paused {
						want = it.id
					}
					a, _, _ := m.c.claim(m.now, w, nil, time.Minute)
					if got := ""; a != nil && a.Lease.IssueID != want || a == nil && want != "" {
						if a != nil {
							got = a.Lease.IssueID
						}
						t.Fatalf("claim(nil filters) got %q, full search %q", got, want)
					}
					m.checkMarks(t)
					m.commit()
					m.check(t)
					m.checkLive(t)
				}
			default:
				m.step(t)
				m.checkLive(t)
			}
		}
	})
}
