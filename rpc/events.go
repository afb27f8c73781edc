package rpc

import (
	"strconv"
	"strings"

	"github.com/gastown/gtc/coord"
)

// EventKind is one kind of coordinator event (coord.Event.Kind) and what it means.
type EventKind struct {
	Kind    string
	Meaning string
}

// EventKinds is the ONE list of the event kinds the coordinator emits (the scheduler, its merge queue and
// convoys), in the order docs/protocol.md lists them. events.subscribe refuses a kind not in it;
// TestEventKindsMatchCoord checks it against the kinds coord's sources emit, and the protocol doc against it.
var EventKinds = []EventKind{
	{"worker_connected", "a worker or refinery said hello (detail: leases resumed); clients only while they hold a lease"},
	{"worker_disconnected", "its connection ended; its leases wait for the reconnect grace"},
	{"draining", "coord.drain stopped pushes to a worker"},
	{"undrained", "coord.drain undo:true ended the drain"},
	{"assigned", "an issue was pushed to a worker (lease pushed; detail: attempt)"},
	{"claimed", "a worker took an issue with claim (lease acked at once)"},
	{"acked", "the worker accepted a pushed lease"},
	{"rejected", "the worker refused a pushed lease (requeued, no penalty; detail: its reason)"},
	{"ack_timeout", "a pushed lease was not acked in time, or its worker left before acking and stayed away past the grace (requeued, no penalty)"},
	{"completed", "complete with outcome success or code_complete ended a lease (detail: outcome, summary)"},
	{"failed", "fail, or complete with outcome failure, partial or context_overflow, ended a lease (a failed attempt)"},
	{"released", "release gave a lease back (requeued, no penalty)"},
	{"cancelled", "lease.cancel, or the issue closed or changed outside gtc, ended a lease (the holder gets cancel)"},
	{"expired", "an acked lease missed its heartbeat deadline, or its worker stayed away past the grace (a failed attempt)"},
	{"requeued", "after a failed attempt the issue waits for its retry backoff (detail: attempt, retry time)"},
	{"dead_lettered", "out of attempts: status blocked, label gtc:failed"},
	{"reopened", "a closed issue was reopened outside gtc, or a merge sent it back for rework, or a completed convoy's tracking issue opened again (an issue joined or was reopened)"},
	{"status_changed", "an issue's status or assignee was changed other than by a lease, or a dead letter revived: issue.update or issue.close (actor: the session), or the file (actor: issues.jsonl); detail: old → new"},
	{"paused", "coord.pause: no new assignments"},
	{"resumed", "coord.resume"},
	{"convoy_created", "convoy.create made a convoy and its tracking issue"},
	{"convoy_completed", "every issue of a convoy closed; its tracking issue closed"},
	{"merge_submitted", "merge.submit queued a request"},
	{"merge_started", "a refinery took a request's merge slot"},
	{"merge_merged", "the request landed on its target"},
	{"merge_retry", "a retryable merge failure: the request waits to be retried"},
	{"merge_expired", "the merge slot's deadline passed or its refinery stayed away: back to pending, or merge_failed follows on its last attempt"},
	{"merge_failed", "the request failed for good (conflicts, failing gate, out of attempts)"},
	{"merge_cancelled", "merge.cancel withdrew the request"},
	{"storage_check", "an idle coordinator's test commit after a storage failure"},
	{"store_restored", "gtc restore replaced gtc.db with a backup (written while no server ran; detail: the backup, the counters continued after)"},
}

var eventKindSet = func() map[string]bool {
	m := make(map[string]bool, len(EventKinds))
	for _, k := range EventKinds {
		m[k.Kind] = true
	}
	return m
}()

// checkEventKinds refuses (invalid params, naming it) the first kind that is not an event kind.
func checkEventKinds(kinds []string) error {
	for _, k := range kinds {
		if !eventKindSet[k] {
			names := make([]string, len(EventKinds))
			for i, e := range EventKinds {
				names[i] = e.Kind
			}
			return coord.Errorf(coord.EInvalid, "invalid params: field \"kinds\": unknown event kind %s (known: %s)",
				strconv.Quote(k), strings.Join(names, ", "))
		}
	}
	return nil
}
