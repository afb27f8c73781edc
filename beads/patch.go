package beads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// edit is one change to a record's top-level key: a new value, or removal when val is nil.
type edit struct {
	key string
	val []byte
	pos int // profile position, for inserts
}

// patcher collects the edits that turn a record into the bytes of an Issue under a profile. One is
// reused across records (patchers): its slices keep their capacity, the encoded values share vals.
type patcher struct {
	p     Profile
	fresh bool // building a new record: every non-empty value is written
	raw   []byte
	ms    []member // the record's top-level members
	edits []edit
	vals  []byte // the edits' encoded values, back to back
	ins   []insert
	pos   []int // profile position of each member, for inserts
	keys  []string
	used  []bool
	dst   *[]byte // when set, rebuild writes the record into this buffer (grown as needed)
}

// patchers holds idle patchers; a patcher references no record once put back.
var patchers = sync.Pool{New: func() any { return new(patcher) }}

func getPatcher(p Profile, fresh bool) *patcher {
	pt := patchers.Get().(*patcher)
	pt.p, pt.fresh = p, fresh
	return pt
}

func (pt *patcher) release() {
	clear(pt.edits)
	clear(pt.keys)
	pt.raw, pt.ms, pt.edits, pt.vals, pt.keys, pt.dst = nil, pt.ms[:0], pt.edits[:0], pt.vals[:0], pt.keys[:0], nil
	if cap(pt.vals) > 64<<10 {
		pt.vals = nil // a huge record: do not keep its buffer
	}
	patchers.Put(pt)
}

// present returns the existing raw value of key (its last occurrence, as a decoder reads it).
func (pt *patcher) present(key string) ([]byte, bool) {
	for i := len(pt.ms) - 1; i >= 0; i-- {
		if m := &pt.ms[i]; m.key == key {
			return pt.raw[m.valueStart:m.end], true
		}
	}
	return nil, false
}

func (pt *patcher) has(key string) bool {
	_, ok := pt.present(key)
	return ok
}

// value returns the bytes appended to pt.vals since start, as an edit value.
func (pt *patcher) value(start int) []byte { return pt.vals[start:len(pt.vals):len(pt.vals)] }

func (pt *patcher) set(key string, val []byte) {
	pt.edits = append(pt.edits, edit{key: key, val: val, pos: pt.p.keyPos(key)})
}

func (pt *patcher) remove(key string) {
	if pt.has(key) {
		pt.edits = append(pt.edits, edit{key: key})
	}
}

// setIfDiff sets key to val unless the existing bytes are already val.
func (pt *patcher) setIfDiff(key string, val []byte) {
	if old, ok := pt.present(key); ok && bytes.Equal(old, val) {
		return
	}
	pt.set(key, val)
}

func (pt *patcher) setString(key, n string) {
	start := len(pt.vals)
	pt.vals = appendJSONString(pt.vals, n)
	pt.setIfDiff(key, pt.value(start))
}

func (pt *patcher) setTime(key string, t time.Time) {
	start := len(pt.vals)
	pt.vals = pt.p.appendTime(pt.vals, t)
	pt.setIfDiff(key, pt.value(start))
}

func (pt *patcher) setInt(key string, n int) {
	start := len(pt.vals)
	pt.vals = strconv.AppendInt(pt.vals, int64(n), 10)
	pt.setIfDiff(key, pt.value(start))
}

func (pt *patcher) str(key, o, n string, always bool) {
	if !pt.fresh && o == n {
		return
	}
	if n == "" && !always {
		pt.remove(key)
		return
	}
	pt.setString(key, n)
}

func (pt *patcher) defaulted(key, o, n, def string) {
	if !pt.fresh && orDefault(o, def) == orDefault(n, def) {
		return
	}
	if n == "" {
		pt.remove(key)
		return
	}
	pt.setString(key, n)
}

func (pt *patcher) boolean(key string, o, n bool) {
	if !pt.fresh && o == n {
		return
	}
	if !n {
		pt.remove(key)
		return
	}
	pt.setIfDiff(key, []byte("true"))
}

func (pt *patcher) timeReq(key string, o, n time.Time) {
	if !pt.fresh && pt.timesEqual(o, n) {
		return
	}
	pt.setTime(key, n)
}

func (pt *patcher) timePtr(key string, o, n *time.Time) {
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
	pt.setTime(key, *n)
}

