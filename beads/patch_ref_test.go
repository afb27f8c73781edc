package beads

// The patch code as it was before the allocation work (commit ebf6979), kept to hold the new code to the
// same bytes: TestPatchMatchesReference.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// refPatcher collects the edits that turn a record into the bytes of an Issue under a profile.
type refPatcher struct {
	p       Profile
	fresh   bool              // building a new record: every non-empty value is written
	present map[string][]byte // existing raw values by key
	edits   []edit
}

func (pt *refPatcher) set(key string, val []byte) {
	pt.edits = append(pt.edits, edit{key: key, val: val, pos: pt.p.keyPos(key)})
}

func (pt *refPatcher) remove(key string) {
	if _, ok := pt.present[key]; ok {
		pt.edits = append(pt.edits, edit{key: key})
	}
}

// setIfDiff sets key to val unless the existing bytes are already val.
func (pt *refPatcher) setIfDiff(key string, val []byte) {
	if old, ok := pt.present[key]; ok && bytes.Equal(old, val) {
		return
	}
	pt.set(key, val)
}

func (pt *refPatcher) str(key, o, n string, always bool) {
	if !pt.fresh && o == n {
		return
	}
	if n == "" && !always {
		pt.remove(key)
		return
	}
	pt.setIfDiff(key, appendJSONString(nil, n))
}

func (pt *refPatcher) defaulted(key, o, n, def string) {
	if !pt.fresh && orDefault(o, def) == orDefault(n, def) {
		return
	}
	if n == "" {
		pt.remove(key)
		return
	}
	pt.setIfDiff(key, appendJSONString(nil, n))
}

func (pt *refPatcher) boolean(key string, o, n bool) {
	if !pt.fresh && o == n {
		return
	}
	if !n {
		pt.remove(key)
		return
	}
	pt.setIfDiff(key, []byte("true"))
}

func (pt *refPatcher) timeReq(key string, o, n time.Time) {
	if !pt.fresh && pt.timesEqual(o, n) {
		return
	}
	pt.setIfDiff(key, pt.p.appendTime(nil, n))
}

func (pt *refPatcher) timePtr(key string, o, n *time.Time) {
	if !pt.fresh {
		if o == nil && n == nil {
			return
		}
		if o != nil && n != nil && pt.timesEqual(*o, *n) {
			return
		}
	}
	if n == nil {
		pt.remove(key)
		return
	}
	pt.setIfDiff(key, pt.p.appendTime(nil, *n))
}

func (pt *refPatcher) timesEqual(o, n time.Time) bool {
	return o.Equal(n) || o.Equal(pt.p.normTime(n))
}

// Apply sets every managed field (those of Issue) that differs from the record, keeping key order,
// unknown keys and the spelling of unchanged timestamps. It reports whether the bytes changed.
func refApply(r *Record, is Issue, p Profile) (changed bool, err error) {
	if r.Kind != KindIssue {
		return false, fmt.Errorf("apply %s: line %d is not an issue record", is.ID, r.Line)
	}
	if is.ID != r.ID {
		return false, fmt.Errorf("apply %s: record holds id %s", is.ID, r.ID)
	}
	old, err := r.issueRef()
	if err != nil {
		return false, fmt.Errorf("apply %s: %w", is.ID, err)
	}
	return refPatch(r, old, &is, p, false)
}

// NewRecord builds the canonical record bd would write for a new issue under profile p.
func refNewRecord(is Issue, p Profile) (*Record, error) {
	if is.ID == "" {
		return nil, fmt.Errorf("new record: issue without id")
	}
	r := &Record{Kind: KindIssue, ID: is.ID, raw: []byte("{}")}
	if _, err := refPatch(r, &Issue{}, &is, p, true); err != nil {
		return nil, err
	}
	return r, nil
}

