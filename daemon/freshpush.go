package daemon

import (
	"encoding/json"
	"sync"
)

// freshPushes keeps the rendered push of issues just created through the protocol, so the first push
// of a new issue (usually within a millisecond of its create) costs no SQLite read and no JSON round
// trip. An entry is taken by the push, dropped by any later change to the issue (protocol edit or
// import), and the oldest entries are dropped beyond freshMax, so issues that wait in the queue do not
// pile up here.
type freshPushes struct {
	mu    sync.Mutex
	byID  map[string]freshPush
	order []freshRef // insertion order, for dropping the oldest; may hold refs to entries already gone
	seq   uint64     // numbers the puts, so a ref names one put of its id
}

type freshPush struct {
	record json.RawMessage
	prompt string
	seq    uint64
}

// freshRef is one put in insertion order: it still names a kept entry while byID[id].seq == seq.
type freshRef struct {
	id  string
	seq uint64
}

// freshMax bounds how many rendered pushes are kept.
const freshMax = 1024

// put keeps the rendered push of a new issue.
func (f *freshPushes) put(id string, record json.RawMessage, prompt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byID == nil {
		f.byID = make(map[string]freshPush)
	}
	f.seq++
	f.byID[id] = freshPush{record: record, prompt: prompt, seq: f.seq}
	f.order = append(f.order, freshRef{id: id, seq: f.seq})
	for len(f.byID) > freshMax {
		r := f.order[0]
		f.order = f.order[1:]
		if f.live(r) {
			delete(f.byID, r.id)
		}
	}
	if len(f.order) > 2*freshMax {
		// most refs name entries taken or forgotten since: keep those of the kept entries, in order
		live := f.order[:0]
		for _, r := range f.order {
			if f.live(r) {
				live = append(live, r)
			}
		}
		clear(f.order[len(live):])
		f.order = live
	}
}

// live reports whether r still names a kept entry (not taken, forgotten or put again since).
func (f *freshPushes) live(r freshRef) bool {
	e, ok := f.byID[r.id]
	return ok && e.seq == r.seq
}

// take returns and forgets the rendered push of id, if kept.
func (f *freshPushes) take(id string) (freshPush, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.byID[id]
	if ok {
		delete(f.byID, id)
	}
	return p, ok
}

// forget drops the rendered push of id: the issue changed after it was created.
func (f *freshPushes) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, id)
}
