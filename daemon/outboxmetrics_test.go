package daemon

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestOutboxPushTimes: a reject is not an ack (no push→ack latency is recorded), an ack timeout counts
// as an expired lease, and a push time no ack will take (its lease ended while the push was queued) is
// swept instead of kept for good.
func TestOutboxPushTimes(t *testing.T) {
	h := start(t, nil, nil)
	o := h.d.out
	pushToAck := func() int64 { return h.d.metrics.Samples(time.Hour).Assign.Count }
	before := pushToAck()
	o.pushed.Store("L-r", time.Now())
	o.rejected("L-r")
	if _, ok := o.pushed.Load("L-r"); ok || pushToAck() != before {
		t.Errorf("a reject kept its push time or recorded a push->ack latency (%d -> %d samples)", before, pushToAck())
	}
	_, addr := h.d.Addrs()
	metric := func(name string) string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}
	expiredTotal := func() string { return metric("gtc_leases_expired_total") }
	if got := expiredTotal(); got != "0" {
		t.Fatalf("gtc_leases_expired_total %q at start", got)
	}
	o.Publish(coord.Event{Kind: "ack_timeout", LeaseID: "L-x"})
	if got := expiredTotal(); got != "1" {
		t.Errorf("gtc_leases_expired_total %q after an ack timeout, want 1", got)
	}
	// every lease end that puts its issue back in the queue is a reassignment; an expiry or a failure
	// is counted by the requeued that follows it (a dead-lettered issue is not put back)
	for _, k := range []string{"released", "rejected", "expired", "failed", "requeued", "completed"} {
		o.Publish(coord.Event{Kind: k, LeaseID: "L-" + k, Actor: "gtc"})
	}
	// an operator's cancel puts the issue back; gtc's own (the issue closed outside gtc) does not
	o.Publish(coord.Event{Kind: "cancelled", LeaseID: "L-op", Actor: "alice"})
	o.Publish(coord.Event{Kind: "cancelled", LeaseID: "L-file", Actor: "gtc", Detail: "issue changed outside gtc"})
	if got := metric("gtc_reassignments_total"); got != "5" {
		t.Errorf("gtc_reassignments_total %q after an ack timeout, a release, a reject, a requeue and an operator's cancel, want 5", got)
	}
	if got := metric("gtc_merge_slots_expired_total"); got != "0" {
		t.Fatalf("gtc_merge_slots_expired_total %q at start", got)
	}
	o.Publish(coord.Event{Kind: "merge_expired", IssueID: "gt-1", Detail: "MR-1: refinery ref1 sent no heartbeat for 20s"})
	if got := metric("gtc_merge_slots_expired_total"); got != "1" {
		t.Errorf("gtc_merge_slots_expired_total %q after a merge slot expired, want 1", got)
	}
	o.pushed.Store("L-old", time.Now().Add(-time.Hour))
	o.pushed.Store("L-new", time.Now())
	o.sweep(time.Now().Add(-time.Minute))
	if _, ok := o.pushed.Load("L-old"); ok {
		t.Error("an hour-old push time was not swept")
	}
	if _, ok := o.pushed.Load("L-new"); !ok {
		t.Error("a fresh push time was swept")
	}
	// a quick session's complete overtook the reply that acks its push: the ack still counts
	before = pushToAck()
	o.pushed.Store("L-quick", time.Now())
	o.Publish(coord.Event{Kind: "completed", LeaseID: "L-quick"})
	o.acked("L-quick")
	if pushToAck() != before+1 {
		t.Errorf("an ack read after its lease's complete was not counted (%d -> %d samples)", before, pushToAck())
	}
	// a lease taken back (expired, cancelled, ack timeout) will not be acked: its push time goes
	o.pushed.Store("L-gone", time.Now())
	o.Publish(coord.Event{Kind: "cancelled", LeaseID: "L-gone"})
	if _, ok := o.pushed.Load("L-gone"); ok {
		t.Error("a cancelled lease kept its push time")
	}
}