func refPatch(r *Record, old, is *Issue, p Profile, fresh bool) (bool, error) {
	ms, open, closeAt, err := scanObject(r.raw)
	if err != nil {
		return false, fmt.Errorf("patch %s: %w", r.ID, err)
	}
	pt := &refPatcher{p: p, fresh: fresh, present: make(map[string][]byte, len(ms))}
	for _, m := range ms {
		pt.present[m.key] = r.raw[m.valueStart:m.end]
	}
	if p == ModernTyped {
		if _, ok := pt.present["_type"]; !ok {
			pt.set("_type", []byte(`"issue"`))
		}
	}
	if fresh {
		pt.set("id", appendJSONString(nil, is.ID))
	}
	pt.str("title", old.Title, is.Title, true)
	pt.str("description", old.Description, is.Description, false)
	pt.str("design", old.Design, is.Design, false)
	pt.str("acceptance_criteria", old.AcceptanceCriteria, is.AcceptanceCriteria, false)
	pt.str("notes", old.Notes, is.Notes, false)
	pt.defaulted("status", old.Status, is.Status, "open")
	if fresh || old.Priority != is.Priority {
		pt.setIfDiff("priority", strconv.AppendInt(nil, int64(is.Priority), 10))
	}
	pt.defaulted("issue_type", old.IssueType, is.IssueType, "task")
	pt.str("assignee", old.Assignee, is.Assignee, false)
	pt.str("owner", old.Owner, is.Owner, false)
	pt.timeReq("created_at", old.CreatedAt, is.CreatedAt)
	pt.str("created_by", old.CreatedBy, is.CreatedBy, false)
	pt.timeReq("updated_at", old.UpdatedAt, is.UpdatedAt)
	if _, ok := pt.present["started_at"]; ok || p.Modern() {
		pt.timePtr("started_at", old.StartedAt, is.StartedAt)
	}
	pt.timePtr("closed_at", old.ClosedAt, is.ClosedAt)
	pt.str("close_reason", old.CloseReason, is.CloseReason, false)
	pt.timePtr("defer_until", old.DeferUntil, is.DeferUntil)
	pt.labels(old.Labels, is.Labels)
	pt.deps(is.Dependencies)
	pt.comments(is.Comments)
	if _, ok := pt.present["deleted_at"]; ok || !p.Modern() {
		pt.timePtr("deleted_at", old.DeletedAt, is.DeletedAt)
	}
	_, wisp := pt.present["wisp"]
	if _, eph := pt.present["ephemeral"]; wisp && !eph {
		pt.boolean("wisp", old.Ephemeral, is.Ephemeral) // v0.35–v0.37 spelling: keep it
	} else {
		pt.boolean("ephemeral", old.Ephemeral, is.Ephemeral)
	}
	pt.boolean("pinned", old.Pinned, is.Pinned)
	if p.Modern() {
		pt.setIfDiff("dependency_count", strconv.AppendInt(nil, int64(blocksCount(is.Dependencies)), 10))
		if _, ok := pt.present["dependent_count"]; !ok {
			pt.set("dependent_count", []byte("0"))
		}
		pt.setIfDiff("comment_count", strconv.AppendInt(nil, int64(len(is.Comments)), 10))
	}
	if len(pt.edits) == 0 {
		return false, nil
	}
	raw := refRebuild(r.raw, ms, open, closeAt, pt.edits, p)
	if bytes.Equal(raw, r.raw) {
		return false, nil
	}
	r.raw, r.scanned, r.members, r.issue = raw, false, nil, nil
	return true, nil
}

