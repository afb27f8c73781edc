package rpc

import (
	"fmt"
	"testing"
	"time"
)

func TestOutQueueBoundedAndWakesSenders(t *testing.T) {
	q := newOutQueue(3)
	for i := range 3 {
		ok, start, _ := q.put(outItem{body: []byte(fmt.Sprint(i))})
		if !ok {
			t.Fatalf("put %d refused below the bound", i)
		}
		if start != (i == 0) {
			t.Fatalf("put %d: start a writer %v (only the first put starts one)", i, start)
		}
	}
	ok, start, room := q.put(outItem{body: []byte("3")})
	if ok || start || room == nil {
		t.Fatalf("put over the bound: ok %v start %v room %v", ok, start, room)
	}
	select {
	case <-room:
		t.Fatal("room signalled before the writer took anything")
	default:
	}
	got := q.take(nil)
	if len(got) != 3 || string(got[0].body) != "0" || string(got[2].body) != "2" {
		t.Fatalf("take = %+v", got)
	}
	select {
	case <-room:
	default:
		t.Fatal("a sender waiting for room was not woken by take")
	}
	if ok, start, _ := q.put(outItem{body: []byte("3")}); !ok || start {
		t.Fatalf("put after take made room: ok %v, start a second writer %v", ok, start)
	}
}

// TestOutQueueWriterLifecycle: one writer at a time — put starts one only when none runs, the writer
// ends when it finds the queue empty (so the next put starts another), and close refuses frames and
// waits for the running writer.
func TestOutQueueWriterLifecycle(t *testing.T) {
	q := newOutQueue(8)
	if ok, start, _ := q.put(outItem{body: []byte("a")}); !ok || !start {
		t.Fatalf("first put: ok %v start %v", ok, start)
	}
	if ok, start, _ := q.put(outItem{body: []byte("b")}); !ok || start {
		t.Fatalf("put while a writer runs: ok %v start %v", ok, start)
	}
	buf, more := q.takeOrIdle(nil)
	if !more || len(buf) != 2 {
		t.Fatalf("writer's take: %d frames, more %v", len(buf), more)
	}
	if ok, start, _ := q.put(outItem{body: []byte("c")}); !ok || start {
		t.Fatalf("put between a writer's takes: ok %v start %v", ok, start)
	}
	if buf, more = q.takeOrIdle(buf); !more || len(buf) != 1 {
		t.Fatalf("writer's second take: %d frames, more %v", len(buf), more)
	}
	if _, more = q.takeOrIdle(buf); more {
		t.Fatal("writer's take of an empty queue did not stop it")
	}
	q.writer.Done() // the writer ends
	if ok, start, _ := q.put(outItem{body: []byte("d")}); !ok || !start {
		t.Fatalf("put after the writer stopped: ok %v start %v", ok, start)
	}
	closed := make(chan struct{})
	go func() { q.close(); close(closed) }()
	for i := 0; ; i++ { // bounded wait for close to mark the queue
		q.mu.Lock()
		c := q.closed
		q.mu.Unlock()
		if c {
			break
		}
		if i == 5000 {
			t.Fatal("close did not mark the queue closed")
		}
		time.Sleep(time.Millisecond)
	}
	if ok, start, room := q.put(outItem{body: []byte("e")}); ok || start || room != nil {
		t.Fatalf("put after close: ok %v start %v room %v", ok, start, room)
	}
	select {
	case <-closed:
		t.Fatal("close returned while a writer runs")
	case <-time.After(20 * time.Millisecond):
	}
	q.stop()
	q.writer.Done()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("close did not return once the writer ended")
	}
}

func TestOutQueueReleasesBurstMemory(t *testing.T) {
	q := newOutQueue(1024)
	if cap(q.items) != 0 {
		t.Fatalf("a new queue holds %d slots before any frame", cap(q.items))
	}
	for range 500 {
		q.put(outItem{body: []byte("x")})
	}
	buf := q.take(nil)
	if len(buf) != 500 || cap(q.items) != 0 {
		t.Fatalf("after a burst: took %d, queue keeps %d slots", len(buf), cap(q.items))
	}
	q.put(outItem{body: []byte("y")})
	if buf = q.take(buf); len(buf) != 1 || cap(q.items) == 0 {
		t.Fatalf("small take: took %d, queue slots %d (a small backing array is kept)", len(buf), cap(q.items))
	}
}

// put is putOrClaim without a claim (the tests' shorthand).
func (q *outQueue) put(it outItem) (ok, start bool, room <-chan struct{}) {
	ok, start, _, room = q.putOrClaim(it, false)
	return ok, start, room
}

// take drains the queue into buf without changing whether a writer runs (tests).
func (q *outQueue) take(buf []outItem) []outItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeLocked(buf)
}
