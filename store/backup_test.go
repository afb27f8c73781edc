package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
)

// TestBackupWhileCommitting: a backup taken while another goroutine commits is a consistent snapshot
// (SQLite's quick_check passes, every issue it holds has its body, and its issues are a prefix of the
// commits), and the store keeps committing meanwhile; a backup onto an existing file is refused.
func TestBackupWhileCommitting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, filepath.Join(dir, "gtc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	for i := range 200 {
		commit(t, db, coord.IssuePut{Issue: sampleIssue(fmt.Sprintf("gt-%04d", i))})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 200; ; i++ {
			select {
			case <-stop:
				written = i
				return
			default:
			}
			if err := db.Commit(ctx, []coord.Change{coord.IssuePut{Issue: sampleIssue(fmt.Sprintf("gt-%04d", i))}}); err != nil {
				t.Error(err)
				written = i
				return
			}
		}
	}()
	dst := filepath.Join(dir, "backup.db")
	info, err := Backup(ctx, db.Path(), dst)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != dst || info.Issues < 200 || info.Issues > written || info.Schema == "" || info.Bytes == 0 {
		t.Fatalf("backup %+v (wrote %d issues)", info, written)
	}
	if _, err := os.Stat(dst + fmt.Sprintf(".partial-%d", os.Getpid())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	copyDB, snap := openLoaded(t, dst)
	if len(snap.Issues) != info.Issues {
		t.Fatalf("the copy loads %d issues, Inspect counted %d", len(snap.Issues), info.Issues)
	}
	for i := range info.Issues {
		id := fmt.Sprintf("gt-%04d", i)
		if _, _, err := copyDB.Body(ctx, id); err != nil {
			t.Fatalf("issue %s of the copy's %d: %v", id, info.Issues, err)
		}
	}
	if _, err := Backup(ctx, db.Path(), dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup onto an existing file: %v", err)
	}
	if _, err := Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "b2.db")); err == nil {
		t.Fatal("backup of a missing store succeeded")
	}
	if _, err := Backup(ctx, db.Path(), dir); err == nil || !strings.Contains(err.Error(), "a directory") {
		t.Fatalf("backup onto a directory: %v", err)
	}
	if _, err := Backup(ctx, db.Path(), filepath.Join(dir, "none", "b.db")); err == nil || !strings.Contains(err.Error(), "no directory") {
		t.Fatalf("backup into a missing directory: %v", err)
	}
	if _, err := Restore(ctx, db.Path(), db.Path(), false); err == nil || !strings.Contains(err.Error(), "the store itself") {
		t.Fatalf("restore of the store onto itself: %v", err)
	}
}

// TestRestoreContinuesCounters: a store restored from a backup continues the lease epochs, merge epochs,
// merge ids and audit-log numbers of the store it replaced (kept beside it), records the restore as an
// event, holds the backup's issues and live leases, and names the live leases of the replaced store the
// backup does not hold.
func TestRestoreContinuesCounters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "gtc.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lease := func(id string, epoch int64) coord.Change {
		return coord.LeasePut{Lease: coord.Lease{ID: id, IssueID: "gt-1", Worker: "w", Epoch: epoch, State: coord.LeaseEnded,
			CreatedAt: t0, EndedAt: tp(t0), Outcome: "success"}}
	}
	merge := func(id string, epoch int64) coord.Change {
		return coord.MergePut{Request: coord.MergeRequest{ID: id, IssueID: "gt-1", Worker: "w", State: "merged", Epoch: epoch,
			CreatedAt: t0, UpdatedAt: t0}}
	}
	live := func(id, issue string, epoch int64) coord.Change {
		return coord.LeasePut{Lease: coord.Lease{ID: id, IssueID: issue, Worker: "w", Epoch: epoch, State: coord.LeaseAcked,
			CreatedAt: t0, AckDeadline: t0, Deadline: t0.Add(time.Minute)}}
	}
	ev := coord.EventAppend{Event: coord.Event{Time: t0, Kind: "completed", IssueID: "gt-1"}}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")}, lease("L-5", 5), live("L-6", "gt-1", 6), merge("MR-1", 2),
		coord.MetaPut{Key: coord.MetaMergeSeq, Value: "1"}, ev, ev, ev)
	backup := filepath.Join(dir, "backup.db")
	if _, err := Backup(ctx, path, backup); err != nil {
		t.Fatal(err)
	}
	// after the backup: more leases, merges and events, some still in the WAL when the store is replaced
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-2")}, lease("L-9", 9), live("L-10", "gt-2", 10), merge("MR-3", 4),
		coord.MetaPut{Key: coord.MetaMergeSeq, Value: "3"}, ev, ev, ev, ev)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ri, err := Restore(ctx, backup, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if ri.LeaseEpoch != 10 || ri.MergeEpoch != 4 || ri.MergeSeq != 3 || ri.EventSeq != 8 || ri.FromClock || ri.Backup.Issues != 1 ||
		ri.Backup.LiveLeases != 1 || len(ri.Lost) != 1 || ri.Lost[0] != (LostLease{ID: "L-10", IssueID: "gt-2", Worker: "w"}) {
		t.Fatalf("restore: %+v", ri)
	}
	replaced, err := Inspect(ctx, ri.Replaced)
	if err != nil || replaced.Issues != 2 || replaced.LastEvent != 7 {
		t.Fatalf("the replaced store kept as %s: %+v, %v", ri.Replaced, replaced, err)
	}
	db, snap := openLoaded(t, path)
	if len(snap.Issues) != 1 || snap.Issues[0].ID != "gt-1" || snap.MaxEpoch != 6 || len(snap.Leases) != 1 ||
		snap.Meta[coord.MetaLeaseEpochFloor] != "10" || snap.Meta[coord.MetaMergeEpochFloor] != "4" || snap.Meta[coord.MetaMergeSeq] != "3" {
		t.Fatalf("restored store: %d issues, max epoch %d, meta %v", len(snap.Issues), snap.MaxEpoch, snap.Meta)
	}
	evs, err := db.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4 || evs[3].Seq != 8 || evs[3].Kind != "store_restored" || !strings.Contains(evs[3].Detail, "lease epochs continue after 10") {
		t.Fatalf("restored audit log: %+v", evs)
	}
	// the next event continues after the restore's
	commit(t, db, ev)
	if last, err := db.LastEventSeq(ctx); err != nil || last != 9 {
		t.Fatalf("next event: %d, %v", last, err)
	}
}

