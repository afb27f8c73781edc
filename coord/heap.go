package coord

import (
	"strings"
	"time"
)

// readyHeap is an indexed binary min-heap of ready issues: O(log n) push, pop, fix and remove.
// Order: effective time (created_at + priority*aging, only with aging on), then priority ASC,
// created_at ASC, id ASC.
type readyHeap struct {
	items []*issue
	// since[i] is when items[i] entered the ready queue (Unix nanoseconds), for the ready→push latency;
	// kept by the global heap only (a field in issue would take it past its 112-byte size class).
	since []int64
	aging time.Duration
	label bool // a label heap: positions are kept in issue.x.lheaps (the global heap's in issue.hpos)
}

// pos returns the position of it in h, -1 if absent.
func (h *readyHeap) pos(it *issue) int {
	if !h.label {
		return int(it.hpos)
	}
	if it.x != nil {
		for _, p := range it.x.lheaps {
			if p.h == h {
				return p.pos
			}
		}
	}
	return -1
}

// setPos records the position of it in h (-1: it left h).
func (h *readyHeap) setPos(it *issue, i int) {
	if !h.label {
		it.hpos = int32(i)
		return
	}
	x := it.extra()
	for k := range x.lheaps {
		if x.lheaps[k].h != h {
			continue
		}
		if i >= 0 {
			x.lheaps[k].pos = i
			return
		}
		last := len(x.lheaps) - 1
		x.lheaps[k] = x.lheaps[last]
		x.lheaps[last] = heapPos{}
		x.lheaps = x.lheaps[:last]
		return
	}
	if i >= 0 {
		x.lheaps = append(x.lheaps, heapPos{h: h, pos: i})
	}
}

// less orders by aged created_at (with aging on), priority, created_at (the same instants as the
// time.Time values, see issue), then id.
func (h *readyHeap) less(a, b *issue) bool {
	if h.aging > 0 {
		ea, eb := a.agedAt(h.aging), b.agedAt(h.aging)
		if !ea.Equal(eb) {
			return ea.Before(eb)
		}
	}
	if pa, pb := a.prio(), b.prio(); pa != pb {
		return pa < pb
	}
	if a.createdSec != b.createdSec {
		return a.createdSec < b.createdSec
	}
	if a.createdNsec != b.createdNsec {
		return a.createdNsec < b.createdNsec
	}
	return a.id < b.id
}

func (h *readyHeap) Len() int { return len(h.items) }

func (h *readyHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	if !h.label {
		h.since[i], h.since[j] = h.since[j], h.since[i]
	}
	h.setPos(h.items[i], i)
	h.setPos(h.items[j], j)
}

