package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/gastown/gtc/daemon"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create .beads/ for a new workspace (refuses to overwrite an existing one)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "prefix", Value: "", Usage: "issue id prefix (default: the directory name, or demo with --demo)"},
			&cli.BoolFlag{Name: "demo", Usage: "fill issues.jsonl with example issues that have priorities and dependencies"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				// `gtc init other` used to create ./.beads and ignore "other"
				return usageError(fmt.Errorf("init takes no arguments: the workspace is --dir (gtc --dir %s init)", c.Args().First()))
			}
			dir := c.String("dir")
			prefix := c.String("prefix")
			if prefix == "" {
				prefix = "demo"
				if !c.Bool("demo") {
					abs, err := filepath.Abs(dir)
					if err != nil {
						return err
					}
					prefix = filepath.Base(abs)
				}
			}
			n, err := initWorkspace(dir, prefix, c.Bool("demo"), time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "created %s with %d issues\n", filepath.Join(dir, ".beads", "issues.jsonl"), n)
			return nil
		},
	}
}

// initWorkspace creates dir/.beads with an empty or demo issues.jsonl and returns the number of issues written.
func initWorkspace(dir, prefix string, demo bool, now time.Time) (int, error) {
	bd := filepath.Join(dir, ".beads")
	jsonl := filepath.Join(bd, "issues.jsonl")
	if _, err := os.Stat(jsonl); err == nil {
		return 0, fmt.Errorf("%s already exists: gtc init never overwrites a workspace (use it as is, or pick another --dir)", jsonl)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("check %s: %w", jsonl, err)
	}
	if err := os.MkdirAll(bd, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", bd, err)
	}
	var data []byte
	n := 0
	if demo {
		lines := demoIssues(prefix, now)
		for _, l := range lines {
			data = append(data, l...)
			data = append(data, '\n')
		}
		n = len(lines)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"config.yaml", []byte(fmt.Sprintf("issue-prefix: %q\n", prefix))},
		{"issues.jsonl", data},
	}
	for _, f := range files {
		p := filepath.Join(bd, f.name)
		if _, err := os.Stat(p); err == nil && f.name != "issues.jsonl" {
			continue // keep the user's config
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return 0, fmt.Errorf("write %s: %w", p, err)
		}
	}
	if err := daemon.EnsureGitignore(bd); err != nil {
		return 0, err
	}
	return n, nil
}

// demoRecord has bd's classic field order, so encoding/json writes exactly what bd writes.
type demoRecord struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Description  string    `json:"description,omitempty"`
	Status       string    `json:"status"`
	Priority     int       `json:"priority"`
	IssueType    string    `json:"issue_type"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by,omitempty"`
	UpdatedAt    time.Time `json:"updated_at"`
	Labels       []string  `json:"labels,omitempty"`
	Dependencies []demoDep `json:"dependencies,omitempty"`
}

type demoDep struct {
	IssueID     string    `json:"issue_id"`
	DependsOnID string    `json:"depends_on_id"`
	Type        string    `json:"type"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by,omitempty"`
}

