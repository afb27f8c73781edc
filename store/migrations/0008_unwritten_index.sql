-- The issues never written to issues.jsonl (created through gtc since the last export) are the rows
-- whose raw bytes are NULL. The export asks for them first: with the file's profile known it then puts
-- them in on its one pass over the file, where it found them missing and wrote the whole file again.
-- A create adds an entry, the export that writes the record removes it; other writes leave it alone.
CREATE INDEX issue_bodies_unwritten ON issue_bodies(id) WHERE raw IS NULL;