func (h *readyHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *readyHeap) down(i int) bool {
	i0, n := i, len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// push adds it (it must not be in the heap), ready since the given Unix nanoseconds (the global heap
// keeps it; a label heap ignores it).
func (h *readyHeap) push(it *issue, since int64) {
	h.setPos(it, len(h.items))
	h.items = append(h.items, it)
	if !h.label {
		h.since = append(h.since, since)
	}
	h.up(len(h.items) - 1)
}

// readySince returns when it entered the global heap (Unix nanoseconds), 0 if it is not in it.
func (h *readyHeap) readySince(it *issue) int64 {
	if i := h.pos(it); i >= 0 && !h.label {
		return h.since[i]
	}
	return 0
}

// remove takes it out if present.
func (h *readyHeap) remove(it *issue) {
	i := h.pos(it)
	if i < 0 {
		return
	}
	n := len(h.items) - 1
	if i != n {
		h.swap(i, n)
	}
	h.items[n] = nil
	h.items = h.items[:n]
	if !h.label {
		h.since = h.since[:n]
	}
	h.setPos(it, -1)
	if i != n {
		h.fix(i)
	}
}

// fix restores order after the key of the item at i changed.
func (h *readyHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

// each visits every ready issue in no particular order (cheaper than walk when order does not matter).
func (h *readyHeap) each(visit func(*issue)) {
	for _, it := range h.items {
		visit(it)
	}
}

// walk visits ready issues in heap order (best first) until visit returns true; it returns the
// accepted issue. Cost O(k log k) for k visited issues; the heap is not modified.
func (h *readyHeap) walk(visit func(*issue) bool) *issue {
	it, _ := h.walkN(visit, 0)
	return it
}

// walkN is walk visiting at most budget issues (0: no limit); cut says it stopped at the budget with
// issues left unvisited.
func (h *readyHeap) walkN(visit func(*issue) bool, budget int) (it *issue, cut bool) {
	if len(h.items) == 0 {
		return nil, false
	}
	visited := 0
	// frontier is a small min-heap of indices into h.items.
	frontier := make([]int, 1, 16)
	frontier[0] = 0
	lessIdx := func(a, b int) bool { return h.less(h.items[frontier[a]], h.items[frontier[b]]) }
	for len(frontier) > 0 {
		top := frontier[0]
		last := len(frontier) - 1
		frontier[0] = frontier[last]
		frontier = frontier[:last]
		for i := 0; ; { // sift down
			l := 2*i + 1
			if l >= len(frontier) {
				break
			}
			j := l
			if r := l + 1; r < len(frontier) && lessIdx(r, l) {
				j = r
			}
			if !lessIdx(j, i) {
				break
			}
			frontier[i], frontier[j] = frontier[j], frontier[i]
			i = j
		}
		if budget > 0 && visited == budget {
			return nil, true
		}
		visited++
		if visit(h.items[top]) {
			return h.items[top], false
		}
		for _, c := range [2]int{2*top + 1, 2*top + 2} {
			if c < len(h.items) {
				frontier = append(frontier, c)
				for j := len(frontier) - 1; j > 0; { // sift up
					p := (j - 1) / 2
					if !lessIdx(j, p) {
						break
					}
					frontier[p], frontier[j] = frontier[j], frontier[p]
					j = p
				}
			}
		}
	}
	return nil, false
}

// addLog lists the issues put in the ready heap, in order: a search that found nothing need look
// later only at those added since (workers.go, bestMarked). It keeps the latest adds, at most max.
type addLog struct {
	items []*issue // items[k] is add number base+k+1
	base  uint64
	gen   uint64 // adds so far (base + len(items))
	max   int    // 0: maxAddLog
}

// maxAddLog bounds an addLog: an older search is done again in full.
const maxAddLog = 8192

func (l *addLog) add(it *issue) {
	l.gen++
	lim := l.max
	if lim == 0 {
		lim = maxAddLog
	}
	if n := len(l.items); n >= lim { // drop the older half
		k := (n + 1) / 2
		copy(l.items, l.items[k:])
		clear(l.items[n-k:])
		l.items, l.base = l.items[:n-k], l.base+uint64(k)
	}
	l.items = append(l.items, it)
}

// since returns the issues added after add number gen (some may have left the heap since); false
// once they are no longer all kept.
func (l *addLog) since(gen uint64) ([]*issue, bool) {
	if gen < l.base || gen > l.gen {
		return nil, false
	}
	return l.items[gen-l.base:], true
}

// heapAdd puts a ready issue in the global heap, in the label heaps of its labels and in the
// prefix and type heaps it matches.
func (c *core) heapAdd(it *issue, since int64) {
	c.heap.push(it, since)
	c.added.add(it)
	for _, l := range it.labels() {
		if h := c.labelHeaps[l]; h != nil && h.pos(it) < 0 {
			h.push(it, 0)
		}
	}
	if len(c.altHeaps) > 0 {
		c.altAdd(it)
	}
}

// altKey names a heap of the ready issues with one id prefix (kind 'p') or of one type (kind 't').
type altKey struct {
	kind byte
	s    string
}

// altHeap is the heap of an altKey and when a search last used it.
type altHeap struct {
	h    *readyHeap
	used time.Time
}

// A filtered search walks the global heap past every ready issue ranked above its first match. When
// it visits more than altWalkBudget without one, the ready issues of each of its id prefixes (or
// types) get their own heap, kept up to date from then on and walked instead; one unused for
// altHeapIdle is dropped. Without it, 200 workers filtered to the last 15,000 of 60,000 ready issues
// took the scheduler loop's P99 to 1-2.5 s (an operator's trial).
const (
	altWalkBudget = 256
	altHeapIdle   = 10 * time.Minute
)

// altMatch reports whether it belongs in the heap of k.
func (c *core) altMatch(k altKey, it *issue) bool {
	if k.kind == 'p' {
		return strings.HasPrefix(it.id, k.s)
	}
	return c.str(it.itype) == k.s
}

// altAdd puts a ready issue in the prefix and type heaps it matches, and drops the heaps no search has
// used for altHeapIdle.
func (c *core) altAdd(it *issue) {
	for k, a := range c.altHeaps {
		if c.now.Sub(a.used) > altHeapIdle {
			c.dropAlt(k)
			continue
		}
		if c.altMatch(k, it) && a.h.pos(it) < 0 {
			a.h.push(it, 0)
		}
	}
}

// dropAlt forgets the heap of k and every issue's position in it.
func (c *core) dropAlt(k altKey) {
	a := c.altHeaps[k]
	delete(c.altHeaps, k)
	for _, it := range a.h.items {
		a.h.setPos(it, -1)
		it.trim()
	}
}

// altsOf returns the alternatives of f a prefix or type heap serves: its id prefixes ('p'), else its
// types ('t'; an issue matching f has one of them).
func altsOf(f *Filters) (kind byte, alts []string) {
	if len(f.Prefixes) > 0 {
		return 'p', f.Prefixes
	}
	return 't', f.Types
}

// altHeapsOf returns the heaps of the alternatives of f (its id prefixes, else its types: an issue
// matching f is in one of them), building them on first use; nil when f has neither.
func (c *core) altHeapsOf(f *Filters) []*readyHeap {
	kind, alts := altsOf(f)
	if len(alts) == 0 {
		return nil
	}
	out := make([]*readyHeap, 0, len(alts))
	for _, s := range alts {
		k := altKey{kind, s}
		a := c.altHeaps[k]
		if a == nil {
			a = &altHeap{h: &readyHeap{aging: c.heap.aging, label: true}}
			for _, it := range c.heap.items {
				if c.altMatch(k, it) {
					a.h.push(it, 0)
				}
			}
			if c.altHeaps == nil {
				c.altHeaps = map[altKey]*altHeap{}
			}
			c.altHeaps[k] = a
		}
		a.used = c.now
		out = append(out, a.h)
	}
	return out
}

// heapDel takes an issue out of every heap it is in.
func (c *core) heapDel(it *issue) {
	c.heap.remove(it)
	if x := it.x; x != nil && len(x.lheaps) > 0 {
		for len(x.lheaps) > 0 {
			x.lheaps[len(x.lheaps)-1].h.remove(it)
		}
		it.trim()
	}
}

// labelHeap returns the heap of ready issues carrying label l, building it on first use
// (labels are indexed only once a filter asks for them).
func (c *core) labelHeap(l string) *readyHeap {
	if h := c.labelHeaps[l]; h != nil {
		return h
	}
	h := &readyHeap{aging: c.heap.aging, label: true}
	for _, it := range c.heap.items {
		if hasLabel(it.labels(), l) {
			h.push(it, 0)
		}
	}
	if c.labelHeaps == nil {
		c.labelHeaps = map[string]*readyHeap{}
	}
	c.labelHeaps[l] = h
	return h
}