// rebuild writes the object with edits applied: replaced values in place, removed keys dropped, new
// keys inserted right after the last existing key that comes before them in the profile's order.
func refRebuild(raw []byte, ms []member, open, closeAt int, edits []edit, p Profile) []byte {
	byKey := make(map[string]*edit, len(edits))
	existing := make(map[string]bool, len(ms))
	for _, m := range ms {
		existing[m.key] = true
	}
	// after[i+1] holds the inserts anchored after member i; after[0] those before every member.
	after := make([][]edit, len(ms)+1)
	for i := range edits {
		e := &edits[i]
		if existing[e.key] {
			byKey[e.key] = e
			continue
		}
		if e.val == nil {
			continue
		}
		anchor := -1
		if e.pos >= 0 {
			for j, m := range ms {
				if mp := p.keyPos(m.key); mp >= 0 && mp < e.pos {
					anchor = j
				}
			}
		} else {
			anchor = len(ms) - 1
		}
		after[anchor+1] = append(after[anchor+1], *e)
	}
	head, tail := raw[:open+1], raw[closeAt:]
	if len(ms) > 0 { // keep the whitespace inside the braces
		head, tail = raw[:ms[0].start], raw[ms[len(ms)-1].end:]
	}
	out := make([]byte, 0, len(raw)+64)
	out = append(out, head...)
	first := true
	sep := func() {
		if !first {
			out = append(out, ',')
		}
		first = false
	}
	emitNew := func(list []edit) {
		slices.SortStableFunc(list, func(a, b edit) int { return a.pos - b.pos })
		for _, e := range list {
			sep()
			out = appendJSONString(out, e.key)
			out = append(out, ':')
			out = append(out, e.val...)
		}
	}
	emitNew(after[0])
	for i, m := range ms {
		if e, ok := byKey[m.key]; ok {
			if e.val != nil {
				sep()
				out = append(out, raw[m.start:m.valueStart]...)
				out = append(out, e.val...)
			}
		} else {
			sep()
			out = append(out, raw[m.start:m.end]...)
		}
		emitNew(after[i+1])
	}
	return append(out, tail...)
}

func (pt *refPatcher) labels(o, n []string) {
	ns := slices.Clone(n)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	if !pt.fresh {
		os := slices.Clone(o)
		slices.Sort(os)
		os = slices.Compact(os)
		if slices.Equal(os, ns) {
			return
		}
	}
	if len(ns) == 0 {
		pt.remove("labels")
		return
	}
	out := []byte{'['}
	for i, l := range ns {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, l)
	}
	pt.setIfDiff("labels", append(out, ']'))
}

// elem is an existing array element: its raw bytes and parsed value.
type refElem[T any] struct {
	raw []byte
	v   T
	key string
}

// refMergeArray encodes the new elements, reusing the raw bytes of an existing element equal to the new
// one; existing elements keep their order, new ones follow in the given order.
func refMergeArray[T any](old []refElem[T], n []T, keyOf func(T) string, eq func(a, b T) bool, enc func([]byte, T) []byte) []byte {
	used := make([]bool, len(n))
	out := []byte{'['}
	count := 0
	add := func(b []byte) {
		if count > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
		count++
	}
	for _, o := range old {
		for j, v := range n {
			if used[j] || keyOf(v) != o.key {
				continue
			}
			used[j] = true
			if eq(o.v, v) {
				add(o.raw)
			} else {
				add(enc(nil, v))
			}
			break
		}
	}
	for j, v := range n {
		if !used[j] {
			add(enc(nil, v))
		}
	}
	if count == 0 {
		return nil
	}
	return append(out, ']')
}

func refOldElems[T any](raw []byte, keyOf func(T) string, dec func([]byte) (T, error)) []refElem[T] {
	if raw == nil {
		return nil
	}
	spans, err := scanArray(raw)
	if err != nil {
		return nil
	}
	out := make([]refElem[T], 0, len(spans))
	for _, s := range spans {
		b := raw[s[0]:s[1]]
		v, err := dec(b)
		if err != nil {
			continue
		}
		out = append(out, refElem[T]{raw: b, v: v, key: keyOf(v)})
	}
	return out
}

func (pt *refPatcher) depMeta(m string) string {
	if pt.p.Modern() && m == "" {
		return "{}"
	}
	return m
}

