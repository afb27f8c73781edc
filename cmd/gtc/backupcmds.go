package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gastown/gtc/daemon"
	"github.com/gastown/gtc/store"
	"github.com/gofrs/flock"
	"github.com/urfave/cli/v2"
)

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "copy gtc.db (leases, workers, merge queue, audit log) to a new file, consistently, while the server runs or not",
		ArgsUsage: "FILE",
		Description: "The copy is one snapshot of the store, taken through a read-only connection: a running server goes on\n" +
			"committing. issues.jsonl is not in it (it is the issues' truth; keep it in git). `gtc restore FILE` puts a\n" +
			"backup back while no server runs.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print what the backup holds as JSON"}},
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "backup FILE [--json] (a new file to write the copy to)")
			if err != nil {
				return err
			}
			src := filepath.Join(c.String("dir"), ".beads", "gtc.db")
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no gtc.db in %s: nothing to back up (`gtc serve` and `gtc import` create it)", filepath.Dir(src))
			}
			info, err := store.Backup(c.Context, src, args[0])
			if err != nil {
				return err
			}
			if abs, err := filepath.Abs(info.Path); err == nil {
				if bdAbs, err := filepath.Abs(filepath.Dir(src)); err == nil && filepath.Dir(abs) == bdAbs &&
					!strings.HasPrefix(filepath.Base(abs), "gtc.db.") {
					// .beads is in git: only gtc.db* names are ignored there
					fmt.Fprintf(c.App.ErrWriter, "note: %s is in .beads, which git tracks: keep backups elsewhere, or name it gtc.db.<something> (ignored)\n", info.Path)
				}
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, info)
			}
			fmt.Fprintf(c.App.Writer, "backed up %s to %s: %d issues, %d live leases, audit log to event %d, %.1f MB (schema %s)\n",
				src, info.Path, info.Issues, info.LiveLeases, info.LastEvent, float64(info.Bytes)/1e6, info.Schema)
			return nil
		},
	}
}

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "replace gtc.db with a backup made by `gtc backup` (no server may run; the replaced file is kept beside it)",
		ArgsUsage: "FILE",
		Description: "The backup is checked first and migrated to this gtc's schema. The restored store continues the lease and\n" +
			"merge epochs, merge request ids and audit-log numbers of the store it replaces, so no worker or refinery\n" +
			"still holding work of that store is handed a new lease under the same epoch. Start `gtc serve` afterwards: it\n" +
			"imports issues.jsonl first, so issue changes written there since the backup come back from the file.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "restore even when the current gtc.db cannot be read (its epochs then continue from the clock)"},
			&cli.BoolFlag{Name: "json", Usage: "print what was done as JSON"},
		},
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 1, "restore [--force] [--json] FILE (a file written by gtc backup)")
			if err != nil {
				return err
			}
			dir := c.String("dir")
			bd := filepath.Join(dir, ".beads")
			if !isDir(bd) {
				return fmt.Errorf("no .beads directory in %s: pass --dir to the workspace to restore", dir)
			}
			lock := flock.New(filepath.Join(bd, "gtc.lock"))
			ok, err := lock.TryLock()
			if err != nil {
				return fmt.Errorf("lock workspace %s: %w", bd, err)
			}
			if !ok {
				return fmt.Errorf("a gtc server is running on %s: stop it first (SIGTERM), then restore", dir)
			}
			defer lock.Unlock()
			// the store it keeps (gtc.db.replaced-*) stays out of git as gtc.db does
			if err := daemon.EnsureGitignore(bd); err != nil {
				return err
			}
			ri, err := store.Restore(c.Context, args[0], filepath.Join(bd, "gtc.db"), c.Bool("force"))
			if err != nil {
				if errors.Is(err, store.ErrUnreadableStore) {
					return fmt.Errorf("%w; stop every worker and refinery of this workspace, then `gtc restore --force %s` "+
						"(lease and merge epochs then continue from the clock)", err, args[0])
				}
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ri)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "restored %s from %s: %d issues, %d live leases, audit log to event %d\n",
				filepath.Join(bd, "gtc.db"), ri.Backup.Path, ri.Backup.Issues, ri.Backup.LiveLeases, ri.Backup.LastEvent)
			switch {
			case strings.HasSuffix(ri.Replaced, "-wal"):
				fmt.Fprintf(w, "the WAL of the missing gtc.db is kept as %s\n", ri.Replaced)
			case ri.Replaced != "":
				fmt.Fprintf(w, "the store it replaced is kept as %s\n", ri.Replaced)
			}
			switch {
			case ri.FromClock && (ri.Replaced == "" || strings.HasSuffix(ri.Replaced, "-wal")):
				fmt.Fprintf(w, "lease and merge epochs continue from the clock (%d): there was no gtc.db to continue after\n", ri.LeaseEpoch)
			case ri.FromClock:
				fmt.Fprintf(w, "lease and merge epochs continue from the clock (%d): the replaced store's could not be read\n", ri.LeaseEpoch)
			default:
				fmt.Fprintf(w, "lease epochs continue after %d, merge epochs after %d\n", ri.LeaseEpoch, ri.MergeEpoch)
			}
			fmt.Fprintf(w, "start `gtc serve`: it reads issues.jsonl first, so issue changes written there since the backup come back\n")
			if len(ri.Lost) > 0 {
				fmt.Fprintf(w, "%d live leases of the replaced store are not in the backup: their workers drop them when they reconnect, "+
					"and their issues come back as issues.jsonl has them; one still in_progress for its worker is handed out again "+
					"with `gtc issue update ID --status open`:\n", len(ri.Lost))
				for _, l := range ri.Lost {
					fmt.Fprintf(w, "  %s (lease %s, worker %s)\n", l.IssueID, l.ID, l.Worker)
				}
			}
			return nil
		},
	}
}
