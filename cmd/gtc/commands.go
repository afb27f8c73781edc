package main

import "github.com/urfave/cli/v2"

// commands lists every gtc command.
func commands() []*cli.Command {
	return []*cli.Command{
		initCommand(),
		serveCommand(),
		importCommand(), exportCommand(),
		statusCommand(), readyCommand(), workersCommand(), claimCommand(), completeCommand(), failCommand(),
		releaseCommand(), heartbeatCommand(), issueCommand(), pauseCommand(), resumeCommand(), watchCommand(),
		drainCommand(), cancelCommand(), workerCommand(),
		mergeCommand(), convoyCommand(), healthCommand(),
		loadtestCommand(), profileCommand(),
	}
}
