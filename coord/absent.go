package coord

import (
	"context"
	"time"
)

// Issues whose line a bd v1 file lacks. bd v1 deletes an issue by dropping its line (it writes no
// tombstones), and a file may also lack lines for a while for other reasons (a checkout, before bd's
// next export); gtc neither deletes such an issue nor hands it out until its line is back.

// setAbsent marks exactly ids as absent from the file (not handed out), clearing the issues marked
// before that are not among them.
func (c *core) setAbsent(now time.Time, ids []string) {
	c.advance(now)
	if len(ids) == 0 && len(c.absent) == 0 {
		return // a classic file's every import
	}
	next := make(map[string]bool, len(ids))
	for _, id := range ids {
		if it := c.issues[id]; it != nil {
			next[id] = true
			if it.flags&fAbsent == 0 {
				it.flags |= fAbsent
				c.refresh(it)
			}
		}
	}
	for id := range c.absent {
		if it := c.issues[id]; it != nil && !next[id] && it.flags&fAbsent != 0 {
			it.flags &^= fAbsent
			c.refresh(it) // ready again: refresh asks for a dispatch pass
		}
	}
	c.absent = next
}

// absentIDs lists the issues marked absent from the file.
func (c *core) absentIDs() []string {
	ids := make([]string, 0, len(c.absent))
	for id := range c.absent {
		ids = append(ids, id)
	}
	return ids
}

// SetAbsent marks exactly ids as missing from a bd v1 file: not handed out until their lines are back
// (a later call without them). The syncer's import reports them.
func (e *Engine) SetAbsent(ctx context.Context, ids []string) error {
	return e.do(ctx, func(c *core, now time.Time) error { c.setAbsent(now, ids); return nil }, nil)
}
