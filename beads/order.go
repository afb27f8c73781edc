package beads

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// sortKey is what the profiles' file order compares.
type sortKey struct {
	id       string
	priority int
	created  time.Time
}

func (r *Record) sortKey() sortKey {
	k := sortKey{id: r.ID}
	if v := r.value("priority"); v != nil {
		if n, err := strconv.Atoi(string(v)); err == nil {
			k.priority = n
		}
	}
	if v := r.value("created_at"); v != nil {
		var s string
		if json.Unmarshal(v, &s) == nil {
			k.created, _ = parseTime(s)
		}
	}
	return k
}

// compareRecords orders two issue records the way the profile's bd sorts the file (§11): classic by
// id byte-wise; modern by priority ASC, created_at DESC, id ASC.
func compareRecords(p Profile, a, b *Record) int {
	if !p.Modern() {
		return cmp.Compare(a.ID, b.ID)
	}
	ka, kb := a.sortKey(), b.sortKey()
	if c := cmp.Compare(ka.priority, kb.priority); c != 0 {
		return c
	}
	if c := kb.created.Compare(ka.created); c != 0 {
		return c
	}
	return cmp.Compare(ka.id, kb.id)
}

// Upsert replaces the issue record with rec's id in place, or inserts rec where the profile's sort
// puts it: before the first issue record that sorts after it, else after the last issue record
// (so before memory lines). Existing records are never re-sorted.
func (f *File) Upsert(rec *Record) {
	if f.index == nil {
		f.reindex()
	}
	if i, ok := f.index[rec.ID]; ok {
		f.Records[i] = rec
		return
	}
	pos, lastIssue := -1, -1
	for i, r := range f.Records {
		if r.Kind != KindIssue {
			continue
		}
		lastIssue = i
		if pos < 0 && compareRecords(f.Profile, rec, r) < 0 {
			pos = i
			break
		}
	}
	if pos < 0 {
		pos = lastIssue + 1
		if lastIssue < 0 {
			pos = len(f.Records)
			for i, r := range f.Records {
				if r.Kind == KindMemory {
					pos = i
					break
				}
			}
		}
	}
	f.Records = append(f.Records, nil)
	copy(f.Records[pos+1:], f.Records[pos:])
	f.Records[pos] = rec
	f.reindex()
}

// blocksDependents counts, for every id, the blocks edges that point at it from the file's records.
func (f *File) blocksDependents() (map[string]int, error) {
	out := make(map[string]int)
	for _, r := range f.Records {
		if r.Kind != KindIssue {
			continue
		}
		if r.value("dependencies") == nil {
			continue
		}
		is, err := r.issueRef()
		if err != nil {
			return nil, err
		}
		for _, d := range is.Dependencies {
			if d.Type == "blocks" {
				out[d.DependsOnID]++
			}
		}
	}
	return out, nil
}

// setDependentCount writes the dependent_count key of a modern record; it reports whether bytes changed.
func (r *Record) setDependentCount(n int, p Profile) bool {
	ms, open, closeAt, err := scanObject(r.raw)
	if err != nil {
		return false
	}
	val := strconv.AppendInt(nil, int64(n), 10)
	for _, m := range ms {
		if m.key == "dependent_count" && string(r.raw[m.valueStart:m.end]) == string(val) {
			return false
		}
	}
	r.raw = rebuild(r.raw, ms, open, closeAt, []edit{{key: "dependent_count", val: val, pos: p.keyPos("dependent_count")}}, p)
	r.scanned, r.members = false, nil
	return true
}