func (pt *refPatcher) deps(n []Dependency) {
	var old []refElem[Dependency]
	if !pt.fresh {
		old = refOldElems(pt.present["dependencies"], depKey, refDecodeDep)
	}
	eq := func(a, b Dependency) bool {
		return a.IssueID == b.IssueID && a.DependsOnID == b.DependsOnID && a.Type == b.Type &&
			a.CreatedBy == b.CreatedBy && pt.depMeta(a.Metadata) == pt.depMeta(b.Metadata) &&
			pt.timesEqual(a.CreatedAt, b.CreatedAt)
	}
	val := refMergeArray(old, n, depKey, eq, pt.encodeDep)
	if val == nil {
		pt.remove("dependencies")
		return
	}
	pt.setIfDiff("dependencies", val)
}

func refDecodeDep(b []byte) (Dependency, error) {
	var w wireDep
	if err := json.Unmarshal(b, &w); err != nil {
		return Dependency{}, err
	}
	return Dependency{IssueID: w.IssueID, DependsOnID: w.DependsOnID, Type: w.Type,
		CreatedAt: w.CreatedAt.t, CreatedBy: w.CreatedBy, Metadata: string(w.Metadata)}, nil
}

func (pt *refPatcher) encodeDep(dst []byte, d Dependency) []byte {
	dst = append(dst, `{"issue_id":`...)
	dst = appendJSONString(dst, d.IssueID)
	dst = append(dst, `,"depends_on_id":`...)
	dst = appendJSONString(dst, d.DependsOnID)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, d.Type)
	dst = append(dst, `,"created_at":`...)
	dst = pt.p.appendTime(dst, d.CreatedAt)
	if d.CreatedBy != "" {
		dst = append(dst, `,"created_by":`...)
		dst = appendJSONString(dst, d.CreatedBy)
	}
	if m := pt.depMeta(d.Metadata); m != "" {
		dst = append(dst, `,"metadata":`...)
		dst = appendJSONString(dst, m)
	}
	return append(dst, '}')
}

func (pt *refPatcher) comments(n []Comment) {
	var old []refElem[Comment]
	if !pt.fresh {
		old = refOldElems(pt.present["comments"], commentKey, refDecodeComment)
	}
	eq := func(a, b Comment) bool {
		return a.ID == b.ID && a.IssueID == b.IssueID && a.Author == b.Author && a.Text == b.Text &&
			pt.timesEqual(a.CreatedAt, b.CreatedAt)
	}
	val := refMergeArray(old, n, commentKey, eq, pt.encodeComment)
	if val == nil {
		pt.remove("comments")
		return
	}
	pt.setIfDiff("comments", val)
}

func refDecodeComment(b []byte) (Comment, error) {
	var w wireComment
	if err := json.Unmarshal(b, &w); err != nil {
		return Comment{}, err
	}
	return Comment{ID: string(w.ID), IssueID: w.IssueID, Author: w.Author, Text: w.Text, CreatedAt: w.CreatedAt.t}, nil
}

func (pt *refPatcher) encodeComment(dst []byte, c Comment) []byte {
	dst = append(dst, `{"id":`...)
	if pt.p.Modern() {
		dst = appendJSONString(dst, c.ID)
	} else if n, err := strconv.ParseInt(c.ID, 10, 64); err == nil {
		dst = strconv.AppendInt(dst, n, 10)
	} else if c.ID == "" {
		dst = append(dst, '0')
	} else {
		dst = appendJSONString(dst, c.ID)
	}
	dst = append(dst, `,"issue_id":`...)
	dst = appendJSONString(dst, c.IssueID)
	dst = append(dst, `,"author":`...)
	dst = appendJSONString(dst, c.Author)
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, c.Text)
	dst = append(dst, `,"created_at":`...)
	dst = pt.p.appendTime(dst, c.CreatedAt)
	return append(dst, '}')
}
