// Package beads reads and writes bd's .beads/issues.jsonl losslessly and keeps it in sync with the
// coordinator's store.
//
// Parse keeps every line's exact bytes; Record.Issue gives the parsed view; Record.Apply patches only the
// managed keys that changed, keeping key order, unknown keys and timestamp spellings; NewRecord and
// File.Upsert add records where the file's bd generation (Profile) would put them. ReadFile/WriteFile take
// bd's flock on .beads/.jsonl.lock and write atomically. Syncer runs the import/export cycle against a
// Backend (the store).
package beads
