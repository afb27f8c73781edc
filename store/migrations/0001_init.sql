-- Initial schema of the coordinator's store.
-- Timestamps are TEXT in RFC 3339 with nanoseconds ('' for none) so the issue's own offsets survive.

-- The projection the scheduler and the list filters need; kept narrow so state changes write few pages.
CREATE TABLE issues (
    id           TEXT PRIMARY KEY,
    status       TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    issue_type   TEXT    NOT NULL,
    assignee     TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL DEFAULT '',
    updated_at   TEXT    NOT NULL DEFAULT '',
    started_at   TEXT    NOT NULL DEFAULT '',
    closed_at    TEXT    NOT NULL DEFAULT '',
    close_reason TEXT    NOT NULL DEFAULT '',
    labels       TEXT    NOT NULL DEFAULT '[]', -- JSON copy of the labels table rows, for reads
    defer_until  TEXT    NOT NULL DEFAULT '',
    pinned       INTEGER NOT NULL DEFAULT 0,
    ephemeral    INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   TEXT    NOT NULL DEFAULT '',
    dirty        INTEGER NOT NULL DEFAULT 0,
    rev          INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX issues_status ON issues(status, priority, created_at, id);
CREATE INDEX issues_assignee ON issues(assignee) WHERE assignee <> '';
CREATE INDEX issues_dirty ON issues(id) WHERE dirty = 1;

-- The bulky part of each issue, written only by IssuePut and MarkExported.
CREATE TABLE issue_bodies (
    id   TEXT PRIMARY KEY REFERENCES issues(id) ON DELETE CASCADE,
    raw  BLOB,          -- record bytes as last imported or exported; NULL if never written
    body TEXT NOT NULL  -- beads.Issue as JSON as of the last IssuePut; the issues columns override its fields
);

-- Labels in insertion order (rowid); authoritative over the labels inside issue_bodies.body.
CREATE TABLE labels (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    UNIQUE (issue_id, label)
);
CREATE INDEX labels_label ON labels(label);

-- Dependency edges in record order (rowid): issue_id depends on depends_on_id.
CREATE TABLE dependencies (
    issue_id      TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE,
    depends_on_id TEXT NOT NULL,
    type          TEXT NOT NULL DEFAULT '',
    metadata      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dependencies_issue ON dependencies(issue_id);
CREATE INDEX dependencies_on ON dependencies(depends_on_id);

CREATE TABLE workers (
    name       TEXT PRIMARY KEY,
    role       TEXT    NOT NULL DEFAULT '',
    capacity   INTEGER NOT NULL DEFAULT 0,
    filters    TEXT    NOT NULL DEFAULT '{}',
    state      TEXT    NOT NULL DEFAULT '',
    first_seen TEXT    NOT NULL DEFAULT '',
    last_seen  TEXT    NOT NULL DEFAULT ''
);

-- Every lease ever made: the attempt history.
CREATE TABLE leases (
    id           TEXT PRIMARY KEY,
    issue_id     TEXT    NOT NULL,
    worker       TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    state        TEXT    NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT    NOT NULL DEFAULT '',
    ack_deadline TEXT    NOT NULL DEFAULT '',
    deadline     TEXT    NOT NULL DEFAULT '',
    ended_at     TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    progress     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX leases_issue ON leases(issue_id, epoch);
CREATE INDEX leases_epoch ON leases(epoch);
CREATE INDEX leases_live ON leases(id) WHERE state IN ('pushed', 'acked');

CREATE TABLE merge_requests (
    id         TEXT PRIMARY KEY,
    issue_id   TEXT    NOT NULL DEFAULT '',
    worker     TEXT    NOT NULL DEFAULT '',
    branch     TEXT    NOT NULL DEFAULT '',
    commit_id  TEXT    NOT NULL DEFAULT '',
    target     TEXT    NOT NULL DEFAULT '',
    files      TEXT    NOT NULL DEFAULT '[]',
    state      TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    refinery   TEXT    NOT NULL DEFAULT '',
    epoch      INTEGER NOT NULL DEFAULT 0,
    deadline   TEXT    NOT NULL DEFAULT '',
    created_at TEXT    NOT NULL DEFAULT '',
    updated_at TEXT    NOT NULL DEFAULT '',
    error      TEXT    NOT NULL DEFAULT '',
    conflicts  TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX merge_requests_state ON merge_requests(state, created_at);
CREATE INDEX merge_requests_issue ON merge_requests(issue_id);

-- Append-only audit log.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    issue_id TEXT NOT NULL DEFAULT '',
    lease_id TEXT NOT NULL DEFAULT '',
    worker   TEXT NOT NULL DEFAULT '',
    actor    TEXT NOT NULL DEFAULT '',
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_issue ON events(issue_id, seq) WHERE issue_id <> '';

-- Coordinator settings and sync bookkeeping.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
