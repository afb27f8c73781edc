package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/daemon"
)

// TestWorkerEndsALeaseWhoseReportIsRefused: a report the coordinator refuses for another reason than
// the lease having ended (here over its message cap: 2,000 bytes of control characters are ~12 KB of
// JSON) left the worker's job dropped ("the lease had moved on") while the lease lived on, renewed by
// the worker's heartbeats (they name no lease), held by nobody, the issue never retried. The worker now
// fails the lease with a short reason, so the issue goes back to the queue as a failed attempt.
func TestWorkerEndsALeaseWhoseReportIsRefused(t *testing.T) {
	dir := newWorkspace(t)
	s := startServer(t, dir, func(c *daemon.Config) { c.MaxMessageBytes = 4096 })
	ids := createIssues(t, dir, "noisy")
	startWorker(t, s, func(o *workerOptions) {
		o.Exec = `i=0; while [ $i -lt 2000 ]; do printf '\001'; i=$((i+1)); done`
	})
	waitFor(t, 10*time.Second, "the refused report's lease ended as a failed attempt", func() bool {
		r := gtc(t, dir, "issue", "show", ids[0])
		return strings.Contains(r.out, "failure") && strings.Contains(r.out, "refused")
	})
	if _, live := leaseOf(s, ids[0]); live {
		// the next attempt may have begun (backoff 20 ms): it must be a new lease
		l, _ := leaseOf(s, ids[0])
		if l.Attempt < 2 {
			t.Fatalf("the refused attempt's lease is still live: %+v", l)
		}
	}
}
