package metrics

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// rulesPerInstanceTest is a promtool unit test of docs/prometheus/gtc-rules.yml with two gtc servers
// scraped by one Prometheus (instance a and b): each alert must be about one server, not the sum of
// them. Server a has ready issues and no worker, its issues wait ~30 minutes for one, and one stalled
// worker; server b has idle workers, takes a thousand issues a minute in under a second, and one stalled
// worker too. %s is the rules file.
const rulesPerInstanceTest = `
rule_files: [%q]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'gtc_issues{job="gtc",instance="a",state="ready"}', values: '3x30'}
      - {series: 'gtc_workers{job="gtc",instance="a",role="worker",state="idle"}', values: '0x30'}
      - {series: 'gtc_workers{job="gtc",instance="a",role="worker",state="busy"}', values: '0x30'}
      - {series: 'gtc_workers{job="gtc",instance="a",role="worker",state="stalled"}', values: '1x30'}
      - {series: 'gtc_issues{job="gtc",instance="b",state="ready"}', values: '0x30'}
      - {series: 'gtc_workers{job="gtc",instance="b",role="worker",state="idle"}', values: '4x30'}
      - {series: 'gtc_workers{job="gtc",instance="b",role="worker",state="busy"}', values: '0x30'}
      - {series: 'gtc_workers{job="gtc",instance="b",role="worker",state="stalled"}', values: '1x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="a",stage="ready_to_push",le="1"}', values: '0x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="a",stage="ready_to_push",le="600"}', values: '0x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="a",stage="ready_to_push",le="1800"}', values: '0+1x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="a",stage="ready_to_push",le="+Inf"}', values: '0+1x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="b",stage="ready_to_push",le="1"}', values: '0+1000x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="b",stage="ready_to_push",le="600"}', values: '0+1000x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="b",stage="ready_to_push",le="1800"}', values: '0+1000x30'}
      - {series: 'gtc_assignment_latency_seconds_bucket{job="gtc",instance="b",stage="ready_to_push",le="+Inf"}', values: '0+1000x30'}
    alert_rule_test:
      - eval_time: 20m
        alertname: GtcNoWorkers
        exp_alerts:
          - exp_labels: {severity: critical, job: gtc, instance: a, state: ready}
            exp_annotations: {summary: "3 issue(s) ready and no worker connected"}
      - eval_time: 20m
        alertname: GtcReadyIssuesWaiting
        exp_alerts:
          - exp_labels: {severity: warning, job: gtc, instance: a}
            exp_annotations: {summary: "ready issues wait 29m 48s (P99) for a worker"}
      - eval_time: 20m
        alertname: GtcWorkersStalled
        exp_alerts:
          - exp_labels: {severity: warning, job: gtc, instance: a, role: worker}
            exp_annotations: {summary: "1 gtc worker(s) stalled: connected but missing ack or heartbeat deadlines"}
          - exp_labels: {severity: warning, job: gtc, instance: b, role: worker}
            exp_annotations: {summary: "1 gtc worker(s) stalled: connected but missing ack or heartbeat deadlines"}
`

// TestExampleRulesAlertPerInstance: a Prometheus scraping several gtc servers gets each alert for the
// server it is about (run with promtool installed: apt-get install prometheus).
func TestExampleRulesAlertPerInstance(t *testing.T) {
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	rules, err := filepath.Abs("../docs/prometheus/gtc-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(t.TempDir(), "gtc-rules.test.yml")
	if err := os.WriteFile(test, []byte(fmt.Sprintf(rulesPerInstanceTest, rules)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(p, "test", "rules", test).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestExampleRulesListedInDocs: docs/metrics.md lists every alert of docs/prometheus/gtc-rules.yml, so
// an operator reading the docs knows each alert that can page them.
func TestExampleRulesListedInDocs(t *testing.T) {
	rules, err := os.ReadFile("../docs/prometheus/gtc-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatal("no alert in the rules")
	}
	for _, a := range alerts {
		if !strings.Contains(string(doc), "`"+a[1]+"`") {
			t.Errorf("docs/metrics.md does not list the alert %s", a[1])
		}
	}
}
