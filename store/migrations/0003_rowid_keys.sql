-- Fewer b-trees per transition on the hot write path.
-- Leases are keyed by their epoch (the table's rowid): a lease write touches the table itself, and only
-- a new lease adds an entry to leases_issue. Before, the text id had its own unique index.
CREATE TABLE leases_by_epoch (
    epoch        INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL,
    issue_id     TEXT    NOT NULL,
    worker       TEXT    NOT NULL,
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
INSERT INTO leases_by_epoch (epoch, id, issue_id, worker, state, attempt, created_at, ack_deadline, deadline,
    ended_at, outcome, error, progress)
    SELECT epoch, id, issue_id, worker, state, attempt, created_at, ack_deadline, deadline, ended_at, outcome,
    error, progress FROM leases ORDER BY epoch;
DROP TABLE leases;
ALTER TABLE leases_by_epoch RENAME TO leases;
-- index entries carry the rowid, so one issue's leases come out in epoch order
CREATE INDEX leases_issue ON leases(issue_id);

-- The audit log is written one row per transaction: event_batches holds the events of one commit as a
-- JSON array (keys t time, k kind, i issue, l lease, w worker, a actor, d detail), numbered first_seq,
-- first_seq+1, ... . An assignment cycle appended three rows to events before; now a commit of
-- hundreds of transitions appends one. Existing events move over as batches of one.
CREATE TABLE event_batches (
    first_seq INTEGER PRIMARY KEY,
    count     INTEGER NOT NULL,
    events    BLOB    NOT NULL
);
INSERT INTO event_batches (first_seq, count, events)
    SELECT seq, 1, json_array(json_object('t', time, 'k', kind, 'i', issue_id, 'l', lease_id, 'w', worker,
        'a', actor, 'd', detail)) FROM events ORDER BY seq;
DROP TABLE events;
-- the old shape, for people and scripts reading the database with sqlite3
CREATE VIEW events AS
    SELECT b.first_seq + e.key AS seq, e.value ->> '$.t' AS time, e.value ->> '$.k' AS kind,
        COALESCE(e.value ->> '$.i', '') AS issue_id, COALESCE(e.value ->> '$.l', '') AS lease_id,
        COALESCE(e.value ->> '$.w', '') AS worker, COALESCE(e.value ->> '$.a', '') AS actor,
        COALESCE(e.value ->> '$.d', '') AS detail
    FROM event_batches AS b, json_each(b.events) AS e;

-- The store keeps the set of dirty issue ids in memory (filled from a scan at open), so the dirty flag
-- no longer needs an index that every state change rewrote; listing by assignee scans the narrow table,
-- like listing by status since 0002.
DROP INDEX IF EXISTS issues_dirty;
DROP INDEX IF EXISTS issues_assignee;
