package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gastown/gtc/beads"
	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/store"
	"github.com/gofrs/flock"
	"github.com/urfave/cli/v2"
)

// offlineStore is the store used by `gtc import` and `gtc export` when no server runs: imported
// records go straight into SQLite.
type offlineStore struct{ *store.DB }

// ApplyImport implements beads.Backend.
func (s offlineStore) ApplyImport(ctx context.Context, recs []beads.ImportedRecord) error {
	return s.ImportIssues(ctx, recs)
}

// withOfflineSyncer opens the workspace's store under the workspace lock (refusing while a server
// runs) and hands fn a syncer for its issues.jsonl.
func withOfflineSyncer(c *cli.Context, fn func(ctx context.Context, s *beads.Syncer) error) error {
	dir := c.String("dir")
	bd := filepath.Join(dir, ".beads")
	if !isDir(bd) {
		return fmt.Errorf("no .beads directory in %s: run `gtc init` there, or pass --dir to a workspace", dir)
	}
	lock := flock.New(filepath.Join(bd, "gtc.lock"))
	ok, err := lock.TryLock()
	if err != nil {
		return fmt.Errorf("lock workspace %s: %w", bd, err)
	}
	if !ok {
		return fmt.Errorf("a gtc server is running on %s: it imports and exports issues.jsonl every sync tick (stop it to run this by hand)", dir)
	}
	defer lock.Unlock()
	// gtc.db and the locks appear now: keep them out of git as `gtc serve` does
	if err := daemon.EnsureGitignore(bd); err != nil {
		return err
	}
	ctx := c.Context
	db, err := store.Open(ctx, filepath.Join(bd, "gtc.db"), store.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	return fn(ctx, beads.NewSyncer(filepath.Join(bd, "issues.jsonl"), offlineStore{db}, nil))
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "read .beads/issues.jsonl into gtc's store (new and newer records; a server does this every tick)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the counts as JSON"}},
		Action: func(c *cli.Context) error {
			return withOfflineSyncer(c, func(ctx context.Context, s *beads.Syncer) error {
				start := time.Now()
				st, err := s.Import(ctx)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, map[string]any{"records": st.Records, "new": st.New, "updated": st.Updated,
						"unchanged": st.Unchanged, "kept": st.Kept, "tombstoned": st.Tombstoned, "restored": st.Restored,
						"seconds": time.Since(start).Seconds()})
				}
				fmt.Fprintf(c.App.Writer, "imported %s: %d records (%d new, %d updated, %d unchanged, %d kept, %d tombstones, %d missing to write back) in %v\n",
					s.Path(), st.Records, st.New, st.Updated, st.Unchanged, st.Kept, st.Tombstoned, st.Restored, time.Since(start).Round(time.Millisecond))
				if len(st.MissingIDs) > 0 {
					what := "the next export writes them back"
					if st.Restored == 0 {
						what = "a bd v1 file: not written back; `gtc issue update ID --status tombstone` deletes one in gtc too"
					}
					fmt.Fprintf(c.App.ErrWriter, "gtc import: issues gtc holds are missing from the file (%s): %s\n", what, strings.Join(st.MissingIDs, ", "))
				}
				return nil
			})
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write gtc's changes into .beads/issues.jsonl (only changed records; untouched lines stay byte for byte)",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the counts as JSON"}},
		Action: func(c *cli.Context) error {
			return withOfflineSyncer(c, func(ctx context.Context, s *beads.Syncer) error {
				st, err := s.Export(ctx)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, map[string]any{"dirty": st.Dirty, "patched": st.Patched, "inserted": st.Inserted,
						"removed": st.Removed, "written": st.Written, "sha256": st.SHA})
				}
				if !st.Written {
					fmt.Fprintf(c.App.Writer, "%s is up to date: nothing written\n", s.Path())
					return nil
				}
				fmt.Fprintf(c.App.Writer, "exported %s: %d patched, %d inserted, %d removed\n", s.Path(), st.Patched, st.Inserted, st.Removed)
				return nil
			})
		},
	}
}

// isDir reports whether p is an existing directory.
func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
