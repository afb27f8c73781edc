-- Fewer indexes on the hot write path: every assignment, ack and completion rewrites an issue's
-- status and a lease's state, and appends an event. These indexes served only start-up scans and rare
-- listings, which read the narrow tables directly instead.
DROP INDEX IF EXISTS issues_status;
DROP INDEX IF EXISTS leases_live;
DROP INDEX IF EXISTS leases_epoch;
DROP INDEX IF EXISTS events_issue;