// fileEdit makes a sequence of File.Get, Remove and Upsert calls as one batch, with the same result, in
// O((n + k) log n) instead of a scan, a move and a reindex per call (an export inserting thousands of
// records into a parsed file took seconds). Records and index stay as they were until finish.
//
// Upsert puts a new record before the first live issue record that sorts after it, else after the
// last live issue record, else before the first memory line, else at the end. The file's records keep
// their order, so an insert lands in a gap: right before the file's record g (g == n: the end). A
// segment tree over the gaps, each leaf holding the largest key among its gap's inserts and record g
// (when a live issue), finds the first gap holding a record that sorts after the new one. Everything
// before that record sorts before the new one, so each gap's inserts are in key order: finish sorts them.
type fileEdit struct {
	f      *File
	direct bool // the file repeats an issue id (or has no index): the calls go to the File
	n      int
	gone   []bool // per record of the file: removed
	nGone  int
	news   []*Record
	newGap []int32
	newIDs map[string]bool

	// built by the first insert
	tree   []int32   // per node the element with the largest key below it (-1: none), leaves from size
	size   int       // leaves: a power of two > n
	keys   []sortKey // modern: per element (the file's records, then news)
	best   []int32   // per gap its inserted record with the largest key, -1 when none
	memory int       // the first memory line (n when none)
}

func (f *File) edit() *fileEdit {
	e := &fileEdit{f: f}
	issues := 0
	for _, r := range f.Records {
		if r.Kind == KindIssue {
			issues++
		}
	}
	e.direct = f.index == nil || issues != len(f.index)
	e.reset()
	return e
}

func (e *fileEdit) reset() {
	e.n, e.gone, e.nGone = len(e.f.Records), nil, 0
	e.news, e.newGap, e.newIDs = nil, nil, nil
	e.tree, e.keys, e.best = nil, nil, nil
}

// get is File.Get.
func (e *fileEdit) get(id string) *Record {
	if e.direct {
		return e.f.Get(id)
	}
	if e.newIDs[id] {
		e.finish() // a record inserted by this edit: its key might change
	}
	if i, ok := e.f.index[id]; ok && (e.gone == nil || !e.gone[i]) {
		return e.f.Records[i]
	}
	return nil
}

// remove is File.Remove.
func (e *fileEdit) remove(id string) bool {
	if e.direct {
		return e.f.Remove(id)
	}
	if e.newIDs[id] {
		e.finish()
	}
	i, ok := e.f.index[id]
	if !ok || (e.gone != nil && e.gone[i]) {
		return false
	}
	if e.gone == nil {
		e.gone = make([]bool, e.n)
	}
	e.gone[i] = true
	e.nGone++
	if e.tree != nil {
		e.update(i)
	}
	return true
}

// changed is called after a record that get returned was patched: its sort key may have changed.
func (e *fileEdit) changed(r *Record) {
	if e.direct || e.tree == nil || !e.f.Profile.Modern() {
		return // a classic record sorts by its id; the keys are read when the tree is built
	}
	if i, ok := e.f.index[r.ID]; ok {
		e.keys[i] = r.sortKey()
		e.update(i)
	}
}

// upsert is File.Upsert.
func (e *fileEdit) upsert(r *Record) {
	if e.direct {
		e.f.Upsert(r)
		return
	}
	if e.get(r.ID) != nil {
		e.f.Records[e.f.index[r.ID]] = r
		e.changed(r)
		return
	}
	if e.tree == nil {
		e.build()
	}
	el := int32(e.n + len(e.news))
	e.news = append(e.news, r)
	if e.keys != nil {
		e.keys = append(e.keys, r.sortKey())
	}
	k := e.key(el)
	g := e.firstAfter(k)
	if g < 0 {
		if last := e.lastIssue(); last >= 0 {
			g = last // after its inserted records: k sorts after all of them
			if last < e.n && e.live(last) {
				g = last + 1
			}
		} else {
			g = e.memory
		}
	}
	e.newGap = append(e.newGap, int32(g))
	if e.newIDs == nil {
		e.newIDs = make(map[string]bool)
	}
	e.newIDs[r.ID] = true
	if b := e.best[g]; b < 0 || compareKeys(e.f.Profile, k, e.key(b)) > 0 {
		e.best[g] = el
	}
	e.update(g)
}

