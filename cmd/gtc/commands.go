package main

import "github.com/urfave/cli/v2"

// commands lists every gtc command.
func commands() []*cli.Command {
	cmds := []*cli.Command{
		initCommand(),
		serveCommand(),
		importCommand(), exportCommand(), backupCommand(), restoreCommand(),
		statusCommand(), readyCommand(), workersCommand(), claimCommand(), completeCommand(), failCommand(),
		releaseCommand(), heartbeatCommand(), issueCommand(), pauseCommand(), resumeCommand(), watchCommand(), eventsCommand(),
		drainCommand(), cancelCommand(), workerCommand(),
		mergeCommand(), convoyCommand(), healthCommand(),
		loadtestCommand(), loadtestEchoCommand(), profileCommand(),
	}
	// every command (and subcommand) answers a flag error with one line and exit 2, as the README says, and
	// its own checks' usage errors name its help
	for _, c := range cmds {
		usageOnError(c)
		pointToHelp(c)
	}
	return cmds
}
