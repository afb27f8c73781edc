package beads

import "time"

// Issue is the parsed view of one issue record: the fields gtc reads or changes.
// Every other key of the record lives only in its raw bytes and is kept as is.
type Issue struct {
	ID                 string       `json:"id"`
	Title              string       `json:"title"`
	Description        string       `json:"description,omitempty"`
	Design             string       `json:"design,omitempty"`
	AcceptanceCriteria string       `json:"acceptance_criteria,omitempty"`
	Notes              string       `json:"notes,omitempty"`
	Status             string       `json:"status"`
	Priority           int          `json:"priority"`
	IssueType          string       `json:"issue_type"`
	Assignee           string       `json:"assignee,omitempty"`
	Owner              string       `json:"owner,omitempty"`
	CreatedAt          time.Time    `json:"created_at"`
	CreatedBy          string       `json:"created_by,omitempty"`
	UpdatedAt          time.Time    `json:"updated_at"`
	StartedAt          *time.Time   `json:"started_at,omitempty"`
	ClosedAt           *time.Time   `json:"closed_at,omitempty"`
	CloseReason        string       `json:"close_reason,omitempty"`
	DeferUntil         *time.Time   `json:"defer_until,omitempty"`
	Labels             []string     `json:"labels,omitempty"`
	Dependencies       []Dependency `json:"dependencies,omitempty"`
	Comments           []Comment    `json:"comments,omitempty"`
	Pinned             bool         `json:"pinned,omitempty"`
	Ephemeral          bool         `json:"ephemeral,omitempty"`
	DeletedAt          *time.Time   `json:"deleted_at,omitempty"`
}

// Dependency is one edge of an issue: IssueID depends on DependsOnID with the given Type.
type Dependency struct {
	IssueID     string    `json:"issue_id"`
	DependsOnID string    `json:"depends_on_id"`
	Type        string    `json:"type"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Metadata    string    `json:"metadata,omitempty"`
}

// Comment is one comment on an issue; ID is an integer in classic files and a string in modern ones.
type Comment struct {
	ID        string    `json:"id"`
	IssueID   string    `json:"issue_id"`
	Author    string    `json:"author"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}
