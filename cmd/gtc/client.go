package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/gastown/gtc/coord"
	"github.com/gastown/gtc/rpc"
	"github.com/olekukonko/tablewriter"
	"github.com/urfave/cli/v2"
)

// cliName is the hello name of the CLI commands that do not go through request (status, watch, events,
// the lease commands' lookups).
const cliName = "gtc-cli"

// isCommandSession reports whether name is one a gtc command says hello with for its own call (not a
// claim's holder): gtc-cli or gtc-cli@USER.
func isCommandSession(name string) bool {
	return name == cliName || strings.HasPrefix(name, cliName+"@")
}

// cliUserName is the hello name of the commands that go through request (issue ..., ready, workers,
// health, drain, merge, convoy): gtc-cli@USER,
// the actor the audit log names for a change made by hand. Not the cli-USER of gtc claim: a session
// under the name holding a claim would resume its lease and put off its end.
func cliUserName() string {
	if u := userName(); u != "" {
		return cliName + "@" + u
	}
	return cliName
}

// callTimeout bounds one request of a CLI command (waiting claims add their wait).
const callTimeout = 30 * time.Second

// dialTarget says where the coordinator is: the workspace's Unix socket or a TCP address with a token.
type dialTarget struct {
	Network string // unix or tcp
	Addr    string // socket path or host:port
	Token   string // TCP only
}

// String is the address as people gave it.
func (t dialTarget) String() string { return t.Addr }

// connFlags are the flags of every command that talks to a running coordinator.
func connFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", EnvVars: []string{"GTC_ADDR"}, Usage: "coordinator TCP address HOST:PORT (default: the unix socket <dir>/.beads/gtc.sock)"},
		&cli.StringFlag{Name: "socket", EnvVars: []string{"GTC_SOCKET"}, Usage: "coordinator unix socket, for one started with gtc serve --socket PATH (default: <dir>/.beads/gtc.sock; --addr wins)"},
		&cli.StringFlag{Name: "token", EnvVars: []string{"GTC_TOKEN"}, Usage: "token for --addr (default: the contents of <dir>/.beads/gtc.token)"},
	}
}

// jsonFlag makes a command print one JSON document on stdout instead of text for people (a new
// value per command: urfave/cli writes into a flag when it parses it).
func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print one JSON document on stdout (for scripts)"}
}

// clientFlags returns connFlags, --json and the command's own flags.
func clientFlags(own ...cli.Flag) []cli.Flag {
	return append(append(connFlags(), jsonFlag()), own...)
}

// targetOf reads --addr/--token, --socket and --dir.
func targetOf(c *cli.Context) dialTarget {
	dir := c.String("dir")
	if addr := c.String("addr"); addr != "" {
		tok := c.String("token")
		if tok == "" {
			if b, err := os.ReadFile(filepath.Join(dir, ".beads", "gtc.token")); err == nil {
				tok = strings.TrimSpace(string(b))
			}
		}
		return dialTarget{Network: "tcp", Addr: addr, Token: tok}
	}
	if sock := c.String("socket"); sock != "" && sock != "-" { // "-": serve's own "no socket", as GTC_SOCKET may say
		return dialTarget{Network: "unix", Addr: sock}
	}
	return dialTarget{Network: "unix", Addr: filepath.Join(dir, ".beads", "gtc.sock")}
}

// noServerError says that nothing answers at t, and what to do about it.
func noServerError(t dialTarget, err error) error {
	var hint string
	if t.Network == "unix" {
		hint = "start one with `gtc serve` or pass --dir, --socket or --addr"
	} else {
		hint = "check that `gtc serve --listen " + t.Addr + "` runs there, or pass --addr/--dir"
	}
	cause := err
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		cause = oe.Err
	}
	return &exitErr{code: exitNoServer, err: fmt.Errorf("no coordinator at %s: %s (%v)", t, hint, cause)}
}

