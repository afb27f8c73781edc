package rpc

import "sync"

// outQueue holds a connection's outgoing frames until its writer takes them: bounded in count, and
// allocated as it fills (a buffered channel of 1,024 frames cost 32 KiB per connection up front, which
// was most of a server's memory with 10,000 connected workers).
type outQueue struct {
	mu    sync.Mutex
	items []outItem
	max   int
	ready chan struct{} // one token: there are frames to take
	room  chan struct{} // closed (and replaced) when the writer takes frames while a sender waits
	// waiting says a sender found the queue full since the last take
	waiting bool
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, ready: make(chan struct{}, 1), room: make(chan struct{})}
}

// put queues it and wakes the writer; when max frames are queued it returns false and the channel
// that is closed once the writer makes room.
func (q *outQueue) put(it outItem) (bool, <-chan struct{}) {
	q.mu.Lock()
	if len(q.items) >= q.max {
		room := q.room
		q.waiting = true
		q.mu.Unlock()
		return false, room
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true, nil
}

// take moves every queued frame into buf (reused by the caller) and wakes the senders waiting for room.
func (q *outQueue) take(buf []outItem) []outItem {
	q.mu.Lock()
	buf = append(buf[:0], q.items...)
	clear(q.items)
	q.items = q.items[:0]
	if cap(q.items) > 64 {
		q.items = nil // a burst is over: do not keep its backing array for an idle connection
	}
	if q.waiting {
		close(q.room)
		q.room, q.waiting = make(chan struct{}), false
	}
	q.mu.Unlock()
	return buf
}