func (pt *patcher) timesEqual(o, n time.Time) bool {
	return o.Equal(n) || o.Equal(pt.p.normTime(n))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// appendJSONString appends s encoded like encoding/json (HTML escaping on, invalid UTF-8 → \ufffd).
func appendJSONString(dst []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// Apply sets every managed field (those of Issue) that differs from the record, keeping key order,
// unknown keys and the spelling of unchanged timestamps. It reports whether the bytes changed.
func (r *Record) Apply(is Issue, p Profile) (changed bool, err error) {
	if r.Kind != KindIssue {
		return false, fmt.Errorf("apply %s: line %d is not an issue record", is.ID, r.Line)
	}
	if is.ID != r.ID {
		return false, fmt.Errorf("apply %s: record holds id %s", is.ID, r.ID)
	}
	if r.issue == nil { // the view, without the copy Issue hands out
		v, err := decodeIssue(r.raw)
		if err != nil {
			return false, fmt.Errorf("apply %s: issue %s (line %d): %w", is.ID, r.ID, r.Line, err)
		}
		r.issue = &v
	}
	return r.patch(r.issue, &is, p, false)
}

// recordOf is the line of a stored record the file does not hold: its stored bytes (as last imported
// or exported) patched with its current view, so the keys gtc does not model go back with it, or a new
// record when it has no usable stored bytes (never written, or not an issue record of that id).
func recordOf(d *StoredRecord, p Profile) (*Record, error) {
	if len(d.Raw) > 0 {
		r := &Record{Kind: KindIssue, ID: d.ID, raw: bytes.Clone(d.Raw)}
		if _, err := r.Apply(d.Issue, p); err == nil {
			return r, nil
		}
	}
	return NewRecord(d.Issue, p)
}

// NewRecord builds the canonical record bd would write for a new issue under profile p.
func NewRecord(is Issue, p Profile) (*Record, error) {
	if is.ID == "" {
		return nil, fmt.Errorf("new record: issue without id")
	}
	r := &Record{Kind: KindIssue, ID: is.ID, raw: []byte("{}")}
	if _, err := r.patch(&Issue{}, &is, p, true); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Record) patch(old, is *Issue, p Profile, fresh bool) (bool, error) {
	return r.patchState(old, is, p, fresh, nil, nil)
}

// patchState is patch that also reports in stateOnly (when not nil) whether every key it changed is one
// of stateKeys: then the record decodes as before in every field but the state fields. With dst, new
// bytes are written into *dst (grown as needed, and kept there for the next call): r's bytes then alias
// it, and dst must not hold r's bytes before the call.
func (r *Record) patchState(old, is *Issue, p Profile, fresh bool, stateOnly *bool, dst *[]byte) (bool, error) {
	if stateOnly != nil {
		*stateOnly = false
	}
	pt := getPatcher(p, fresh)
	pt.dst = dst
	defer pt.release()
	ms, open, closeAt, err := scanObjectInto(pt.ms[:0], r.raw)
	if err != nil {
		return false, fmt.Errorf("patch %s: %w", r.ID, err)
	}
	pt.raw, pt.ms = r.raw, ms
	if p == ModernTyped && !pt.has("_type") {
		pt.set("_type", []byte(`"issue"`))
	}
	if fresh {
		pt.setString("id", is.ID)
	}
	pt.str("title", old.Title, is.Title, true)
	pt.str("description", old.Description, is.Description, false)
	pt.str("design", old.Design, is.Design, false)
	pt.str("acceptance_criteria", old.AcceptanceCriteria, is.AcceptanceCriteria, false)
	pt.str("notes", old.Notes, is.Notes, false)
	pt.defaulted("status", old.Status, is.Status, "open")
	if fresh || old.Priority != is.Priority {
		pt.setInt("priority", is.Priority)
	}
	pt.defaulted("issue_type", old.IssueType, is.IssueType, "task")
	pt.str("assignee", old.Assignee, is.Assignee, false)
	pt.str("owner", old.Owner, is.Owner, false)
	pt.timeReq("created_at", old.CreatedAt, is.CreatedAt)
	pt.str("created_by", old.CreatedBy, is.CreatedBy, false)
	pt.timeReq("updated_at", old.UpdatedAt, is.UpdatedAt)
	if p.Modern() || pt.has("started_at") {
		pt.timePtr("started_at", old.StartedAt, is.StartedAt)
	}
	pt.timePtr("closed_at", old.ClosedAt, is.ClosedAt)
	pt.str("close_reason", old.CloseReason, is.CloseReason, false)
	pt.timePtr("defer_until", old.DeferUntil, is.DeferUntil)
	pt.labels(old.Labels, is.Labels)
	pt.deps(old.Dependencies, is.Dependencies)
	pt.comments(old.Comments, is.Comments)
	if !p.Modern() || pt.has("deleted_at") {
		pt.timePtr("deleted_at", old.DeletedAt, is.DeletedAt)
	}
	if pt.has("wisp") && !pt.has("ephemeral") {
		pt.boolean("wisp", old.Ephemeral, is.Ephemeral) // v0.35–v0.37 spelling: keep it
	} else {
		pt.boolean("ephemeral", old.Ephemeral, is.Ephemeral)
	}
	pt.boolean("pinned", old.Pinned, is.Pinned)
	if p.Modern() {
		pt.setInt("dependency_count", blocksCount(is.Dependencies))
		if !pt.has("dependent_count") {
			pt.set("dependent_count", []byte("0"))
		}
		pt.setInt("comment_count", len(is.Comments))
	}
	if stateOnly != nil {
		*stateOnly = true
		for i := range pt.edits {
			if !stateKeys[pt.edits[i].key] {
				*stateOnly = false
				break
			}
		}
	}
	if len(pt.edits) == 0 {
		return false, nil
	}
	raw := pt.rebuild(open, closeAt)
	if bytes.Equal(raw, r.raw) {
		return false, nil
	}
	r.raw, r.scanned, r.members, r.issue = raw, false, nil, nil
	return true, nil
}

func blocksCount(deps []Dependency) int {
	n := 0
	for _, d := range deps {
		if d.Type == "blocks" {
			n++
		}
	}
	return n
}

// rebuild writes the object with edits applied (see rebuild).
func (pt *patcher) rebuild(open, closeAt int) []byte {
	return rebuildWith(pt.raw, pt.ms, open, closeAt, pt.edits, pt.p, pt)
}

// rebuild writes the object with edits applied: replaced values in place, removed keys dropped, new
// keys inserted right after the last existing key that comes before them in the profile's order.
func rebuild(raw []byte, ms []member, open, closeAt int, edits []edit, p Profile) []byte {
	return rebuildWith(raw, ms, open, closeAt, edits, p, nil)
}

// insert is an edit of a key the record does not hold, placed after member anchor (-1: before all).
type insert struct {
	anchor int
	e      *edit
}

// rebuildWith is rebuild using sc's buffers (nil: fresh ones). When several edits name one key, the
// last one applies; an edit applies to every member holding its key.
func rebuildWith(raw []byte, ms []member, open, closeAt int, edits []edit, p Profile, sc *patcher) []byte {
	if sc == nil {
		sc = &patcher{}
	}
	// editOf returns the last edit of key, or nil.
	editOf := func(key string) *edit {
		for i := len(edits) - 1; i >= 0; i-- {
			if edits[i].key == key {
				return &edits[i]
			}
		}
		return nil
	}
	size := len(raw)
	ins := sc.ins[:0]
	havePos := false
	for i := range edits {
		e := &edits[i]
		size += len(e.key) + len(e.val) + 8
		exists := false
		for j := range ms {
			if ms[j].key == e.key {
				exists = true
				break
			}
		}
		if exists || e.val == nil {
			continue
		}
		anchor := len(ms) - 1
		if e.pos >= 0 {
			if !havePos {
				sc.pos, havePos = sc.pos[:0], true
				for _, m := range ms {
					sc.pos = append(sc.pos, p.keyPos(m.key))
				}
			}
			anchor = -1
			for j, mp := range sc.pos {
				if mp >= 0 && mp < e.pos {
					anchor = j
				}
			}
		}
		ins = append(ins, insert{anchor: anchor, e: e})
	}
	// by anchor, then profile position, then edit order (the order rebuild always wrote them in)
	slices.SortStableFunc(ins, func(a, b insert) int {
		if a.anchor != b.anchor {
			return a.anchor - b.anchor
		}
		return a.e.pos - b.e.pos
	})
	head, tail := raw[:open+1], raw[closeAt:]
	if len(ms) > 0 { // keep the whitespace inside the braces
		head, tail = raw[:ms[0].start], raw[ms[len(ms)-1].end:]
	}
	var out []byte
	if sc.dst != nil && cap(*sc.dst) >= size {
		out = (*sc.dst)[:0]
	} else {
		out = make([]byte, 0, size)
	}
	out = append(out, head...)
	first := true
	k := 0
	emitNew := func(anchor int) {
		for ; k < len(ins) && ins[k].anchor == anchor; k++ {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = appendJSONString(out, ins[k].e.key)
			out = append(out, ':')
			out = append(out, ins[k].e.val...)
		}
	}
	emitNew(-1)
	for i, m := range ms {
		if e := editOf(m.key); e != nil {
			if e.val != nil {
				if !first {
					out = append(out, ',')
				}
				first = false
				out = append(out, raw[m.start:m.valueStart]...)
				out = append(out, e.val...)
			}
		} else {
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, raw[m.start:m.end]...)
		}
		emitNew(i)
	}
	clear(ins)
	sc.ins = ins[:0]
	out = append(out, tail...)
	if sc.dst != nil {
		*sc.dst = out
	}
	return out
}

func (pt *patcher) labels(o, n []string) {
	if !pt.fresh && slices.Equal(o, n) {
		return // the same list is the same set
	}
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
	start := len(pt.vals)
	pt.vals = append(pt.vals, '[')
	for i, l := range ns {
		if i > 0 {
			pt.vals = append(pt.vals, ',')
		}
		pt.vals = appendJSONString(pt.vals, l)
	}
	pt.vals = append(pt.vals, ']')
	pt.setIfDiff("labels", pt.value(start))
}

// elem is an existing array element: its raw bytes and parsed value.
type elem[T any] struct {
	raw []byte
	v   T
	key string
}

// mergeArray appends to dst the new elements, reusing the raw bytes of an existing element equal to the
// new one; existing elements keep their order, new ones follow in the given order. It returns dst
// unchanged when there is no element.
func mergeArray[T any](pt *patcher, dst []byte, old []elem[T], n []T, keyOf func(T) string, eq func(a, b T) bool, enc func([]byte, T) []byte) []byte {
	used := slices.Grow(pt.used[:0], len(n))[:len(n)]
	clear(used)
	keys := pt.keys[:0]
	for _, v := range n {
		keys = append(keys, keyOf(v))
	}
	start := len(dst)
	dst = append(dst, '[')
	count := 0
	sep := func() {
		if count > 0 {
			dst = append(dst, ',')
		}
		count++
	}
	take := func(o *elem[T], j int) {
		used[j] = true
		sep()
		if eq(o.v, n[j]) {
			dst = append(dst, o.raw...)
		} else {
			dst = enc(dst, n[j])
		}
	}
	// Each existing element takes the first unused new one with its key. Past a few elements on both
	// sides they come from per-key chains of indexes in ascending order (scanning n for each existing
	// element was quadratic: a record with 8,000 comments cost ~200 ms a patch).
	if len(old) <= 8 || len(n) <= 8 {
		for i := range old {
			for j := range n {
				if !used[j] && keys[j] == old[i].key {
					take(&old[i], j)
					break
				}
			}
		}
	} else {
		first := make(map[string]int32, len(n)) // a key's first unused index, -1 when none is left
		next := make([]int32, len(n))           // the next index with the same key, -1 for the last
		for j := len(n) - 1; j >= 0; j-- {
			next[j] = -1
			if f, ok := first[keys[j]]; ok {
				next[j] = f
			}
			first[keys[j]] = int32(j)
		}
		for i := range old {
			if j, ok := first[old[i].key]; ok && j >= 0 {
				first[old[i].key] = next[j]
				take(&old[i], int(j))
			}
		}
	}
	for j, v := range n {
		if !used[j] {
			sep()
			dst = enc(dst, v)
		}
	}
	clear(keys)
	pt.keys, pt.used = keys[:0], used[:0]
	if count == 0 {
		return dst[:start]
	}
	return append(dst, ']')
}

// oldElems lists the elements of the existing array raw. view is the record's decoded list: when it
// is known to hold exactly the elements of raw (sameList), its values are used instead of decoding
// each element again.
func oldElems[T any](raw []byte, view []T, sameList bool, keyOf func(T) string, dec func([]byte) (T, error)) []elem[T] {
	if raw == nil {
		return nil
	}
	spans, err := scanArray(raw)
	if err != nil {
		return nil
	}
	out := make([]elem[T], 0, len(spans))
	if sameList && len(view) == len(spans) {
		for i, s := range spans {
			out = append(out, elem[T]{raw: raw[s[0]:s[1]], v: view[i], key: keyOf(view[i])})
		}
		return out
	}
	for _, s := range spans {
		b := raw[s[0]:s[1]]
		v, err := dec(b)
		if err != nil {
			continue
		}
		out = append(out, elem[T]{raw: b, v: v, key: keyOf(v)})
	}
	return out
}

// viewHolds reports whether the decoded view's list of key comes from the member key alone: no other
// member names it, not even in another case (a decoder matches keys case-insensitively and a repeated
// key merges into what the first one decoded). Keys with non-ASCII bytes are not vouched for.
func (pt *patcher) viewHolds(key string) bool {
	n := 0
	for _, m := range pt.ms {
		for i := 0; i < len(m.key); i++ {
			if m.key[i] >= utf8.RuneSelf {
				return false
			}
		}
		if strings.EqualFold(m.key, key) {
			n++
		}
	}
	return n == 1
}

// sameElems reports whether the existing array raw holds exactly the elements view, each equal to
// the new one, written compactly: then the merge would write raw itself back.
func sameElems[T any](raw []byte, view, n []T, eq func(a, b T) bool) bool {
	if len(view) != len(n) || len(n) == 0 || len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return false
	}
	for i := range n {
		if !eq(view[i], n[i]) {
			return false
		}
	}
	spans, err := scanArray(raw)
	if err != nil || len(spans) != len(n) {
		return false
	}
	at := 1
	for _, s := range spans {
		if s[0] != at {
			return false
		}
		at = s[1] + 1
	}
	return at == len(raw)
}

