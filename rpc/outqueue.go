package rpc

import (
	"slices"
	"sync"
)

// outQueue holds a connection's outgoing frames until its writer takes them: bounded in count, and
// allocated as it fills (a buffered channel of 1,024 frames cost 32 KiB per connection up front, which
// was most of a server's memory with 10,000 connected workers).
//
// The writer runs only while there are frames to write: putOrClaim reports when the frame it queued needs a
// writer started (none is running), and the writer stops (idle) when it finds the queue empty, under
// the same lock — so exactly one writer runs at a time, and none sits on an idle connection.
//
// The writer role is also taken by a sender that writes its frame itself (putOrClaim: the queue was
// empty and no writer ran): it holds the role for one non-blocking write, then gives it up (release)
// or, when frames were queued meanwhile or its frame was not all written, hands it to a writer.
type outQueue struct {
	mu    sync.Mutex
	items []outItem
	max   int
	room  chan struct{} // closed (and replaced) when the writer takes frames while a sender waits
	// waiting says a sender found the queue full since the last take
	waiting bool
	writing bool // a writer is running (counted in writer): frames put are taken by it
	closed  bool // the connection is gone: putOrClaim refuses, no writer starts
	writer  sync.WaitGroup
}

func newOutQueue(max int) *outQueue {
	return &outQueue{max: max, room: make(chan struct{})}
}

// putOrClaim queues it. ok is false when max frames are queued — room is then the channel that is
// closed once the writer makes room — or when the queue is closed (room nil). start says the caller
// must start a writer: none was running (the new one is counted in q.writer already). With claim (a
// sender that can write it itself), when nothing is queued and no writer runs, it is not queued and
// mine says the caller is the writer now (counted in q.writer) and must write it, then call release
// (or pushFront and start a writer).
func (q *outQueue) putOrClaim(it outItem, claim bool) (ok, start, mine bool, room <-chan struct{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if claim && !q.writing && !q.closed && len(q.items) == 0 {
		q.writing = true
		q.writer.Add(1)
		return true, false, true, nil
	}
	switch {
	case q.closed:
		return false, false, false, nil
	case len(q.items) >= q.max:
		q.waiting = true
		return false, false, false, q.room
	}
	q.items = append(q.items, it)
	if !q.writing {
		q.writing, start = true, true
		q.writer.Add(1)
	}
	return true, start, false, nil
}

// release ends the turn of a sender that wrote its frame itself (putOrClaim): when nothing was queued
// meanwhile it gives the writer role up and returns false (the caller calls q.writer.Done); otherwise
// it keeps the role and returns true (the caller starts a writer, which ends it).
func (q *outQueue) release() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		q.writing = false
		return false
	}
	return true
}

// pushFront queues the unwritten rest of a frame ahead of the others (the writer role's holder does
// this, so that it goes out first), whatever the bound: it was taken already.
func (q *outQueue) pushFront(it outItem) {
	q.mu.Lock()
	q.items = slices.Insert(q.items, 0, it)
	q.mu.Unlock()
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

// takeLocked moves every queued frame into buf (reused by the caller) and wakes the senders waiting
// for room.
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
