package beads

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flexTime reads the timestamp spellings found in the wild: RFC3339 with any fraction, with or without
// zone, 'T' or space separated. null and "" read as the zero time.
type flexTime struct{ t time.Time }

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

func (ft *flexTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, ok := plainString(b)
	if !ok {
		s, ok = unquoteJSON(b)
	}
	if !ok {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("timestamp %s: not a string", b)
		}
	}
	t, err := parseTime(s)
	if err != nil {
		return err
	}
	ft.t = t
	return nil
}

// plainString returns the content of a JSON string literal without escapes.
func plainString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b, '\\') >= 0 {
		return "", false
	}
	return string(b[1 : len(b)-1]), true
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: unknown format", s)
}

func (ft *flexTime) ptr() *time.Time {
	if ft == nil || ft.t.IsZero() {
		return nil
	}
	t := ft.t
	return &t
}

// flexString reads a JSON string, or any other JSON value as its compact text (dependency metadata).
type flexString string

func (fs *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*fs = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, ok := unquoteJSON(b)
		if !ok {
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
		}
		*fs = flexString(s)
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*fs = flexString(buf.String())
	return nil
}

// flexID reads a comment id written as an integer (classic) or a string (modern).
type flexID string

func (fi *flexID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, ok := unquoteJSON(b)
		if !ok {
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
		}
		*fi = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("comment id %s: %w", b, err)
	}
	*fi = flexID(n.String())
	return nil
}

// flexInt reads an integer written as a number or a numeric string.
type flexInt int

func (fi *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("priority %s: %w", b, err)
	}
	*fi = flexInt(n)
	return nil
}

