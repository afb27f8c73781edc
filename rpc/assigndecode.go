package rpc

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gastown/gtc/coord"
)

// decodeAssignment decodes an assign request's params exactly as json.Unmarshal into an Assignment
// would, value and error alike. The shape the server writes (assignParams) is read by a fast path;
// anything else goes to json.Unmarshal.
func decodeAssignment(params []byte) (Assignment, error) {
	var a Assignment
	if decodeAssignmentFast(params, &a) {
		return a, nil
	}
	a = Assignment{}
	err := json.Unmarshal(params, &a)
	return a, err
}

// decodeAssignmentFast decodes b into the zero a when b is an object with only the members
// "lease", "issue" and "prompt", each at most once, spelled exactly so, and a lease object with
// only coord.Lease's members, each at most once, of their JSON types (no null but for the issue).
// False on anything else: a may be partly set. Every byte of b is checked by the validating scanner
// helpers (skipSpace, skipString, skipValue), so true implies b is valid JSON.
func decodeAssignmentFast(b []byte, a *Assignment) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	var seen [3]bool
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := scanKey(b, i)
		if !ok {
			return false
		}
		i = j
		switch key {
		case "lease":
			if seen[0] {
				return false
			}
			seen[0] = true
			if i, ok = decodeLeaseFast(b, i, &a.Lease); !ok {
				return false
			}
		case "issue":
			if seen[1] {
				return false
			}
			seen[1] = true
			start := i
			if i, ok = skipValue(b, i, 1); !ok { // depth 1: inside the params object
				return false
			}
			a.Issue = append(json.RawMessage(nil), b[start:i]...) // as RawMessage.UnmarshalJSON: null too
		case "prompt":
			if seen[2] {
				return false
			}
			seen[2] = true
			if a.Prompt, i, ok = scanStringValue(b, i); !ok {
				return false
			}
		default:
			return false // unknown, escaped or case-folded: encoding/json decides
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return b[i] == '}' && skipSpace(b, i+1) == len(b)
	}
}

// Lease member indexes for the duplicate check.
const (
	lmID = iota
	lmIssueID
	lmWorker
	lmEpoch
	lmState
	lmAttempt
	lmCreatedAt
	lmAckDeadline
	lmDeadline
	lmEndedAt
	lmOutcome
	lmError
	lmProgress
	lmReserved
	lmCount
)

// decodeLeaseFast decodes the lease object at b[i] into the zero l; it returns the index past it.
func decodeLeaseFast(b []byte, i int, l *coord.Lease) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	var seen [lmCount]bool
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, j, ok := scanKey(b, i)
		if !ok {
			return i, false
		}
		i = j
		m := -1
		switch key {
		case "id":
			m = lmID
			l.ID, i, ok = scanStringValue(b, i)
		case "issue_id":
			m = lmIssueID
			l.IssueID, i, ok = scanStringValue(b, i)
		case "worker":
			m = lmWorker
			l.Worker, i, ok = scanStringValue(b, i)
		case "epoch":
			m = lmEpoch
			l.Epoch, i, ok = scanInt(b, i)
		case "state":
			m = lmState
			l.State, i, ok = scanState(b, i)
		case "attempt":
			m = lmAttempt
			var n int64
			n, i, ok = scanInt(b, i)
			l.Attempt = int(n)
			ok = ok && int64(l.Attempt) == n // int is 64 bits here; on 32 bits an overflow falls back
		case "created_at":
			m = lmCreatedAt
			i, ok = scanTime(b, i, &l.CreatedAt)
		case "ack_deadline":
			m = lmAckDeadline
			i, ok = scanTime(b, i, &l.AckDeadline)
		case "deadline":
			m = lmDeadline
			i, ok = scanTime(b, i, &l.Deadline)
		case "ended_at":
			m = lmEndedAt
			t := new(time.Time)
			if i, ok = scanTime(b, i, t); ok {
				l.EndedAt = t
			}
		case "outcome":
			m = lmOutcome
			l.Outcome, i, ok = scanStringValue(b, i)
		case "error":
			m = lmError
			l.Error, i, ok = scanStringValue(b, i)
		case "progress":
			m = lmProgress
			l.Progress, i, ok = scanStringValue(b, i)
		case "reserved":
			m = lmReserved
			l.Reserved, i, ok = scanBool(b, i)
		}
		if m < 0 || !ok || seen[m] {
			return i, false
		}
		seen[m] = true
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if b[i] != '}' {
			return i, false
		}
		return i + 1, true
	}
}

// scanKey reads a member's key and its colon at b[i]; it returns the key's raw bytes (between the
// quotes, escapes left as they are: such a key matches no member name) and the index of the value.
// The key string is only compared, never kept.
func scanKey(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	end, ok := skipString(b, i)
	if !ok {
		return "", i, false
	}
	key := unsafeString(b[i+1 : end-1])
	i = skipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return "", i, false
	}
	return key, skipSpace(b, i+1), true
}

// scanStringValue decodes the JSON string at b[i] as encoding/json does; false when it is not one.
func scanStringValue(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", i, false
	}
	end, ok := skipString(b, i)
	if !ok {
		return "", i, false
	}
	s, ok := decodeString(b[i:end])
	return s, end, ok
}

// scanInt reads the JSON number at b[i] into an int64 as encoding/json does; false for another
// type, a fraction, an exponent or an overflow (encoding/json's error).
// scanBool reads a JSON true or false at b[i].
func scanBool(b []byte, i int) (bool, int, bool) {
	switch {
	case bytes.HasPrefix(b[i:], []byte("true")):
		return true, i + 4, true
	case bytes.HasPrefix(b[i:], []byte("false")):
		return false, i + 5, true
	}
	return false, i, false
}

func scanInt(b []byte, i int) (int64, int, bool) {
	if i >= len(b) || b[i] != '-' && (b[i] < '0' || b[i] > '9') {
		return 0, i, false
	}
	end, ok := skipNumber(b, i)
	if !ok {
		return 0, i, false
	}
	n, err := strconv.ParseInt(unsafeString(b[i:end]), 10, 64)
	return n, end, err == nil
}

// scanTime reads the JSON string at b[i] into t with time.Time's own UnmarshalJSON, on the raw
// value bytes as encoding/json hands them to it; false for a non-string or its error.
func scanTime(b []byte, i int, t *time.Time) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	end, ok := skipString(b, i)
	if !ok {
		return i, false
	}
	return end, t.UnmarshalJSON(b[i:end]) == nil
}

// scanState reads a lease state; the known states, written plainly, without allocating.
func scanState(b []byte, i int) (coord.LeaseState, int, bool) {
	for _, st := range [...]coord.LeaseState{coord.LeasePushed, coord.LeaseAcked, coord.LeaseEnded} {
		if n := len(st) + 2; len(b)-i >= n && b[i] == '"' && b[i+n-1] == '"' && string(b[i+1:i+n-1]) == string(st) {
			return st, i + n, true
		}
	}
	s, i, ok := scanStringValue(b, i)
	return coord.LeaseState(s), i, ok
}
