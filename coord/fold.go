package coord

import (
	"sort"
)

// fold keeps the durable state as a Persister sees it: Changes folded in after each successful
// Commit. The engine rebuilds its core from it when a Commit fails, so no undurable decision survives.
type fold struct {
	issues   map[string]*IssueMeta
	leases   map[string]Lease
	workers  map[string]WorkerRow
	merges   map[string]MergeRequest
	meta     map[string]string
	maxEpoch int64
}

// newFold starts from a snapshot (nil = empty).
func newFold(s *Snapshot) *fold {
	f := &fold{issues: map[string]*IssueMeta{}, leases: map[string]Lease{}, workers: map[string]WorkerRow{},
		merges: map[string]MergeRequest{}, meta: map[string]string{}}
	if s == nil {
		return f
	}
	for i := range s.Issues {
		m := s.Issues[i]
		f.issues[m.ID] = &m
	}
	for _, l := range s.Leases {
		f.leases[l.ID] = l
	}
	for _, w := range s.Workers {
		f.workers[w.Name] = w
	}
	for _, m := range s.Merges {
		f.merges[m.ID] = m
	}
	for k, v := range s.Meta {
		f.meta[k] = v
	}
	f.maxEpoch = s.MaxEpoch
	return f
}

// apply folds committed changes in.
func (f *fold) apply(chs []Change) {
	for _, ch := range chs {
		switch x := ch.(type) {
		case IssuePut:
			m := MetaOf(x.Issue)
			if old := f.issues[m.ID]; old != nil {
				m.Attempts, m.NotBefore = old.Attempts, old.NotBefore
				if m.StartedAt == nil {
					m.StartedAt = old.StartedAt
				}
			}
			f.issues[m.ID] = &m
		case IssueState:
			f.applyState(&x)
		case *IssueState:
			f.applyState(x)
		case LeasePut:
			f.applyLease(&x.Lease)
		case *LeasePut:
			f.applyLease(&x.Lease)
		case WorkerPut:
			f.workers[x.Worker.Name] = x.Worker
		case MetaPut:
			f.meta[x.Key] = x.Value
		case MergePut:
			f.merges[x.Request.ID] = x.Request
		}
	}
}

// applyState folds in an IssueState.
func (f *fold) applyState(x *IssueState) {
	m := f.issues[x.ID]
	if m == nil {
		return
	}
	m.Status, m.Assignee, m.UpdatedAt, m.CloseReason = x.Status, x.Assignee, x.UpdatedAt, x.CloseReason
	m.Attempts, m.NotBefore = x.Attempts, x.NotBefore
	if x.StartedAt != nil {
		t := *x.StartedAt
		m.StartedAt = &t
	}
	if len(x.AddLabels)+len(x.DelLabels) > 0 {
		labels := make([]string, 0, len(m.Labels)+len(x.AddLabels))
		for _, l := range m.Labels {
			if !hasLabel(x.DelLabels, l) {
				labels = append(labels, l)
			}
		}
		for _, l := range x.AddLabels {
			if !hasLabel(labels, l) {
				labels = append(labels, l)
			}
		}
		m.Labels = labels
	}
}

// applyLease folds in a LeasePut.
func (f *fold) applyLease(l *Lease) {
	if l.Live() {
		f.leases[l.ID] = *l
	} else {
		delete(f.leases, l.ID)
	}
	if l.Epoch > f.maxEpoch {
		f.maxEpoch = l.Epoch
	}
}

// snapshot returns the folded state, sorted (issues by id, leases by epoch, workers by name).
func (f *fold) snapshot() *Snapshot {
	s := &Snapshot{Meta: map[string]string{}, MaxEpoch: f.maxEpoch}
	for _, m := range f.issues {
		c := *m
		c.Labels = append([]string(nil), m.Labels...)
		s.Issues = append(s.Issues, c)
	}
	sort.Slice(s.Issues, func(i, j int) bool { return s.Issues[i].ID < s.Issues[j].ID })
	for _, l := range f.leases {
		s.Leases = append(s.Leases, l)
	}
	sort.Slice(s.Leases, func(i, j int) bool { return s.Leases[i].Epoch < s.Leases[j].Epoch })
	for _, w := range f.workers {
		s.Workers = append(s.Workers, w)
	}
	sort.Slice(s.Workers, func(i, j int) bool { return s.Workers[i].Name < s.Workers[j].Name })
	// the live requests, then (as store.Load) the newest finished request of each issue under a live
	// lease: its outcome applies when that lease ends code complete (mergeDecidedDuring)
	leased := map[string]bool{}
	for _, l := range f.leases {
		leased[l.IssueID] = true
	}
	newest := map[string]MergeRequest{}
	for _, m := range f.merges {
		switch m.State {
		case "merged", "failed", "cancelled":
			if n, ok := newest[m.IssueID]; leased[m.IssueID] && (!ok || n.UpdatedAt.Before(m.UpdatedAt) ||
				n.UpdatedAt.Equal(m.UpdatedAt) && mergeIDLess(n.ID, m.ID)) {
				newest[m.IssueID] = m
			}
			continue
		}
		s.Merges = append(s.Merges, m)
	}
	sort.Slice(s.Merges, func(i, j int) bool { return s.Merges[i].ID < s.Merges[j].ID })
	done := make([]MergeRequest, 0, len(newest))
	for _, m := range newest {
		done = append(done, m)
	}
	sort.Slice(done, func(i, j int) bool {
		if !done[i].UpdatedAt.Equal(done[j].UpdatedAt) {
			return done[i].UpdatedAt.Before(done[j].UpdatedAt)
		}
		return mergeIDLess(done[i].ID, done[j].ID)
	})
	s.Merges = append(s.Merges, done...)
	for k, v := range f.meta {
		s.Meta[k] = v
	}
	return s
}

// mergeIDLess orders merge request ids by their sequence ("MR-9" before "MR-10"), then as text.
func mergeIDLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}
