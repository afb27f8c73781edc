package daemon

import (
	"os"
	"sync"
	"time"

	"github.com/gastown/gtc/beads"
)

// profileCache remembers the writer profile of the JSONL file until the file changes (size or mtime),
// so issue.create does not parse the whole file each time.
type profileCache struct {
	mu    sync.Mutex
	size  int64
	mtime time.Time
	ok    bool
	prof  beads.Profile
}

// get returns the profile of the file at path (classic when it is missing or unreadable).
func (c *profileCache) get(path string) beads.Profile {
	st, err := os.Stat(path)
	if err != nil {
		return beads.Classic
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && st.Size() == c.size && st.ModTime().Equal(c.mtime) {
		return c.prof
	}
	prof := beads.Classic
	if f, _, err := beads.ReadFile(path); err == nil {
		prof = f.Profile
	}
	c.size, c.mtime, c.prof, c.ok = st.Size(), st.ModTime(), prof, true
	return prof
}
