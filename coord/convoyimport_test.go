package coord

import (
	"slices"
	"testing"
)

// An import puts a convoy's records in file order, in batches: a closed member before an open one must
// not close the tracking issue only for the open one to open it again (two state writes and two events
// in the audit log for nothing); the batch's end state decides.
func TestConvoyImportDecidesByTheBatch(t *testing.T) {
	tests := []struct {
		name       string
		members    []string // statuses, in file order
		wantEvents []string
		wantStatus string // the tracking issue's
	}{
		{"a closed member before an open one", []string{"closed", "open"}, nil, "open"},
		{"an open member before a closed one", []string{"open", "closed"}, nil, "open"},
		{"every member closed", []string{"closed", "closed"}, []string{"convoy_completed"}, "closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCore(testCfg(), nil, t0)
			ps := puts(iss("a-track", 2, withType(TypeConvoy), withLabels(ConvoyLabelPrefix+"x")))
			for i, st := range tc.members {
				ps = append(ps, puts(iss(string(rune('b'+i))+"-member", 2, withLabels(ConvoyLabelPrefix+"x"), withStatus(st)))...)
			}
			if err := c.putIssues(t0, ps); err != nil {
				t.Fatal(err)
			}
			changes, _ := c.take()
			var kinds []string
			for _, ch := range changes {
				if e, ok := ch.(*EventAppend); ok && e.Event.IssueID == "a-track" {
					kinds = append(kinds, e.Event.Kind)
				}
			}
			if !slices.Equal(kinds, tc.wantEvents) {
				t.Errorf("tracking issue events %v, want %v", kinds, tc.wantEvents)
			}
			if got := c.str(c.issues["a-track"].status); got != tc.wantStatus {
				t.Errorf("tracking issue %s, want %s", got, tc.wantStatus)
			}
		})
	}
}
