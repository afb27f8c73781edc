package store

import (
	"context"
	"time"
)

// checkpointer copies committed WAL pages back into the database file every interval, on its own
// connection, so the committer never stalls on a checkpoint. A PASSIVE checkpoint never blocks readers
// or the writer; it copies what it can and the next round continues. It exits when ckStop is closed.
func (db *DB) checkpointer(interval time.Duration) {
	defer close(db.ckDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.ckStop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			// an error (busy, I/O) is retried next round; a real storage failure surfaces on the next commit
			_, _ = db.ck.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
			cancel()
		}
	}
}
