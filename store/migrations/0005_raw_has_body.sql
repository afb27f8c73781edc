-- raw_has_body is 1 when issue_bodies.raw decodes to issue_bodies.body in every field the issues columns do
-- not override (status, assignee, updated_at, started_at, closed_at, close_reason, labels): an import's
-- line taken as it is, or an exported line the export found to hold the body it was patched from. Every
-- write of body or raw sets it again (a change through the protocol clears it). While it is set and the
-- file's line is still raw, the export patches the line with the state columns alone, without reading or
-- decoding the body. Existing rows start at 0: their next export reads the body and sets it.
ALTER TABLE issue_bodies ADD COLUMN raw_has_body INTEGER NOT NULL DEFAULT 0;
