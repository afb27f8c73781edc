package beads

import (
	"strings"
	"time"
)

// Profile is the writer profile of a file: which bd generation's bytes gtc produces for it (§23.1).
type Profile int

const (
	// Classic is bd ≤ v0.49.6: bare issue objects sorted by id, local-zone sub-second timestamps.
	Classic Profile = iota
	// ModernUntyped is bd v1.0.0–v1.0.3: counts appended, no _type.
	ModernUntyped
	// ModernTyped is bd v1.0.4+: "_type":"issue" first, counts appended, memory lines last.
	ModernTyped
)

// String names the profile.
func (p Profile) String() string {
	switch p {
	case Classic:
		return "classic"
	case ModernUntyped:
		return "modern-untyped"
	case ModernTyped:
		return "modern-typed"
	}
	return "unknown"
}

// Modern reports whether the profile is one of the v1 profiles.
func (p Profile) Modern() bool { return p == ModernUntyped || p == ModernTyped }

// classicOrder is the v0.49.6 types.Issue field order (§3).
var classicOrder = strings.Fields(`id title description design acceptance_criteria notes spec_id status priority
issue_type assignee owner estimated_minutes created_at created_by updated_at started_at closed_at close_reason
closed_by_session due_at defer_until external_ref source_system metadata compaction_level compacted_at
compacted_at_commit original_size labels dependencies comments deleted_at deleted_by delete_reason original_type
sender ephemeral wisp_type pinned is_template bonded_from creator validations quality_score crystallizes
await_type await_id timeout waiters holder source_formula source_location hook_bead role_bead agent_state
last_activity role_type rig mol_type work_type event_kind actor target payload`)

// modernOrder is the HEAD export order (§4), counts included.
var modernOrder = strings.Fields(`_type id title description design acceptance_criteria notes spec_id status
priority issue_type assignee owner estimated_minutes created_at created_by updated_at started_at closed_at
close_reason closed_by_session due_at defer_until external_ref source_system metadata compaction_level
compacted_at compacted_at_commit original_size labels dependencies comments sender ephemeral no_history
wisp_type pinned is_template bonded_from await_type await_id timeout waiters source_formula source_location
mol_type work_type event_kind actor target payload dependency_count dependent_count comment_count`)

var (
	classicPos = positions(classicOrder)
	modernPos  = positions(modernOrder)
)

func positions(keys []string) map[string]int {
	m := make(map[string]int, len(keys))
	for i, k := range keys {
		m[k] = i
	}
	return m
}

// keyPos returns the struct position of key in the profile, or -1 for a key the profile does not know.
func (p Profile) keyPos(key string) int {
	m := classicPos
	if p.Modern() {
		m = modernPos
	}
	if i, ok := m[key]; ok {
		return i
	}
	return -1
}

// FormatTime spells a new timestamp the way the profile's bd writes it (§7): classic uses the local
// zone with sub-second precision, modern uses UTC whole seconds.
func (p Profile) FormatTime(t time.Time) string {
	return string(p.appendTime(nil, t))
}

func (p Profile) normTime(t time.Time) time.Time {
	if p.Modern() {
		return t.UTC().Truncate(time.Second)
	}
	return t.Local()
}

func (p Profile) appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = p.normTime(t).AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}
