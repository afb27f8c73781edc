package daemon

import (
	"sync"
	"time"

	"github.com/gastown/gtc/rpc"
)

// syncState is what the JSONL sync loop last did, for `gtc status` and coord.health: a file gtc cannot
// parse (conflict markers) stops the sync, and only the server's log said so.
type syncState struct {
	mu           sync.Mutex
	lastOK       time.Time
	failingSince time.Time
	err          string
}

// done records the outcome of one sync.
func (s *syncState) done(at time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastOK, s.failingSince, s.err = at, time.Time{}, ""
		return
	}
	if s.failingSince.IsZero() {
		s.failingSince = at
	}
	s.err = err.Error()
}

// info is the state as coord.status reports it.
func (s *syncState) info() *rpc.SyncInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := &rpc.SyncInfo{Error: s.err}
	if !s.lastOK.IsZero() {
		t := s.lastOK
		in.LastOK = &t
	}
	if !s.failingSince.IsZero() {
		t := s.failingSince
		in.FailingSince = &t
	}
	return in
}
