package rpc

import (
	"context"
	"fmt"
	"testing"

	"github.com/gastown/gtc/coord"
)

// publishServer is a server with n open connections, none subscribed.
func publishServer(b testing.TB, n int) *Server {
	s := NewServer(newFake(), Options{})
	for i := 0; i < n; i++ {
		c := s.newConn(context.Background(), nil, TransportHTTP)
		s.conns[c.sess.ID] = c
	}
	return s
}

// BenchmarkPublishNoSubscribers is the cost of one event with 1,000 connections and no subscriber
// (the engine publishes several events per assignment).
func BenchmarkPublishNoSubscribers(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := publishServer(b, n)
			ev := coord.Event{Kind: "assigned", IssueID: "bd-1"}
			b.ReportAllocs()
			for b.Loop() {
				s.Publish(ev)
			}
		})
	}
}

func TestPublishCountsSubscribers(t *testing.T) {
	s := publishServer(t, 3)
	var cs []*conn
	for _, c := range s.conns {
		cs = append(cs, c)
	}
	s.subscribe(cs[0], nil)
	s.subscribe(cs[0], []string{"assigned"}) // a second subscribe replaces, does not count twice
	s.subscribe(cs[1], nil)
	if got := s.nsubs.Load(); got != 2 {
		t.Fatalf("subscribers = %d, want 2", got)
	}
	cs[0].unsubscribe()
	cs[0].unsubscribe()
	if got := s.nsubs.Load(); got != 1 {
		t.Fatalf("after close: %d, want 1", got)
	}
}
