package main

import (
	"fmt"
	"testing"
)

// A memory target or collector floor out of range is refused before anything starts, with the flag named.
func TestServeRefusesABadMemoryTarget(t *testing.T) {
	dir := newWorkspace(t)
	for _, flag := range []string{"--memory-target-mib", "--gc-floor-mib"} {
		for _, v := range []string{"-1", fmt.Sprint(maxMemoryTargetMiB + 1), fmt.Sprint(1 << 44)} {
			want(t, dir, exitUsage, []string{"serve", "--socket", "-", flag, v}, flag+" "+v, "want 0 (off)")
		}
	}
}

// A negative --retain (0 is the way to keep all history) or one under a minute (the prunes are a minute
// apart) is refused, with the flag named.
func TestServeRefusesABadRetain(t *testing.T) {
	dir := newWorkspace(t)
	for _, v := range []string{"-5m", "500us", "59s"} {
		want(t, dir, exitUsage, []string{"serve", "--socket", "-", "--retain", v}, "--retain ", "want a minute or more, or 0 to keep all history")
	}
}