// connect dials t, runs setup (to register callbacks) and says hello; the caller closes the client.
func connect(ctx context.Context, t dialTarget, hp rpc.HelloParams, setup ...func(*rpc.Client)) (*rpc.Client, *rpc.HelloResult, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := rpc.Dial(dctx, rpc.DialOptions{Network: t.Network, Addr: t.Addr, Token: t.Token})
	if err != nil {
		return nil, nil, noServerError(t, err)
	}
	for _, f := range setup {
		f(cl)
	}
	hctx, cancel2 := context.WithTimeout(ctx, callTimeout)
	defer cancel2()
	h, err := cl.Hello(hctx, hp)
	if err != nil {
		cl.Close()
		var ce *coord.Error
		if errors.As(err, &ce) && ce.Code == coord.EUnauthorized && t.Network == "tcp" {
			msg := fmt.Sprintf("the coordinator at %s refused the token: pass the one in its .beads/gtc.token with --token or GTC_TOKEN", t)
			return nil, nil, &exitErr{code: exitRefused, err: &remoteErr{msg: msg, ce: ce}}
		}
		return nil, nil, remoteError(t, "hello as "+hp.Name, err)
	}
	return cl, h, nil
}

// openClient connects as a client-role session named name for one CLI command.
func openClient(c *cli.Context, name string) (*rpc.Client, *rpc.HelloResult, error) {
	return connect(c.Context, targetOf(c), rpc.HelloParams{Name: name, Role: "client"})
}

// exitCodes maps the coordinator's error codes to the CLI's exit codes.
var exitCodes = map[coord.Code]int{
	coord.EInvalid:        exitUsage,
	coord.ENotFound:       exitRefused,
	coord.EConflict:       exitRefused,
	coord.EStaleEpoch:     exitRefused,
	coord.ENotHolder:      exitRefused,
	coord.EUnauthorized:   exitRefused,
	coord.EPaused:         exitRefused,
	coord.EBusy:           exitRefused,
	coord.ETooLarge:       exitRefused,
	coord.ENotImplemented: exitRefused,
	coord.EUnavailable:    exitNoServer,
}

// hints say what to do after each refusal.
var hints = map[coord.Code]string{
	coord.ENotFound:    "check the id with `gtc issue list` or `gtc workers`",
	coord.EStaleEpoch:  "the lease has moved on; see `gtc workers` for the live ones",
	coord.ENotHolder:   "the lease is another worker's (see `gtc workers`): a connected holder reports its own result, `gtc cancel` takes the lease back; a disconnected one's lease is finished with --as its name",
	coord.EPaused:      "run `gtc resume` first",
	coord.EUnavailable: "the coordinator is stopping or its storage fails; retry in a moment",
	coord.EBusy:        "the coordinator is at a limit; retry in a moment",
}

// hintFor is the hint after a refusal of what was being done: a convoy, merge request or worker not
// found points at its own list (CLI trial: `gtc convoy show nope` said to check `gtc issue list`).
func hintFor(code coord.Code, doing string) string {
	if code == coord.ENotFound {
		switch {
		case strings.HasPrefix(doing, "convoy show "):
			return "list convoys with `gtc convoy list`"
		case strings.HasPrefix(doing, "merge cancel "):
			if id := strings.TrimPrefix(doing, "merge cancel "); !strings.HasPrefix(id, "MR-") && !strings.Contains(id, " ") {
				// an issue id given as the request's (trial): the request of an issue is cancelled with --issue
				return "to cancel the request of issue " + id + ", `gtc merge cancel --issue " + id + "`; list merge requests with `gtc merge list`"
			}
			return "list merge requests with `gtc merge list`"
		case strings.HasPrefix(doing, "drain "):
			return "list workers with `gtc workers --all`"
		}
	}
	return hints[code]
}

// remoteError turns an error of a call into a one-line CLI error with its exit code.
func remoteError(t dialTarget, doing string, err error) error {
	var ee *exitErr
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &exitErr{code: exitError, err: fmt.Errorf("%s: no answer from %s within %s: is it overloaded? check `gtc status`", doing, t, callTimeout)}
	}
	var ce *coord.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	if ce.Code == coord.EUnavailable && ce.Message == "connection closed" {
		return &exitErr{code: exitNoServer, err: fmt.Errorf("%s: the coordinator at %s closed the connection: is it shutting down? check `gtc status`", doing, t)}
	}
	code, ok := exitCodes[ce.Code]
	if !ok {
		code = exitError
	}
	msg := fmt.Sprintf("%s: %s (%s)", doing, ce.Message, ce.Code)
	if h := hintFor(ce.Code, doing); h != "" {
		msg += ": " + h
	}
	return &exitErr{code: code, err: &remoteErr{msg: msg, ce: ce}}
}

