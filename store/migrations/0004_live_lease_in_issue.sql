-- A live lease is kept in its issue's row (lease_epoch, lease: a JSON object), so that an assignment, an
-- ack or a heartbeat changes one row: the store writes the issue's new status and its lease in one UPDATE.
-- lease_history keeps every ended lease (the attempt history). The view `leases` shows both, one row per
-- lease, with the columns the table had.
ALTER TABLE issues ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN lease TEXT NOT NULL DEFAULT '';

-- the newest live lease of each issue moves into the issue's row
UPDATE issues SET lease_epoch = l.epoch,
    lease = json_object('id', l.id, 'worker', l.worker, 'state', l.state, 'attempt', l.attempt,
        'created_at', l.created_at, 'ack_deadline', l.ack_deadline, 'deadline', l.deadline, 'progress', l.progress)
    FROM (SELECT * FROM leases WHERE state IN ('pushed', 'acked') AND epoch IN
            (SELECT MAX(epoch) FROM leases WHERE state IN ('pushed', 'acked') GROUP BY issue_id)) AS l
    WHERE l.issue_id = issues.id;
DELETE FROM leases WHERE EXISTS (SELECT 1 FROM issues AS i WHERE i.id = leases.issue_id AND i.lease_epoch = leases.epoch);

ALTER TABLE leases RENAME TO lease_history;

CREATE VIEW leases AS
    SELECT epoch, id, issue_id, worker, state, attempt, created_at, ack_deadline, deadline, ended_at, outcome,
        error, progress FROM lease_history
    UNION ALL
    SELECT lease_epoch, lease ->> '$.id', id, lease ->> '$.worker', lease ->> '$.state', lease ->> '$.attempt',
        lease ->> '$.created_at', lease ->> '$.ack_deadline', lease ->> '$.deadline', '', '', '', lease ->> '$.progress'
    FROM issues WHERE lease_epoch > 0;
