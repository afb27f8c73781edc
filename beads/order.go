package beads

import (
	"cmp"
	"encoding/json"
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
