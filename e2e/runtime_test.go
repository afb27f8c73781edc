package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// printProcsEnv makes this test binary print the GOMAXPROCS the runtime chose for it and exit, before
// TestMain and the testing flags (-test.cpu sets GOMAXPROCS in the test process).
const printProcsEnv = "GTC_E2E_PRINT_GOMAXPROCS"

func init() {
	if os.Getenv(printProcsEnv) == "1" {
		fmt.Println(runtime.GOMAXPROCS(0))
		os.Exit(0)
	}
}

// defaultProcs is the GOMAXPROCS the runtime gives a process on this machine with GOMAXPROCS unset:
// this process's own may differ (GOMAXPROCS in the test's environment, go test -cpu).
func defaultProcs(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, printProcsEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reading the default GOMAXPROCS: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("reading the default GOMAXPROCS: %q: %v", out, err)
	}
	return n
}

// TestServeRuntimeTuning: gtc serve adds two Ps to GOMAXPROCS (for goroutines waiting while SQLite calls
// hold theirs) and holds the collector back until a 16 MiB heap while the live heap is small, and the
// operator's GOMAXPROCS, GOGC or --gc-floor-mib 0 win; read from the Go collector's gauges on /metrics.
func TestServeRuntimeTuning(t *testing.T) {
	procs := defaultProcs(t) // what the runtime gives a process here, before gtc adds its two
	tests := []struct {
		name             string
		env              map[string]string
		wantProcs        int
		minGOGC, maxGOGC float64
	}{
		{"defaults", nil, procs + 2, 101, 400},
		{"operator's GOMAXPROCS, floor off", map[string]string{"GOMAXPROCS": "1", "GTC_GC_FLOOR_MIB": "0"}, 1, 100, 100},
		{"operator's GOGC", map[string]string{"GOGC": "150"}, procs + 2, 150, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", "")
			t.Setenv("GOGC", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := shortDir(t)
			writeWorkspace(t, dir, 5, 1)
			p := startServe(t, dir, "--http", "127.0.0.1:0")
			_, body := httpGet(t, p.httpURL+"/metrics")
			gauge := func(name string) float64 {
				m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("/metrics has no %s", name)
				}
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatalf("%s %q: %v", name, m[1], err)
				}
				return v
			}
			if got := gauge("go_sched_gomaxprocs_threads"); got != float64(tc.wantProcs) {
				t.Errorf("GOMAXPROCS %v, want %d", got, tc.wantProcs)
			}
			if got := gauge("go_gc_gogc_percent"); got < tc.minGOGC || got > tc.maxGOGC {
				t.Errorf("GOGC %v, want %v to %v", got, tc.minGOGC, tc.maxGOGC)
			}
			p.stop(t)
		})
	}
}
