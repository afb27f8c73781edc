package main

import "github.com/urfave/cli/v2"

// commands lists every gtc command.
func commands() []*cli.Command {
	return []*cli.Command{
		initCommand(),
		serveCommand(),
	}
}
