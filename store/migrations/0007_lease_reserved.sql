-- A live lease says whether its issue was assigned to its worker before it (bd's assignee on an open
-- issue): when the lease ends without closing the issue, the issue stays assigned to that worker
-- instead of going to anyone. The flag lives in the issue row's lease JSON; the leases view shows it
-- (ended leases: 0).
DROP VIEW leases;
CREATE VIEW leases AS
    SELECT epoch, id, issue_id, worker, state, attempt, created_at, ack_deadline, deadline, ended_at, outcome,
        error, progress, 0 AS reserved FROM lease_history
    UNION ALL
    SELECT lease_epoch, lease ->> '$.id', id, lease ->> '$.worker', lease ->> '$.state', lease ->> '$.attempt',
        lease ->> '$.created_at', lease ->> '$.ack_deadline', lease ->> '$.deadline', '', '', '', lease ->> '$.progress',
        COALESCE(lease ->> '$.reserved', 0)
    FROM issues WHERE lease_epoch > 0;
