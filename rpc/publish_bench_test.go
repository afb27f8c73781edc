package rpc

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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

// BenchmarkPublishManyConns publishes the events of one assignment cycle per worker (4n events) with n
// connections, one of them subscribed to another kind (nothing is queued).
func BenchmarkPublishManyConns(b *testing.B) {
	for _, n := range []int{2500, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := publishServer(b, n)
			for _, c := range s.conns {
				s.subscribe(c, []string{"merge_merged"})
				break
			}
			ev := coord.Event{Kind: "assigned", IssueID: "bd-1", Worker: "w"}
			for b.Loop() {
				for range 4 * n {
					s.Publish(ev)
				}
			}
		})
	}
}

// TestSubscribeRacingEndIsNotKept: a subscription served while its connection ends (finish's
// unsubscribe and forget) is not kept, in either order, and Publish no longer walks the connection.
func TestSubscribeRacingEndIsNotKept(t *testing.T) {
	for range 200 {
		s := publishServer(t, 2)
		var cs []*conn
		for _, c := range s.conns {
			cs = append(cs, c)
		}
		c, other := cs[0], cs[1]
		s.subscribe(other, nil)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.subscribe(c, nil) }()
		go func() { defer wg.Done(); c.unsubscribe(); s.forget(c) }()
		wg.Wait()
		s.subscribe(c, nil) // after the end
		if _, kept := s.subs[c]; kept || c.subs.Load() != nil || s.nsubs.Load() != 1 || len(s.subs) != 1 {
			t.Fatalf("ended connection: kept %v, subscription %v, nsubs %d, subs %d", kept, c.subs.Load(), s.nsubs.Load(), len(s.subs))
		}
		if _, ok := s.subs[other]; !ok {
			t.Fatal("the live subscriber was dropped")
		}
	}
}

// TestSubscribeSeqSaysWhereLiveEventsBegin: events.subscribe's seq is the newest event published (or
// noted at start) before the subscription; every event after it reaches the subscriber (each round
// subscribes at another moment of a stream of publishes).
func TestSubscribeSeqSaysWhereLiveEventsBegin(t *testing.T) {
	for round := range 20 {
		ts := startServer(t, Options{}, nil)
		ts.NoteEventSeq(10) // the stored log ends at 10
		ts.NoteEventSeq(7)  // never backwards
		c := dialClient(t, DialOptions{Network: "unix", Addr: ts.unixPath})
		events := make(chan coord.Event, 1000)
		c.OnEvent(func(e coord.Event) { events <- e })
		ctx := context.Background()
		if _, err := c.Hello(ctx, HelloParams{Name: "watcher"}); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			r, err := c.EventsSubscribe(ctx, SubscribeParams{})
			if err != nil || r.Seq != 10 {
				t.Fatalf("subscribe before any event = %+v, %v; want seq 10", r, err)
			}
		}
		const last = 400
		done := make(chan struct{})
		go func() {
			defer close(done)
			for seq := int64(11); seq <= last; seq++ {
				ts.Publish(coord.Event{Seq: seq, Kind: "assigned"})
				if seq%16 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
		time.Sleep(time.Duration(round) * 100 * time.Microsecond)
		r, err := c.EventsSubscribe(ctx, SubscribeParams{})
		if err != nil {
			t.Fatal(err)
		}
		<-done
		if r.Seq < 10 || r.Seq > last {
			t.Fatalf("round %d: subscribe seq %d, want 10..%d", round, r.Seq, last)
		}
		got := map[int64]bool{}
		for want := r.Seq + 1; want <= last; {
			select {
			case e := <-events:
				got[e.Seq] = true
				for got[want] {
					want++
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: subscribed after seq %d, event %d never came", round, r.Seq, want)
			}
		}
		c.Close()
	}
}
