package main

import (
	"fmt"
	"testing"
)

// A memory target out of range is refused before anything starts, with the flag named.
func TestServeRefusesABadMemoryTarget(t *testing.T) {
	dir := newWorkspace(t)
	for _, v := range []string{"-1", fmt.Sprint(maxMemoryTargetMiB + 1), fmt.Sprint(1 << 44)} {
		want(t, dir, exitUsage, []string{"serve", "--socket", "-", "--memory-target-mib", v}, "--memory-target-mib "+v, "want 0 (off)")
	}
}

// A negative --retain is refused (0 is the way to keep all history), with the flag named.
func TestServeRefusesANegativeRetain(t *testing.T) {
	want(t, newWorkspace(t), exitUsage, []string{"serve", "--socket", "-", "--retain", "-5m"}, "--retain -5m0s", "0 to keep all history")
}