// remoteErr is the coordinator's refusal as the CLI words it; coord.ErrorCode still reads its code.
type remoteErr struct {
	msg string
	ce  *coord.Error
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error { return e.ce }

// refused builds an exit-4 error that is decided on the client side (e.g. no live lease for an issue).
func refused(format string, args ...any) error {
	return &exitErr{code: exitRefused, err: fmt.Errorf(format, args...)}
}

// callCtx bounds one request (plus extra, for waiting claims).
func callCtx(c *cli.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Context, callTimeout+extra)
}

// defaultClaimName is the name `gtc claim` says hello with when --as is not given.
func defaultClaimName() string {
	if u := userName(); u != "" {
		return "cli-" + u
	}
	return "cli"
}

// userName is the user running the command ("" when unknown): the account's name, else $USER.
func userName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// printJSON writes v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table is a borderless, left-aligned table for people; Render writes it without trailing blanks.
type table struct {
	*tablewriter.Table
	w   io.Writer
	buf bytes.Buffer
}

// Render writes the table.
func (t *table) Render() {
	t.Table.Render()
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line == "" {
			continue
		}
		io.WriteString(t.w, strings.TrimRight(line, " \n")+"\n")
	}
	t.buf.Reset()
}

// Append adds a row, its cells made printable (see printable).
func (t *table) Append(row []string) {
	for i, cell := range row {
		row[i] = printable(cell, false)
	}
	t.Table.Append(row)
}

// printable returns s with the control characters a terminal acts on (escape sequences, carriage
// returns, bells; C0, DEL and C1) written as \xNN, so an issue's text or a worker's name cannot rewrite
// the screen or the window title. keepLines keeps newlines and tabs (a description); otherwise they
// read as spaces (a table cell).
func printable(s string, keepLines bool) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case (r == '\n' || r == '\t') && keepLines:
			b.WriteRune(r)
		case r == '\n' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// newTable returns a table with the given header (none when empty).
func newTable(w io.Writer, header ...string) *table {
	tb := &table{w: w}
	t := tablewriter.NewWriter(&tb.buf)
	tb.Table = t
	t.SetHeader(header)
	t.SetAutoFormatHeaders(false)
	t.SetAutoWrapText(false)
	t.SetBorder(false)
	t.SetHeaderLine(false)
	t.SetColumnSeparator("")
	t.SetCenterSeparator("")
	t.SetRowSeparator("")
	t.SetTablePadding("  ")
	t.SetNoWhiteSpace(true)
	t.SetAlignment(tablewriter.ALIGN_LEFT)
	t.SetHeaderAlignment(tablewriter.ALIGN_LEFT)
	return tb
}

// pagedTable prints a list a page at a time as it arrives (a table renders only once it has every row):
// its columns are as wide as the widest cell so far, and a page with a wider cell prints the header
// again above it, since its rows no longer line up with those before.
type pagedTable struct {
	w      io.Writer
	header []string
	widths []int // nil before the first page
}

// page prints rows (nothing for none).
func (p *pagedTable) page(rows [][]string) {
	if len(rows) == 0 {
		return
	}
	first := p.widths == nil
	if first {
		p.widths = make([]int, len(p.header))
		for i, h := range p.header {
			p.widths[i] = tablewriter.DisplayWidth(h)
		}
	}
	wider := false
	for _, r := range rows {
		for i, cell := range r {
			r[i] = printable(cell, false)
			if w := tablewriter.DisplayWidth(r[i]); i < len(p.widths) && w > p.widths[i] {
				p.widths[i], wider = w, true
			}
		}
	}
	var tb *table
	if first || wider {
		tb = newTable(p.w, p.header...)
	} else {
		tb = newTable(p.w)
	}
	for i, w := range p.widths {
		tb.SetColMinWidth(i, w)
	}
	for _, r := range rows {
		tb.Append(r)
	}
	tb.Render()
}