// TestRestoreKeepsAKilledStoresWAL: a store whose server was killed (its last commits only in
// gtc.db-wal) is kept whole when a backup replaces it: the replaced file holds those commits, and no
// WAL of it is left beside the restored gtc.db (SQLite would apply its frames to the restored store).
func TestRestoreKeepsAKilledStoresWAL(t *testing.T) {
	ctx := context.Background()
	_, backup, path := killedAfterBackup(t)
	ri, err := Restore(ctx, backup, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a WAL beside the restored store: %v", err)
	}
	replaced, err := Inspect(ctx, ri.Replaced)
	if err != nil || replaced.Issues != 3 {
		t.Fatalf("the replaced store: %+v, %v (want its 3 issues)", replaced, err)
	}
	if restored, err := Inspect(ctx, path); err != nil || restored.Issues != 1 {
		t.Fatalf("the restored store: %+v, %v", restored, err)
	}
}

// TestRestoreTwiceAndBack: two restores within a second keep both replaced stores (under distinct names;
// the second overwrote the first), and a kept store restored back — undoing a restore — comes back whole,
// also when the file restored from has a WAL beside it (its commits were lost: only the file was copied).
func TestRestoreTwiceAndBack(t *testing.T) {
	ctx := context.Background()
	dir, backup, crash := killedAfterBackup(t)
	path := filepath.Join(dir, "ws", "gtc.db")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// restore from the crash copy: its WAL's commits come along
	if _, err := Restore(ctx, crash, path, false); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(ctx, path); err != nil || info.Issues != 3 {
		t.Fatalf("restored from a store with a WAL: %+v, %v; want its 3 issues", info, err)
	}
	first, err := Restore(ctx, backup, path, false)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Restore(ctx, backup, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replaced == second.Replaced {
		t.Fatalf("both restores kept their store as %s", first.Replaced)
	}
	if info, err := Inspect(ctx, first.Replaced); err != nil || info.Issues != 3 {
		t.Fatalf("the first replaced store: %+v, %v", info, err)
	}
	// undo: the first replaced store back
	if _, err := Restore(ctx, first.Replaced, path, false); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(ctx, path); err != nil || info.Issues != 3 {
		t.Fatalf("restored back: %+v, %v", info, err)
	}
}

// killedAfterBackup makes a store with gt-1, its backup, then commits gt-2 and gt-3 and copies the
// store's file and WAL as a kill -9 leaves them (gt-2 and gt-3 only in the WAL) to crash. It returns
// the test's directory, the backup and the crash copy.
func killedAfterBackup(t *testing.T) (dir, backup, crash string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	live := filepath.Join(dir, "live.db")
	db, err := Open(ctx, live, Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")})
	backup = filepath.Join(dir, "backup.db")
	if _, err := Backup(ctx, live, backup); err != nil {
		t.Fatal(err)
	}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-2")}, coord.IssuePut{Issue: sampleIssue("gt-3")})
	crash = filepath.Join(dir, "crash", "gtc.db")
	if err := os.Mkdir(filepath.Dir(crash), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(live+suffix, crash+suffix); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := os.Stat(crash + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("no WAL in the crash copy: %v", err)
	}
	return dir, backup, crash
}

// TestRestoreRefusals: a damaged or foreign backup, or one of a newer schema, is refused with the store
// left as it was; a store to replace that cannot be read is refused unless forced, and then the epochs
// continue from the clock.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db, err := Open(ctx, good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	if _, err := Backup(ctx, good, newer); err != nil {
		t.Fatal(err)
	}
	if err := withWritable(newer, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', '')`); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database\n", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, backup, want string
		is                 error
	}{
		{"not a database", junk, "not a readable SQLite database", nil},
		{"newer schema", newer, "9999_future", ErrNewerSchema},
		{"missing", filepath.Join(dir, "none.db"), "no such file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gtc.db")
			if err := copyFile(good, path); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(path)
			_, err := Restore(ctx, tc.backup, path, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("restore from %s: %v", tc.backup, err)
			}
			after, _ := os.ReadFile(path)
			if string(before) != string(after) {
				t.Fatal("the store changed")
			}
			if left, _ := filepath.Glob(path + ".*"); len(left) != 0 {
				t.Fatalf("files left: %v", left)
			}
		})
	}

	t.Run("unreadable store to replace", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gtc.db")
		if err := os.WriteFile(path, []byte("damaged"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Restore(ctx, good, path, false); !errors.Is(err, ErrUnreadableStore) {
			t.Fatalf("unforced: %v", err)
		}
		if b, _ := os.ReadFile(path); string(b) != "damaged" {
			t.Fatal("the store changed")
		}
		start := time.Now().UnixMicro()
		ri, err := Restore(ctx, good, path, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ri.FromClock || ri.LeaseEpoch < start || ri.MergeEpoch < start || ri.LeaseEpoch > time.Now().UnixMicro() {
			t.Fatalf("forced: %+v (clock %d)", ri, start)
		}
		if b, _ := os.ReadFile(ri.Replaced); string(b) != "damaged" {
			t.Fatalf("the damaged store is not kept as %s", ri.Replaced)
		}
		info, err := Inspect(ctx, path)
		if err != nil || info.Issues != 1 {
			t.Fatalf("restored: %+v, %v", info, err)
		}
		_, snap := openLoaded(t, path)
		if f, _ := strconv.ParseInt(snap.Meta[coord.MetaLeaseEpochFloor], 10, 64); f != ri.LeaseEpoch {
			t.Fatalf("lease epoch floor %q, want %d", snap.Meta[coord.MetaLeaseEpochFloor], ri.LeaseEpoch)
		}
	})
}

// withWritable runs one statement on the SQLite file at path.
func withWritable(path, stmt string) error {
	db, err := Open(context.Background(), path, Options{CheckpointInterval: -1})
	if err != nil {
		return err
	}
	if _, err := db.w.Exec(stmt); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// TestOpenRefusesAnOrphanWAL: a store whose file is gone while its WAL (with commits) is left is not
// opened as a new, empty store (the WAL's commits would be lost); an empty WAL is no obstacle.
func TestOpenRefusesAnOrphanWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	db, err := Open(ctx, live, Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	commit(t, db, coord.IssuePut{Issue: sampleIssue("gt-1")})
	path := filepath.Join(dir, "ws", "gtc.db")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(live+"-wal", path+"-wal"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, path, Options{}); !errors.Is(err, ErrOrphanWAL) {
		t.Fatalf("open beside an orphan WAL: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a database file was created: %v", err)
	}
	if err := os.Truncate(path+"-wal", 0); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open beside an empty WAL: %v", err)
	}
	_ = fresh.Close()
}

// openLoaded opens the store at path (closed when the test ends) and loads its snapshot.
func openLoaded(t *testing.T, path string) (*DB, *coord.Snapshot) {
	t.Helper()
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	snap, err := db.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return db, snap
}

// TestRestoreOverAnOrphanWAL: a restore where gtc.db is gone but its WAL (with commits) is left is
// refused unless forced, and forced it keeps the WAL aside instead of leaving it beside the restored
// store (SQLite applied its frames to the copy: a corrupt store, a trial's "database disk image is
// malformed").
func TestRestoreOverAnOrphanWAL(t *testing.T) {
	ctx := context.Background()
	_, backup, crash := killedAfterBackup(t)
	if err := os.Remove(crash); err != nil { // gtc.db gone, its WAL left
		t.Fatal(err)
	}
	if _, err := Restore(ctx, backup, crash, false); !errors.Is(err, ErrOrphanWAL) {
		t.Fatalf("unforced: %v", err)
	}
	ri, err := Restore(ctx, backup, crash, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crash + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the orphan WAL is beside the restored store: %v", err)
	}
	if st, err := os.Stat(ri.Replaced); err != nil || st.Size() == 0 || !strings.HasSuffix(ri.Replaced, "-wal") {
		t.Fatalf("the orphan WAL kept as %q: %v", ri.Replaced, err)
	}
	_, snap := openLoaded(t, crash)
	if len(snap.Issues) != 1 {
		t.Fatalf("the restored store holds %d issues, want the backup's 1", len(snap.Issues))
	}
}
