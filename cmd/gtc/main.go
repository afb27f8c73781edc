// Command gtc is the Gas Town coordinator: server, CLI client, reference worker, load test and profiler.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes of the gtc command, documented in README.md.
const (
	exitOK       = 0
	exitError    = 1 // the command failed; the message says why
	exitUsage    = 2 // bad flags or arguments
	exitNoServer = 3 // no coordinator reachable at the socket or address
	exitRefused  = 4 // the coordinator refused the request (conflict, stale epoch, not found, ...)
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	if err := app.Run(args); err != nil {
		if topic, ok := strings.CutPrefix(err.Error(), "No help topic for '"); ok { // gtc help isue: urfave/cli's help
			topic = strings.TrimSuffix(topic, "'")
			hint := ""
			if best := closestCommand(topic, app.Commands); best != "" && best != "help" {
				hint = fmt.Sprintf(" (did you mean `gtc help %s`?)", best)
			}
			err = usageError(fmt.Errorf("no help for %q%s: see `gtc --help` for the commands", topic, hint))
		}
		fmt.Fprintln(stderr, "gtc:", oneLine(err))
		return exitCodeOf(err)
	}
	return exitOK
}

// newApp builds the command tree.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "gtc",
		Usage:                "the Gas Town coordinator: pushes beads issues to agent workers",
		Version:              buildVersion(),
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Flags:                globalFlags(),
		Before: func(c *cli.Context) error {
			l, err := newLogger(c.String("log-format"), c.String("log-level"), stderr)
			if err != nil {
				return usageError(err)
			}
			slog.SetDefault(l)
			return nil
		},
		Commands: commands(),
		ExitErrHandler: func(*cli.Context, error) {
			// run prints the error and picks the exit code.
		},
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError(err) }
	app.Action = unknownCommand("gtc", app.Commands, cli.ShowAppHelp)
	return app
}

// globalFlags are accepted before any command; each is also read from a GTC_* environment variable.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dir", Value: ".", EnvVars: []string{"GTC_DIR"}, Usage: "workspace holding .beads/"},
		&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"GTC_LOG_FORMAT"}, Usage: "text or json"},
		&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"GTC_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
	}
}

// newLogger returns a slog logger writing text for people or JSON for machines.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// exitError carries an exit code through urfave/cli.
type exitErr struct {
	code int
	err  error
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

func usageError(err error) error { return &exitErr{code: exitUsage, err: err} }

// exitCodeOf maps an error to the documented exit code.
func exitCodeOf(err error) int {
	var e *exitErr
	if ok := asExit(err, &e); ok {
		return e.code
	}
	return exitError
}

func asExit(err error, target **exitErr) bool {
	for err != nil {
		if e, ok := err.(*exitErr); ok {
			*target = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// oneLine flattens an error message to one line.
func oneLine(err error) string {
	s := strings.TrimSpace(err.Error())
	s = strings.ReplaceAll(s, ":\n", ": ") // "changes:\n M f" reads "changes: M f", not "changes:; M f"
	// other control characters (a refused name or id echoed by the server) are shown escaped
	return printable(strings.ReplaceAll(s, "\n", "; "), false)
}