// issueView is the part of an issue record the CLI shows.
type issueView struct {
	ID           string   `json:"id"`
	Title        string   `json:"title"`
	Description  string   `json:"description"`
	Notes        string   `json:"notes"`
	Status       string   `json:"status"`
	Priority     *int     `json:"priority"`
	IssueType    string   `json:"issue_type"`
	Assignee     string   `json:"assignee"`
	Labels       []string `json:"labels"`
	CloseReason  string   `json:"close_reason"`
	DeferUntil   string   `json:"defer_until"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
	StartedAt    string   `json:"started_at"`
	Dependencies []struct {
		DependsOnID string `json:"depends_on_id"`
		Type        string `json:"type"`
	} `json:"dependencies"`
	Comments []struct {
		Author    string `json:"author"`
		Text      string `json:"text"`
		CreatedAt string `json:"created_at"`
	} `json:"comments"`
}

// viewOf decodes the fields the CLI shows from a stored record (unknown shapes leave fields empty).
func viewOf(raw json.RawMessage) issueView {
	var v issueView
	_ = json.Unmarshal(raw, &v)
	return v
}

// priority renders a priority as bd does (P0..P4).
func (v issueView) priority() string {
	if v.Priority == nil {
		return "-"
	}
	return fmt.Sprintf("P%d", *v.Priority)
}

// truncate shortens s to n runes for a table cell.
func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// orDash renders an empty cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// usageOnError makes flag errors of cmd (and its subcommands) exit 2 with one line, without help on stdout,
// and so an unknown subcommand of a command group (gtc issue lst).
func usageOnError(cmd *cli.Command) *cli.Command { return usageOnErrorIn("gtc", cmd) }

// pointToHelp makes the usage errors of cmd's action (and its subcommands') name the command's help.
func pointToHelp(cmd *cli.Command) {
	if act := cmd.Action; act != nil && len(cmd.Subcommands) == 0 {
		cmd.Action = func(c *cli.Context) error { return withHelpPointer(act(c), "gtc "+commandPath(c)) }
	}
	for _, sub := range cmd.Subcommands {
		pointToHelp(sub)
	}
}

// withHelpPointer adds "(see PATH --help)" to a usage error of a command's own checks (a flag value out
// of range, flags that do not go together) that points to no help or usage yet, as urfave/cli's own flag
// errors do; not to a coordinator's refusal, which also exits 2 (invalid).
func withHelpPointer(err error, path string) error {
	var e *exitErr
	if !asExit(err, &e) || e.code != exitUsage {
		return err
	}
	var ce *coord.Error
	if errors.As(err, &ce) {
		return err // the coordinator's refusal (`invalid`): what it refused is no misuse of the command
	}
	if msg := e.Error(); strings.Contains(msg, "--help") || strings.Contains(msg, "usage: gtc") {
		return err
	}
	return usageError(fmt.Errorf("%w (see %s --help)", err, path))
}

func usageOnErrorIn(parent string, cmd *cli.Command) *cli.Command {
	path := parent + " " + cmd.Name
	cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageError(fmt.Errorf("%w (see %s --help)", err, path))
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = unknownCommand(path, cmd.Subcommands, cli.ShowSubcommandHelp)
	}
	for _, sub := range cmd.Subcommands {
		usageOnErrorIn(path, sub)
	}
	return cmd
}

// unknownCommand is the action of a command group run with an argument that names none of its commands:
// a usage error (exit 2) naming the closest command; without arguments it shows the group's help.
func unknownCommand(group string, cmds []*cli.Command, help func(*cli.Context) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() == 0 {
			return help(c)
		}
		name := c.Args().First()
		hint := ""
		if best := closestCommand(name, cmds); best != "" {
			hint = fmt.Sprintf(" (did you mean `%s %s`?)", group, best)
		}
		return usageError(fmt.Errorf("%s has no command %q%s: see `%s --help`", group, name, hint, group))
	}
}

// closestCommand is the name among cmds (and "help") within two edits of name, or one that name starts;
// "" if none.
func closestCommand(name string, cmds []*cli.Command) string {
	best, dist := "", 3
	names := []string{"help"} // urfave/cli's own, not in cmds yet when the actions are built
	for _, cmd := range cmds {
		names = append(names, cmd.Names()...)
	}
	for _, n := range names {
		if d := editDistance(name, n); d < dist || strings.HasPrefix(n, name) && best == "" {
			best, dist = n, min(d, dist)
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (in runes).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}

// request dials the coordinator, makes one call within the command's timeout, maps a failure to the
// documented exit codes (saying what was being done), and hands the result to show.
func request[T any](c *cli.Context, doing string, call func(context.Context, *rpc.Client) (T, error), show func(T) error) error {
	return withClient(c, cliUserName(), func(cl *rpc.Client, t dialTarget) error {
		ctx, cancel := callCtx(c, 0)
		defer cancel()
		r, err := call(ctx, cl)
		if err != nil {
			return remoteError(t, doing, err)
		}
		return show(r)
	})
}
