package beads

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"slices"
	"time"
)

// lineHistory remembers, for a few seconds, the lines of a bd v1 file (whole-second times) that gtc
// wrote or read, by issue: an imported line of the same second as the line gtc last wrote is then told
// apart — one gtc saw before is an older version come back (a git checkout, a stale export), one it
// never saw is an edit made within that second (bd, a hook reacting to gtc's change), which the time
// alone cannot tell. Without it every such edit was taken as the older version and lost.
//
// Only the lines of the newest second of each issue are kept, and only until an import has read the
// file after that second ended (see prune): a few seconds of writes. After a restart nothing is known
// and the same-second line is taken as older, as before.
type lineHistory struct {
	m       map[string]*lineVersions
	members []member // scratch for lineSecond
}

// lineVersions are the hashes of an issue's lines of one second (at most the last len(h)).
type lineVersions struct {
	sec int64
	h   [6]uint64
	n   int // versions noted (h is a ring once n > len(h))
}

var lineSeed = maphash.MakeSeed()

// note records raw as a version gtc wrote or read of issue id; a line without a whole-second
// updated_at is not recorded (its time tells it apart already).
func (lh *lineHistory) note(id string, raw []byte) {
	sec, ok := lh.lineSecond(raw)
	if !ok {
		return
	}
	if lh.m == nil {
		lh.m = make(map[string]*lineVersions)
	}
	v := lh.m[id]
	switch {
	case v == nil:
		v = &lineVersions{sec: sec}
		lh.m[id] = v
	case sec < v.sec:
		return // an older second than the versions kept: the time tells it apart
	case sec > v.sec:
		*v = lineVersions{sec: sec}
	}
	h := canonHash(raw)
	if slices.Contains(v.h[:min(v.n, len(v.h))], h) {
		return
	}
	v.h[v.n%len(v.h)] = h
	v.n++
}

// unseen reports whether line is an edit of the second sec that gtc never saw, where base (the line gtc
// last wrote or read for id) is known to be of that second too: false when nothing is known.
func (lh *lineHistory) unseen(id string, sec int64, base, line []byte) bool {
	v := lh.m[id]
	if v == nil || v.sec != sec {
		return false
	}
	seen := v.h[:min(v.n, len(v.h))]
	if !slices.Contains(seen, canonHash(base)) {
		return false // the versions since base were not all noted
	}
	return !slices.Contains(seen, canonHash(line))
}

// canonHash hashes a line's JSON content, not its bytes: an old line written back in another key order
// or spacing (bd's stale copy of it) is the version gtc saw, not an edit. The raw bytes when it does not
// decode.
func canonHash(raw []byte) uint64 {
	var v any
	if err := json.Unmarshal(raw, &v); err == nil {
		if b, err := json.Marshal(v); err == nil { // object keys sorted
			return maphash.Bytes(lineSeed, b)
		}
	}
	return maphash.Bytes(lineSeed, raw)
}

// prune forgets the versions of seconds before before: an edit of those seconds was in the file read
// by an import that started after before.
func (lh *lineHistory) prune(before int64) {
	for id, v := range lh.m {
		if v.sec < before {
			delete(lh.m, id)
		}
	}
}

// lineSecond returns the second of raw's updated_at when it is written in whole seconds.
func (lh *lineHistory) lineSecond(raw []byte) (int64, bool) {
	if !bytes.Contains(raw, []byte(`"updated_at"`)) {
		return 0, false
	}
	ms, _, _, err := scanObjectInto(lh.members, raw)
	if err != nil {
		return 0, false
	}
	lh.members = ms
	for _, m := range ms {
		if m.key != "updated_at" {
			continue
		}
		v := raw[m.valueStart:m.end]
		if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '.') >= 0 || bytes.IndexByte(v, '\\') >= 0 {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339, string(v[1:len(v)-1]))
		if err != nil {
			return 0, false
		}
		return t.Unix(), true
	}
	return 0, false
}
