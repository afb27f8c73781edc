package rpc

import (
	"runtime"
	"testing"
)

func TestBufListKeepsBuffersAcrossCollections(t *testing.T) {
	l := newBufList(64, 2)
	a, b, c := l.get(), l.get(), l.get()
	if len(*a) != 64 || a == b || b == c {
		t.Fatal("get must hand out distinct buffers of the size")
	}
	l.put(a)
	l.put(b)
	l.put(c) // over the limit: dropped
	runtime.GC()
	runtime.GC() // a sync.Pool would be empty by now
	got := map[*[]byte]bool{l.get(): true, l.get(): true}
	if !got[a] || !got[b] {
		t.Fatal("the kept buffers were not handed out again")
	}
	if d := l.get(); d == a || d == b || d == c {
		t.Fatal("a dropped or taken buffer was handed out twice")
	}
}
