package rpc

import "testing"

// TestReadMethodsAreMethods: the calls a read-only session may make are real method names, and none of
// them acts on leases, issues or the queue (a typo would refuse a read; a write here would let one
// through on a session the server could not record).
func TestReadMethodsAreMethods(t *testing.T) {
	writes := map[string]bool{}
	for m := range workerMethods {
		writes[m] = true
	}
	for _, m := range []string{"issue.create", "issue.update", "issue.close", "issue.dep.add", "issue.dep.remove",
		"issue.label.add", "issue.label.remove", "issue.comment", "coord.pause", "coord.resume", "coord.drain",
		"lease.cancel", "merge.submit", "merge.cancel", "convoy.create"} {
		writes[m] = true
	}
	for m := range readMethods {
		if _, ok := methods[m]; !ok {
			t.Errorf("read method %q is not a method", m)
		}
		if writes[m] {
			t.Errorf("read method %q changes state", m)
		}
	}
	for m := range methods {
		if !readMethods[m] && !writes[m] && m != "hello" {
			t.Errorf("method %q is neither a read nor a known write: classify it", m)
		}
	}
}