func depKey(d Dependency) string { return d.DependsOnID + "|" + d.Type }

func (pt *patcher) depMeta(m string) string {
	if pt.p.Modern() && m == "" {
		return "{}"
	}
	return m
}

func (pt *patcher) depEq(a, b Dependency) bool {
	return a.IssueID == b.IssueID && a.DependsOnID == b.DependsOnID && a.Type == b.Type &&
		a.CreatedBy == b.CreatedBy && pt.depMeta(a.Metadata) == pt.depMeta(b.Metadata) &&
		pt.timesEqual(a.CreatedAt, b.CreatedAt)
}

func (pt *patcher) deps(view, n []Dependency) {
	var old []elem[Dependency]
	if !pt.fresh {
		raw, _ := pt.present("dependencies")
		holds := raw != nil && pt.viewHolds("dependencies")
		if holds && sameElems(raw, view, n, pt.depEq) {
			return // the merge would write the same bytes
		}
		old = oldElems(raw, view, holds, depKey, decodeDep)
	}
	start := len(pt.vals)
	pt.vals = mergeArray(pt, pt.vals, old, n, depKey, pt.depEq, pt.encodeDep)
	if len(pt.vals) == start {
		pt.remove("dependencies")
		return
	}
	pt.setIfDiff("dependencies", pt.value(start))
}

