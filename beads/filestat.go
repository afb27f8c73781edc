package beads

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// racyWindow is how long after its mtime a file's stat is not trusted: a write within the
// filesystem's timestamp granularity could leave size and mtime unchanged (FAT rounds to 2 s).
const racyWindow = 3 * time.Second

// fileStat is what the syncer remembers of the file it last read or wrote, instead of its bytes.
type fileStat struct {
	fi      fs.FileInfo // nil: unknown (or the file was missing)
	sha     string      // sha256 of the bytes that had this stat
	trusted bool        // the stat was taken more than racyWindow after the mtime
}

// seen records the stat of the file whose bytes hash to sha; fi nil forgets it.
func (s *Syncer) seen(fi fs.FileInfo, sha string) {
	if fi == nil {
		s.fileStat = fileStat{}
		return
	}
	s.fileStat = fileStat{fi: fi, sha: sha, trusted: time.Since(fi.ModTime()) > racyWindow}
}

// untouched reports whether the file on disk is, by its stat, still the one whose sha256 is s.fileSHA:
// same inode, size and mtime, and that stat was not taken within racyWindow of the mtime.
func (s *Syncer) untouched() bool {
	last := s.fileStat
	if last.fi == nil || !last.trusted || last.sha != s.fileSHA || s.fileSHA == "" {
		return false
	}
	cur, err := os.Stat(s.path)
	if err != nil {
		return false
	}
	return os.SameFile(cur, last.fi) && cur.Size() == last.fi.Size() && cur.ModTime().Equal(last.fi.ModTime()) &&
		cur.Mode() == last.fi.Mode() && sameCtime(cur, last.fi)
}

// sameCtime compares the inode change times where the platform gives them: a tool that restores the
// mtime after writing (cp -p, rsync -t, touch -r) still moves the ctime.
func sameCtime(a, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true
	}
	return sa.Ctim == sb.Ctim
}
