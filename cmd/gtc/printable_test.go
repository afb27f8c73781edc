package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gastown/gtc/coord"
	"github.com/mattn/go-runewidth"
	"github.com/urfave/cli/v2"
)

// TestCLIShowsControlCharactersEscaped: an issue's title or description holding terminal escape
// sequences (a window-title OSC, a screen clear) is shown with them escaped by issue list, claim and issue
// show, so text from issues.jsonl cannot act on the operator's terminal (adversarial trial: it reached
// the terminal raw). Newlines stay in a description.
func TestCLIShowsControlCharactersEscaped(t *testing.T) {
	dir := newWorkspace(t)
	startServer(t, dir, nil)
	id := decode[issueView](t, must(t, dir, "issue", "create", "evil \x1b]0;pwned\x07 title", "--description", "line one\n\x1b[2Jline two", "--json")).ID
	list := must(t, dir, "issue", "list")
	show := must(t, dir, "issue", "show", id)
	claim := must(t, dir, "claim", "--as", "op")
	for name, out := range map[string]string{"issue list": list, "issue show": show, "claim": claim} {
		if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `\x1b]0;pwned\x07`) {
			t.Errorf("%s:\n%q", name, out)
		}
	}
	if !strings.Contains(show, "line one\n\\x1b[2Jline two") {
		t.Errorf("issue show's description:\n%q", show)
	}
	// an error echoing what was asked for (an id with an escape sequence) shows it escaped too
	if r := gtc(t, dir, "issue", "show", "x\x1b[2J"); r.code == exitOK || strings.Contains(r.err, "\x1b") || !strings.Contains(r.err, `\x1b[2J`) {
		t.Errorf("issue show of a bad id: exit %d, stderr %q", r.code, r.err)
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in        string
		keepLines bool
		want      string
	}{
		{"plain ünïcode", false, "plain ünïcode"},
		{"a\tb\nc", false, "a b c"},
		{"a\tb\nc", true, "a\tb\nc"},
		{"\x1b[31mred\r\x7f\u009b", true, `\x1b[31mred\x0d\x7f\x9b`},
	} {
		if got := printable(tc.in, tc.keepLines); got != tc.want {
			t.Errorf("printable(%q, %v) = %q, want %q", tc.in, tc.keepLines, got, tc.want)
		}
	}
}

// TestEventColumnsAlignWideText: the event table pads in terminal columns, so a worker name with CJK
// characters or an emoji (two columns each) keeps the detail column where the others have it, and a
// later, longer id that widens a column prints the header again (gtc events printed a header sized for
// the first page, and rows drifted right of it).
func TestEventColumnsAlignWideText(t *testing.T) {
	app := &cli.App{Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}}
	c := cli.NewContext(app, flag.NewFlagSet("t", flag.ContinueOnError), nil)
	var out strings.Builder
	cols := newEventCols()
	headers := 0
	cols.header = func() { headers++; out.WriteString("HEADER\n") }
	at := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	for _, ev := range []coord.Event{
		{Time: at, Kind: "acked", IssueID: "gt-1", LeaseID: "L-1", Worker: "plain", Detail: "DETAIL"},
		{Time: at, Kind: "acked", IssueID: "gt-2", LeaseID: "L-2", Worker: "å-日本-🦊", Detail: "DETAIL"},
		{Time: at, Kind: "acked", IssueID: "gt-3-" + strings.Repeat("x", 20), LeaseID: "L-3", Worker: "w", Detail: "DETAIL"},
		{Time: at, Kind: "acked", IssueID: "gt-4", LeaseID: "L-4", Worker: "slowpoke-🐢", Detail: "DETAIL"},
	} {
		if err := printEvent(c, &out, nil, cols, ev, "", "15:04:05"); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if headers != 1 || len(lines) != 5 || lines[2] != "HEADER" {
		t.Fatalf("want the header once, before the widened row:\n%s", out.String())
	}
	at1 := runewidth.StringWidth(lines[0][:strings.Index(lines[0], "DETAIL")])
	if at2 := runewidth.StringWidth(lines[1][:strings.Index(lines[1], "DETAIL")]); at2 != at1 {
		t.Errorf("detail at column %d after a wide worker name, %d after a plain one:\n%s", at2, at1, out.String())
	}
	at3 := runewidth.StringWidth(lines[3][:strings.Index(lines[3], "DETAIL")])
	if at4 := runewidth.StringWidth(lines[4][:strings.Index(lines[4], "DETAIL")]); at4 != at3 {
		t.Errorf("detail at column %d after an emoji, %d on the widened row:\n%s", at4, at3, out.String())
	}
}

