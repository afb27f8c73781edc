//go:build linux && cgo

package store

/*
#include <malloc.h>

static void gtc_limit_malloc_arenas(int n) {
#ifdef M_ARENA_MAX
	mallopt(M_ARENA_MAX, n);
#endif
}
*/
import "C"

import "os"

// mallocArenas caps glibc's malloc arenas (the default is eight per core). SQLite allocates from
// whichever OS thread the Go scheduler runs a cgo call on, and each such thread gets an arena of its
// own whose free pages stay mapped: with two arenas a 100,000-issue drain held ~4 MB less, without
// contention (one committer, a few readers; docs/benchmarks.md). MALLOC_ARENA_MAX, when set, wins.
const mallocArenas = 2

func init() {
	if os.Getenv("MALLOC_ARENA_MAX") == "" {
		C.gtc_limit_malloc_arenas(mallocArenas)
	}
}