// demoIssues returns the demo workspace's records, sorted by id as classic bd writes them.
func demoIssues(prefix string, now time.Time) [][]byte {
	type spec struct {
		title    string
		prio     int
		typ      string
		labels   []string
		blockers []int // indexes of issues (within the epic) that block this one
	}
	epics := []struct {
		title string
		prio  int
		tasks []spec
	}{
		{"Storage layer", 1, []spec{
			{"Design the schema", 0, "task", []string{"backend"}, nil},
			{"Write migrations", 1, "task", []string{"backend"}, []int{0}},
			{"Add the repository layer", 1, "feature", []string{"backend"}, []int{1}},
			{"Benchmark point reads", 2, "task", []string{"backend", "perf"}, []int{2}},
			{"Fix slow startup on large databases", 0, "bug", []string{"backend"}, nil},
			{"Document the storage layout", 3, "chore", []string{"docs"}, []int{2}},
			{"Add backup command", 3, "feature", []string{"backend"}, []int{1}},
			{"Vacuum on schedule", 4, "chore", []string{"backend"}, nil},
		}},
		{"HTTP API", 2, []spec{
			{"Define the routes", 1, "task", []string{"api"}, nil},
			{"Implement list endpoint", 2, "feature", []string{"api"}, []int{0}},
			{"Implement create endpoint", 2, "feature", []string{"api"}, []int{0}},
			{"Add request validation", 1, "task", []string{"api"}, []int{1, 2}},
			{"Rate-limit anonymous clients", 2, "feature", []string{"api", "security"}, []int{0}},
			{"Return 404 for unknown ids", 1, "bug", []string{"api"}, nil},
			{"Write API reference", 3, "chore", []string{"docs"}, []int{1, 2}},
			{"Add pagination", 3, "feature", []string{"api"}, []int{1}},
		}},
		{"Web front end", 2, []spec{
			{"Scaffold the app", 1, "task", []string{"frontend"}, nil},
			{"List page", 2, "feature", []string{"frontend"}, []int{0}},
			{"Detail page", 2, "feature", []string{"frontend"}, []int{0}},
			{"Form validation messages", 3, "task", []string{"frontend"}, []int{2}},
			{"Dark mode", 4, "feature", []string{"frontend"}, []int{0}},
			{"Fix layout shift on load", 2, "bug", []string{"frontend"}, nil},
			{"Accessibility pass", 2, "task", []string{"frontend"}, []int{1, 2}},
			{"End-to-end smoke test", 1, "task", []string{"frontend", "tests"}, []int{1, 2}},
		}},
		{"Release", 3, []spec{
			{"Write the changelog", 3, "chore", []string{"release"}, nil},
			{"Tag and build artifacts", 2, "task", []string{"release"}, []int{0}},
			{"Publish container image", 2, "task", []string{"release"}, []int{1}},
			{"Announce the release", 4, "chore", []string{"release"}, []int{2}},
		}},
	}
	base := now.Add(-72 * time.Hour).Truncate(time.Second)
	seq := 0
	stamp := func() time.Time { seq++; return base.Add(time.Duration(seq) * time.Minute) }
	var recs []demoRecord
	for ei, e := range epics {
		epicID := fmt.Sprintf("%s-e%d", prefix, ei+1)
		t := stamp()
		recs = append(recs, demoRecord{ID: epicID, Title: e.title, Description: "Epic: " + e.title + ".",
			Status: "open", Priority: e.prio, IssueType: "epic", CreatedAt: t, CreatedBy: "gtc-demo", UpdatedAt: t})
		for ti, s := range e.tasks {
			id := fmt.Sprintf("%s-e%d.%d", prefix, ei+1, ti+1)
			t := stamp()
			r := demoRecord{ID: id, Title: s.title,
				Description: fmt.Sprintf("%s (part of %s). Keep the change small and tested.", s.title, e.title),
				Status:      "open", Priority: s.prio, IssueType: s.typ, CreatedAt: t, CreatedBy: "gtc-demo", UpdatedAt: t,
				Labels: append([]string(nil), s.labels...)}
			sort.Strings(r.Labels)
			r.Dependencies = append(r.Dependencies, demoDep{IssueID: id, DependsOnID: epicID, Type: "parent-child", CreatedAt: t, CreatedBy: "gtc-demo"})
			for _, b := range s.blockers {
				r.Dependencies = append(r.Dependencies, demoDep{IssueID: id, DependsOnID: fmt.Sprintf("%s-e%d.%d", prefix, ei+1, b+1), Type: "blocks", CreatedAt: t, CreatedBy: "gtc-demo"})
			}
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	out := make([][]byte, 0, len(recs))
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err) // plain structs always marshal
		}
		out = append(out, b)
	}
	return out
}