// TestPadColsCountsGraphemes: padding counts what a terminal draws: a flag (two regional indicators) and
// a family emoji (joined by zero-width joiners) take two columns each, as CJK does (go-runewidth before
// v0.0.17 measured a flag as one column, so rows with one drifted left of their header).
func TestPadColsCountsGraphemes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		pads int
	}{
		{"ab", 4}, {"日本", 2}, {"🇫🇷", 4}, {"🇫🇷🇩🇪", 2}, {"👨\u200d👩\u200d👧", 4}, {"👍🏽", 4},
	} {
		if got := padCols(tc.s, 6); got != tc.s+strings.Repeat(" ", tc.pads) {
			t.Errorf("padCols(%q, 6) = %q: want %d spaces after it", tc.s, got, tc.pads)
		}
	}
}

// TestDonePercentRoundsDown: a convoy with 498 of 500 issues closed shows 99% (the CLI trial saw 100%
// beside an open issue and a dead letter); only all closed is 100%.
func TestDonePercentRoundsDown(t *testing.T) {
	for _, tc := range []struct {
		closed, total int
		want          string
	}{{498, 500, "99%"}, {999, 1000, "99%"}, {500, 500, "100%"}, {0, 0, "0%"}, {1, 3, "33%"}, {0, 7, "0%"}} {
		if got := donePercent(tc.closed, tc.total); got != tc.want {
			t.Errorf("%d of %d: %s, want %s", tc.closed, tc.total, got, tc.want)
		}
	}
}

// TestNaturalCompare: gtc workers lists agent-2 before agent-10 (CLI trial: agent-1, agent-10, agent-100).
func TestNaturalCompare(t *testing.T) {
	names := []string{"agent-100", "agent-10", "w", "agent-2", "agent-1", "agent-02b", "agent-2a", "b", "agent-"}
	slices.SortFunc(names, naturalCompare)
	want := []string{"agent-", "agent-1", "agent-2", "agent-2a", "agent-02b", "agent-10", "agent-100", "b", "w"}
	if !slices.Equal(names, want) {
		t.Fatalf("sorted %v, want %v", names, want)
	}
}

// TestNoProgressBarIntoFiles: the load test's progress bar is drawn only on a terminal (CLI trial: its
// carriage-return redraws filled a redirected log).
func TestNoProgressBarIntoFiles(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&strings.Builder{}) {
		t.Fatal("a file or a buffer taken for a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil { // absent without a controlling terminal (CI)
		defer tty.Close()
		if !isTerminal(tty) {
			t.Fatal("/dev/tty not taken for a terminal")
		}
	}
}

// TestShownTime: issue show prints a record's time to the second in the local zone, and keeps text that
// is not a time.
func TestShownTime(t *testing.T) {
	at := time.Date(2026, 11, 28, 3, 53, 21, 926450906, time.UTC)
	if got, want := shownTime(at.Format(time.RFC3339Nano)), at.Local().Format("2006-01-02 15:04:05 MST"); got != want || strings.Contains(got, ".926") {
		t.Errorf("shownTime: %q, want %q", got, want)
	}
	if got := shownTime("soon"); got != "soon" {
		t.Errorf("shownTime of text: %q", got)
	}
}