// finish lays the records out in the File and reindexes it; the edit can go on after it.
func (e *fileEdit) finish() {
	if e.direct || (e.nGone == 0 && len(e.news) == 0) {
		return
	}
	f := e.f
	order := make([]int32, len(e.news))
	for k := range order {
		order[k] = int32(k)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(e.newGap[a], e.newGap[b]); c != 0 {
			return c
		}
		return compareKeys(f.Profile, e.key(int32(e.n)+a), e.key(int32(e.n)+b))
	})
	out := make([]*Record, 0, e.n-e.nGone+len(e.news))
	k := 0
	for g := 0; g <= e.n; g++ {
		for ; k < len(order) && int(e.newGap[order[k]]) == g; k++ {
			out = append(out, e.news[order[k]])
		}
		if g < e.n && (e.gone == nil || !e.gone[g]) {
			out = append(out, f.Records[g])
		}
	}
	f.Records = out
	f.reindex()
	e.reset()
}

// key is the sort key of element el (a record of the file below n, else an inserted one).
func (e *fileEdit) key(el int32) sortKey {
	if e.keys != nil {
		return e.keys[el]
	}
	if int(el) < e.n {
		return sortKey{id: e.f.Records[el].ID}
	}
	return sortKey{id: e.news[int(el)-e.n].ID}
}

// live reports whether the file's record i is an issue record not removed.
func (e *fileEdit) live(i int) bool {
	return e.f.Records[i].Kind == KindIssue && (e.gone == nil || !e.gone[i])
}

func (e *fileEdit) build() {
	f := e.f
	e.memory = e.n
	for i, r := range f.Records {
		if r.Kind == KindMemory {
			e.memory = i
			break
		}
	}
	if f.Profile.Modern() {
		e.keys = make([]sortKey, e.n, e.n+16)
		for i, r := range f.Records {
			if r.Kind == KindIssue {
				e.keys[i] = r.sortKey()
			}
		}
	}
	e.best = make([]int32, e.n+1)
	for g := range e.best {
		e.best[g] = -1
	}
	e.size = 1
	for e.size <= e.n {
		e.size *= 2
	}
	e.tree = make([]int32, 2*e.size)
	for i := range e.tree {
		e.tree[i] = -1
	}
	for i := 0; i < e.n; i++ {
		if e.live(i) {
			e.tree[e.size+i] = int32(i)
		}
	}
	for v := e.size - 1; v >= 1; v-- {
		e.tree[v] = e.larger(e.tree[2*v], e.tree[2*v+1])
	}
}

// larger returns the element of a and b with the larger key (-1: none).
func (e *fileEdit) larger(a, b int32) int32 {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	case compareKeys(e.f.Profile, e.key(b), e.key(a)) > 0:
		return b
	}
	return a
}

// update recomputes gap g's leaf and its ancestors.
func (e *fileEdit) update(g int) {
	v := int32(-1)
	if g < e.n && e.live(g) {
		v = int32(g)
	}
	v = e.larger(e.best[g], v)
	i := e.size + g
	e.tree[i] = v
	for i /= 2; i >= 1; i /= 2 {
		e.tree[i] = e.larger(e.tree[2*i], e.tree[2*i+1])
	}
}

// firstAfter returns the first gap whose leaf holds a record that sorts after k, -1 when none does.
func (e *fileEdit) firstAfter(k sortKey) int {
	p := e.f.Profile
	if e.tree[1] < 0 || compareKeys(p, e.key(e.tree[1]), k) <= 0 {
		return -1
	}
	v := 1
	for v < e.size {
		if l := e.tree[2*v]; l >= 0 && compareKeys(p, e.key(l), k) > 0 {
			v = 2 * v
		} else {
			v = 2*v + 1
		}
	}
	return v - e.size
}

// lastIssue returns the last gap whose leaf holds a live issue record, -1 when none does.
func (e *fileEdit) lastIssue() int {
	if e.tree[1] < 0 {
		return -1
	}
	v := 1
	for v < e.size {
		if e.tree[2*v+1] >= 0 {
			v = 2*v + 1
		} else {
			v = 2 * v
		}
	}
	return v - e.size
}
