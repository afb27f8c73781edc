package rpc

import "sync"

// outQueue holds a connection's outgoing frames until its writer takes them: bounded in count, and
// allocated as it fills (a buffered channel of 1,024 frames cost 32 KiB per connection up front, which
// was most of a server's memory with 10,000 connected workers).
//
// The writer runs only while there are frames to write: put reports when the frame it queued needs a
// writer started (none is running), and the writer stops (idle) when it finds the queue empty, under
// the same lock — so exactly one writer runs at a time, and none sits on an idle connection.
type outQueue struct {
	mu    sync.Mutex
	items []outItem
	max   int
	room  chan struct{} // closed (and replaced) when the writer takes frames while a sender waits
	// waiting says a sender found the queue full since the last take
	waiting bool
	writing bool // a writer is running (counted in writer): frames put are taken by it
	closed  bool // the connection is gone: put refuses, no writer starts
	writer  sync.WaitGroup
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, room: make(chan struct{})}
}

// put queues it. ok is false when max frames are queued — room is then the channel that is closed
// once the writer makes room — or when the queue is closed (room nil). start says the caller must
// start a writer: none was running (the new one is counted in q.writer already).
func (q *outQueue) put(it outItem) (ok, start bool, room <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.closed:
		return false, false, nil
	case len(q.items) >= q.max:
		q.waiting = true
		return false, false, q.room
	}
	q.items = append(q.items, it)
	if !q.writing {
		q.writing, start = true, true
		q.writer.Add(1)
	}
	return true, start, nil
}

// take moves every queued frame into buf (reused by the caller) and wakes the senders waiting for room.
func (q *outQueue) take(buf []outItem) []outItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked(buf)
}

// takeOrIdle is the writer's take: when nothing is queued it marks the writer idle and returns false, and
// the writer must end (calling q.writer.Done); a frame put after that starts a new writer.
func (q *outQueue) takeOrIdle(buf []outItem) ([]outItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		q.writing = false
		return buf[:0], false
	}
	return q.takeLocked(buf), true
}

func (q *outQueue) takeLocked(buf []outItem) []outItem {
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
	return buf
}

// stop marks the writer idle without taking anything (the connection is done or a write failed).
func (q *outQueue) stop() {
	q.mu.Lock()
	q.writing = false
	q.mu.Unlock()
}

// close refuses further frames (and writers) and waits for a running writer to end.
func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.writer.Wait()
}
