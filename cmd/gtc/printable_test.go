package main

import (
	"strings"
	"testing"
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
