package rpc

import (
	"fmt"
	"testing"
)

func TestOutQueueBoundedAndWakesSenders(t *testing.T) {
	q := newOutQueue(3)
	for i := range 3 {
		if ok, _ := q.put(outItem{body: []byte(fmt.Sprint(i))}); !ok {
			t.Fatalf("put %d refused below the bound", i)
		}
	}
	ok, room := q.put(outItem{body: []byte("3")})
	if ok || room == nil {
		t.Fatalf("put over the bound: ok %v room %v", ok, room)
	}
	select {
	case <-room:
		t.Fatal("room signalled before the writer took anything")
	default:
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no ready token after puts")
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
	if ok, _ := q.put(outItem{body: []byte("3")}); !ok {
		t.Fatal("put refused after take made room")
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
