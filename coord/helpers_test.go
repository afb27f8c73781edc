package coord

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gastown/gtc/beads"
)

// t0 is the fixed start time of scenario tests.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// memPersister is an in-memory Persister/Loader: it folds committed Changes into a Snapshot.
type memPersister struct {
	mu      sync.Mutex
	f       *fold
	commits int
	changes int
	fail    error
}

func newMemPersister(s *Snapshot) *memPersister { return &memPersister{f: newFold(s)} }

func (m *memPersister) Commit(_ context.Context, chs []Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.f.apply(chs)
	m.commits++
	m.changes += len(chs)
	return nil
}

func (m *memPersister) Load(context.Context) (*Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f.snapshot(), nil
}

func (m *memPersister) setFail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

func (m *memPersister) stats() (commits, changes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.commits, m.changes
}

// recOutbox records delivered effects.
type recOutbox struct {
	mu      sync.Mutex
	pushes  []pushEffect
	cancels []cancelNote
	events  []Event
	pushed  chan pushEffect
}

func newRecOutbox() *recOutbox { return &recOutbox{pushed: make(chan pushEffect, 1024)} }

func (o *recOutbox) Push(w string, s uint64, a Assignment) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := pushEffect{Worker: w, Session: s, A: a}
	o.pushes = append(o.pushes, p)
	select {
	case o.pushed <- p:
	default:
	}
}

func (o *recOutbox) Cancel(w string, s uint64, id string, ep int64, issue, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cancels = append(o.cancels, cancelNote{Worker: w, Session: s, LeaseID: id, Epoch: ep, IssueID: issue, Reason: reason})
}

func (o *recOutbox) Publish(ev Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, ev)
}

func (o *recOutbox) eventKinds() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]int{}
	for _, e := range o.events {
		m[e.Kind]++
	}
	return m
}

// iss builds a test issue; opts tweak it.
func iss(id string, prio int, opts ...func(*beads.Issue)) beads.Issue {
	is := beads.Issue{ID: id, Title: id, Status: "open", Priority: prio, IssueType: "task",
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour)}
	for _, o := range opts {
		o(&is)
	}
	return is
}

func withStatus(s string) func(*beads.Issue) { return func(i *beads.Issue) { i.Status = s } }
func withType(s string) func(*beads.Issue)   { return func(i *beads.Issue) { i.IssueType = s } }
func withLabels(l ...string) func(*beads.Issue) {
	return func(i *beads.Issue) { i.Labels = l }
}
func withCreated(t time.Time) func(*beads.Issue) { return func(i *beads.Issue) { i.CreatedAt = t } }
func withReason(r string) func(*beads.Issue)     { return func(i *beads.Issue) { i.CloseReason = r } }
func withDep(on, typ string, md ...string) func(*beads.Issue) {
	return func(i *beads.Issue) {
		d := beads.Dependency{IssueID: i.ID, DependsOnID: on, Type: typ}
		if len(md) > 0 {
			d.Metadata = md[0]
		}
		i.Dependencies = append(i.Dependencies, d)
	}
}

func puts(is ...beads.Issue) []IssuePut {
	out := make([]IssuePut, len(is))
	for i := range is {
		out[i] = IssuePut{Issue: is[i], FromImport: true}
	}
	return out
}

// testCfg is a deterministic config.
func testCfg() Config { return Config{Rand: rand.NewPCG(1, 2)} }

// newTestCore builds a core holding the given issues at t0.
func newTestCore(t testing.TB, cfg Config, is ...beads.Issue) *core {
	t.Helper()
	c := newCore(cfg, nil, t0)
	if err := c.putIssues(t0, puts(is...)); err != nil {
		t.Fatal(err)
	}
	c.take()
	return c
}

// testdataDir walks up from the working directory to shared/testdata/beads.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for i := 0; i < 8; i++ {
		for _, cand := range []string{filepath.Join(dir, "shared", "testdata", "beads"), filepath.Join(dir, "..", "shared", "testdata", "beads")} {
			if st, err := os.Stat(cand); err == nil && st.IsDir() {
				return cand
			}
		}
		dir = filepath.Dir(dir)
	}
	t.Skip("shared/testdata/beads not found")
	return ""
}

// loadCorpus parses a JSONL corpus into issues (memory lines and other typed records skipped).
func loadCorpus(t testing.TB, path string) []beads.Issue {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []beads.Issue
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for n := 1; sc.Scan(); n++ {
		var rec struct {
			beads.Issue
			Type     string          `json:"_type"`
			Comments json.RawMessage `json:"comments"` // ids are ints in classic files
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if rec.Type != "" && rec.Type != "issue" {
			continue
		}
		out = append(out, rec.Issue)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// heapsOrdered reports the first place where the global or a label heap breaks heap order ("" if none).
func heapsOrdered(c *core) string {
	hs := map[string]*readyHeap{"": &c.heap}
	for l, h := range c.labelHeaps {
		hs[l] = h
	}
	for l, h := range hs {
		for i := 1; i < len(h.items); i++ {
			if x, p := h.items[i], h.items[(i-1)/2]; h.less(x, p) {
				return fmt.Sprintf("heap %q: %s (p%d) sits below %s (p%d)", l, x.id, x.prio(), p.id, p.prio())
			}
		}
	}
	return ""
}