type wireDep struct {
	IssueID     string     `json:"issue_id"`
	DependsOnID string     `json:"depends_on_id"`
	Type        string     `json:"type"`
	CreatedAt   flexTime   `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	Metadata    flexString `json:"metadata"`
}

type wireComment struct {
	ID        flexID   `json:"id"`
	IssueID   string   `json:"issue_id"`
	Author    string   `json:"author"`
	Text      string   `json:"text"`
	CreatedAt flexTime `json:"created_at"`
}

type wireIssue struct {
	ID                 string        `json:"id"`
	Title              string        `json:"title"`
	Description        string        `json:"description"`
	Design             string        `json:"design"`
	AcceptanceCriteria string        `json:"acceptance_criteria"`
	Notes              string        `json:"notes"`
	Status             string        `json:"status"`
	Priority           flexInt       `json:"priority"`
	IssueType          string        `json:"issue_type"`
	Assignee           string        `json:"assignee"`
	Owner              string        `json:"owner"`
	CreatedAt          flexTime      `json:"created_at"`
	CreatedBy          string        `json:"created_by"`
	UpdatedAt          flexTime      `json:"updated_at"`
	StartedAt          *flexTime     `json:"started_at"`
	ClosedAt           *flexTime     `json:"closed_at"`
	CloseReason        string        `json:"close_reason"`
	DeferUntil         *flexTime     `json:"defer_until"`
	Labels             []string      `json:"labels"`
	Dependencies       []wireDep     `json:"dependencies"`
	Comments           []wireComment `json:"comments"`
	Pinned             bool          `json:"pinned"`
	Ephemeral          bool          `json:"ephemeral"`
	Wisp               bool          `json:"wisp"`
	DeletedAt          *flexTime     `json:"deleted_at"`
}

// Issue returns the parsed view of an issue record, tolerant of bd's variations: a comment id as int
// or string, empty status read as open, empty issue_type as task, dependency metadata as any JSON value.
// The returned slices are fresh copies.
func (r *Record) Issue() (Issue, error) {
	if r.Kind != KindIssue {
		return Issue{}, fmt.Errorf("line %d is not an issue record", r.Line)
	}
	if r.issue == nil {
		is, err := decodeIssue(r.raw)
		if err != nil {
			return Issue{}, fmt.Errorf("issue %s (line %d): %w", r.ID, r.Line, err)
		}
		r.issue = &is
	}
	return cloneIssue(*r.issue), nil
}

// issueRef returns the cached view without copying; callers must not modify it.
func (r *Record) issueRef() (*Issue, error) {
	if r.issue == nil {
		if _, err := r.Issue(); err != nil {
			return nil, err
		}
	}
	return r.issue, nil
}

func decodeIssue(raw []byte) (Issue, error) {
	var w wireIssue
	if err := decodeWire(raw, &w); err != nil {
		return Issue{}, err
	}
	return viewOf(&w), nil
}

// decodeLean is decodeIssue leaving out the string fields a patch of the state needs neither to compare
// nor to write (id, title, description, design, acceptance criteria, notes, issue_type, owner,
// created_by: empty, issue_type then "task") where the fast decoder reads the record (a record it leaves
// to encoding/json comes back whole). For a patch whose old and new views share those fields: it
// compares equal values and writes nothing for them, whatever they are.
func decodeLean(raw []byte) (Issue, error) {
	var w wireIssue
	d := fastDec{b: raw, lean: true}
	if !d.wireIssue(&w) {
		return decodeIssue(raw)
	}
	return viewOf(&w), nil
}

// viewOf is issueOf with the defaults of the parsed view.
func viewOf(w *wireIssue) Issue {
	is := issueOf(w)
	if is.Status == "" {
		is.Status = "open"
	}
	if is.IssueType == "" {
		is.IssueType = "task"
	}
	return is
}

// issueOf maps a decoded record to the view, without the defaults decodeIssue adds.
func issueOf(w *wireIssue) Issue {
	is := Issue{
		ID: w.ID, Title: w.Title, Description: w.Description, Design: w.Design,
		AcceptanceCriteria: w.AcceptanceCriteria, Notes: w.Notes, Status: w.Status,
		Priority: int(w.Priority), IssueType: w.IssueType, Assignee: w.Assignee, Owner: w.Owner,
		CreatedAt: w.CreatedAt.t, CreatedBy: w.CreatedBy, UpdatedAt: w.UpdatedAt.t,
		StartedAt: w.StartedAt.ptr(), ClosedAt: w.ClosedAt.ptr(), CloseReason: w.CloseReason,
		DeferUntil: w.DeferUntil.ptr(), Labels: w.Labels, Pinned: w.Pinned,
		Ephemeral: w.Ephemeral || w.Wisp, DeletedAt: w.DeletedAt.ptr(),
	}
	if len(w.Dependencies) > 0 {
		is.Dependencies = make([]Dependency, 0, len(w.Dependencies))
	}
	for _, d := range w.Dependencies {
		is.Dependencies = append(is.Dependencies, Dependency{
			IssueID: d.IssueID, DependsOnID: d.DependsOnID, Type: d.Type,
			CreatedAt: d.CreatedAt.t, CreatedBy: d.CreatedBy, Metadata: string(d.Metadata),
		})
	}
	if len(w.Comments) > 0 {
		is.Comments = make([]Comment, 0, len(w.Comments))
	}
	for _, c := range w.Comments {
		is.Comments = append(is.Comments, Comment{
			ID: string(c.ID), IssueID: c.IssueID, Author: c.Author, Text: c.Text, CreatedAt: c.CreatedAt.t,
		})
	}
	return is
}

func cloneIssue(is Issue) Issue {
	is.Labels = append([]string(nil), is.Labels...)
	is.Dependencies = append([]Dependency(nil), is.Dependencies...)
	is.Comments = append([]Comment(nil), is.Comments...)
	if len(is.Labels) == 0 {
		is.Labels = nil
	}
	if len(is.Dependencies) == 0 {
		is.Dependencies = nil
	}
	if len(is.Comments) == 0 {
		is.Comments = nil
	}
	return is
}
