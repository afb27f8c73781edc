package coord

import "time"

// readyHeap is an indexed binary min-heap of ready issues: O(log n) push, pop, fix and remove.
// Order: effective time (created_at + priority*aging, only with aging on), then priority ASC,
// created_at ASC, id ASC.
type readyHeap struct {
	items []*issue
	aging time.Duration
	slot  int // index of this heap's position in issue.hpos (0 = the global heap)
}

// pos returns the position of it in h, -1 if absent.
func (h *readyHeap) pos(it *issue) int {
	if h.slot < len(it.hpos) {
		return it.hpos[h.slot]
	}
	return -1
}

func (h *readyHeap) setPos(it *issue, i int) {
	for len(it.hpos) <= h.slot {
		it.hpos = append(it.hpos, -1)
	}
	it.hpos[h.slot] = i
}

func (h *readyHeap) less(a, b *issue) bool {
	if h.aging > 0 {
		ea, eb := a.agedAt(h.aging), b.agedAt(h.aging)
		if !ea.Equal(eb) {
			return ea.Before(eb)
		}
	}
	if a.meta.Priority != b.meta.Priority {
		return a.meta.Priority < b.meta.Priority
	}
	if !a.meta.CreatedAt.Equal(b.meta.CreatedAt) {
		return a.meta.CreatedAt.Before(b.meta.CreatedAt)
	}
	return a.meta.ID < b.meta.ID
}

func (h *readyHeap) Len() int { return len(h.items) }

func (h *readyHeap) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
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

// push adds it (it must not be in the heap).
func (h *readyHeap) push(it *issue) {
	h.setPos(it, len(h.items))
	h.items = append(h.items, it)
	h.up(len(h.items) - 1)
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

// heapAdd puts a ready issue in the global heap and in the label heaps of its labels.
func (c *core) heapAdd(it *issue) {
	c.heap.push(it)
	for _, l := range it.meta.Labels {
		if h := c.labelHeaps[l]; h != nil && h.pos(it) < 0 {
			h.push(it)
			it.inLabel = append(it.inLabel, h)
		}
	}
}

// heapDel takes an issue out of every heap it is in.
func (c *core) heapDel(it *issue) {
	c.heap.remove(it)
	for _, h := range it.inLabel {
		h.remove(it)
	}
	it.inLabel = it.inLabel[:0]
}

// labelHeap returns the heap of ready issues carrying label l, building it on first use
// (labels are indexed only once a filter asks for them).
func (c *core) labelHeap(l string) *readyHeap {
	if h := c.labelHeaps[l]; h != nil {
		return h
	}
	c.nextSlot++
	h := &readyHeap{aging: c.heap.aging, slot: c.nextSlot}
	for _, it := range c.heap.items {
		if hasLabel(it.meta.Labels, l) {
			h.push(it)
			it.inLabel = append(it.inLabel, h)
		}
	}
	if c.labelHeaps == nil {
		c.labelHeaps = map[string]*readyHeap{}
	}
	c.labelHeaps[l] = h
	return h
}
