package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitDemoWritesSortedValidIssues(t *testing.T) {
	dir := t.TempDir()
	n, err := initWorkspace(dir, "demo", true, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ".beads", "issues.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != n || n < 24 {
		t.Fatalf("wrote %d lines, reported %d; want the same and at least 24", len(lines), n)
	}
	ids := map[string]bool{}
	prev := ""
	deps := 0
	for i, l := range lines {
		var r struct {
			ID           string `json:"id"`
			Priority     *int   `json:"priority"`
			Dependencies []struct {
				DependsOnID string `json:"depends_on_id"`
			} `json:"dependencies"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if r.ID <= prev {
			t.Fatalf("line %d: id %q not after %q (classic files are sorted by id)", i+1, r.ID, prev)
		}
		if r.Priority == nil {
			t.Fatalf("line %d: priority missing (bd always writes it)", i+1)
		}
		prev = r.ID
		ids[r.ID] = true
		deps += len(r.Dependencies)
	}
	if deps == 0 {
		t.Fatal("demo issues have no dependencies")
	}
	for _, l := range lines {
		var r struct {
			Dependencies []struct {
				DependsOnID string `json:"depends_on_id"`
			} `json:"dependencies"`
		}
		_ = json.Unmarshal([]byte(l), &r)
		for _, d := range r.Dependencies {
			if !ids[d.DependsOnID] {
				t.Fatalf("dependency on unknown id %q", d.DependsOnID)
			}
		}
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := initWorkspace(dir, "x", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, ".beads", "issues.jsonl")
	if err := os.WriteFile(p, []byte("{\"id\":\"x-1\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"gtc", "--dir", dir, "init", "--demo"}, &out, &errb)
	if code != exitError || !strings.Contains(errb.String(), "already exists") {
		t.Fatalf("exit %d, stderr %q; want %d and 'already exists'", code, errb.String(), exitError)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "{\"id\":\"x-1\"}\n" {
		t.Fatalf("file was changed: %q", got)
	}
}

func TestBadLogFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"gtc", "--log-level", "loud", "init"},
		{"gtc", "--log-format", "xml", "init"},
	} {
		var out, errb bytes.Buffer
		if code := run(append(args, "--dir", t.TempDir()), &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
	}
}
