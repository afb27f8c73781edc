package metrics

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestExampleRulesNameExportedMetrics: the alerting and recording rules in docs/prometheus name only
// metrics gtc exports (a renamed metric would leave an alert that never fires), and promtool, when
// installed, accepts them.
func TestExampleRulesNameExportedMetrics(t *testing.T) {
	const path = "../docs/prometheus/gtc-rules.yml"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, reg := newTest(t, WithMethods("complete"))
	m.ObserveRPC("complete", 0, time.Millisecond)
	m.ObserveAssign(StageReadyToPush, time.Millisecond)
	m.ObserveCommit(time.Millisecond, 1)
	m.ObserveSync(DirectionExport, time.Millisecond)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}
	names := regexp.MustCompile(`\bgtc_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) == 0 {
		t.Fatal("no gtc_ metric named in the rules")
	}
	for _, n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if s := strings.TrimSuffix(n, suf); s != n && exported[s] {
				base = s
			}
		}
		if !exported[base] {
			t.Errorf("%s names %s, which gtc does not export", path, n)
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(p, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules: %v\n%s", err, out)
		}
	}
}
