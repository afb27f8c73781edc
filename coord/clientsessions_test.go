package coord

import "testing"

// TestClientSessionsShareAName: CLI commands share one client name; the end of one session leaves the
// name connected while another runs (a gtc watch's keepalive heartbeat was refused -32005 once any other
// command had come and gone), and the name is gone once the last one ends, in any order.
func TestClientSessionsShareAName(t *testing.T) {
	for _, order := range [][]uint64{{1, 2, 3}, {3, 2, 1}, {2, 1, 3}} {
		s := newSim(t, testCfg(), 0, nil)
		for sess := uint64(1); sess <= 3; sess++ {
			if _, err := s.c.connect(s.now, Hello{Name: "gtc-cli", Role: "client"}, sess); err != nil {
				t.Fatal(err)
			}
		}
		for i, sess := range order {
			s.c.disconnect(s.now, "gtc-cli", sess)
			s.c.disconnect(s.now, "gtc-cli", sess) // twice: the second is stale
			_, err := s.c.heartbeat(s.now, "gtc-cli", "", 0, "")
			last := i == len(order)-1
			if last != (err != nil) || s.c.workers["gtc-cli"].connected == last {
				t.Fatalf("order %v, after session %d ended: heartbeat %v, connected %v", order, sess, err, s.c.workers["gtc-cli"].connected)
			}
		}
	}
	// a worker's name keeps one session: a stale disconnect does not touch the new one
	s := newSim(t, testCfg(), 0, nil)
	for sess := uint64(1); sess <= 2; sess++ {
		if _, err := s.c.connect(s.now, Hello{Name: "w", Capacity: 1}, sess); err != nil {
			t.Fatal(err)
		}
	}
	s.c.disconnect(s.now, "w", 2)
	if s.c.workers["w"].connected {
		t.Fatal("worker still connected after its session ended")
	}
}