func decodeDep(b []byte) (Dependency, error) {
	var w wireDep
	if err := json.Unmarshal(b, &w); err != nil {
		return Dependency{}, err
	}
	return Dependency{IssueID: w.IssueID, DependsOnID: w.DependsOnID, Type: w.Type,
		CreatedAt: w.CreatedAt.t, CreatedBy: w.CreatedBy, Metadata: string(w.Metadata)}, nil
}

func (pt *patcher) encodeDep(dst []byte, d Dependency) []byte {
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

func commentKey(c Comment) string {
	if c.ID != "" && c.ID != "0" {
		return "id:" + c.ID
	}
	return c.Author + ":" + strings.TrimSpace(c.Text)
}

func (pt *patcher) commentEq(a, b Comment) bool {
	return a.ID == b.ID && a.IssueID == b.IssueID && a.Author == b.Author && a.Text == b.Text &&
		pt.timesEqual(a.CreatedAt, b.CreatedAt)
}

func (pt *patcher) comments(view, n []Comment) {
	var old []elem[Comment]
	if !pt.fresh {
		raw, _ := pt.present("comments")
		holds := raw != nil && pt.viewHolds("comments")
		if holds && sameElems(raw, view, n, pt.commentEq) {
			return
		}
		old = oldElems(raw, view, holds, commentKey, decodeComment)
	}
	start := len(pt.vals)
	pt.vals = mergeArray(pt, pt.vals, old, n, commentKey, pt.commentEq, pt.encodeComment)
	if len(pt.vals) == start {
		pt.remove("comments")
		return
	}
	pt.setIfDiff("comments", pt.value(start))
}

func decodeComment(b []byte) (Comment, error) {
	var w wireComment
	if err := json.Unmarshal(b, &w); err != nil {
		return Comment{}, err
	}
	return Comment{ID: string(w.ID), IssueID: w.IssueID, Author: w.Author, Text: w.Text, CreatedAt: w.CreatedAt.t}, nil
}

func (pt *patcher) encodeComment(dst []byte, c Comment) []byte {
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
