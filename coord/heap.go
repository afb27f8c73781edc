package coord

import "time"

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

// walk visits ready issues in heap order (best first) until visit returns true; it returns the
// accepted issue. Cost O(k log k) for k visited issues; the heap is not modified.
func (h *readyHeap) walk(visit func(*issue) bool) *issue {
	if len(h.items) == 0 {
		return nil
	}
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
		if visit(h.items[top]) {
			return h.items[top]
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
	return nil
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

// heapAdd puts a ready issue in the global heap and in the label heaps of its labels.
func (c *core) heapAdd(it *issue, since int64) {
	c.heap.push(it, since)
	c.added.add(it)
	for _, l := range it.labels() {
		if h := c.labelHeaps[l]; h != nil && h.pos(it) < 0 {
			h.push(it, 0)
		}
	}
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
