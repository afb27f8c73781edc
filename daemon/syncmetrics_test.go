package daemon

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/rpc"
)

// TestSyncDurationsByDirection: gtc_jsonl_sync_seconds observes an import when the file changed and an
// export when there were records to write, each under its own direction; idle ticks are not observed.
func TestSyncDurationsByDirection(t *testing.T) {
	h := start(t, []string{line("t-1", "one", 1)}, nil)
	_, addr := h.d.Addrs()
	count := func(dir string) int {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		prefix := `gtc_jsonl_sync_seconds_count{direction="` + dir + `"} `
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, prefix); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return 0
	}
	time.Sleep(300 * time.Millisecond) // a few idle ticks (interval 50 ms)
	imports, exports := count("import"), count("export")
	time.Sleep(300 * time.Millisecond)
	if count("import") != imports || count("export") != exports {
		t.Fatalf("idle ticks observed: import %d -> %d, export %d -> %d", imports, count("import"), exports, count("export"))
	}
	if _, err := h.d.issues.create(context.Background(), rpc.IssueCreateParams{ID: "t-2", Title: "two"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an export observed", func() bool { return count("export") > exports })
	path := filepath.Join(h.dir, ".beads", "issues.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, []byte(line("t-3", "three", 2)+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an import observed", func() bool { return count("import") > imports })
}
