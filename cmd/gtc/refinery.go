package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

// runRefinery runs the reference refinery worker (`gtc worker --role refinery`): it takes merge
// requests pushed by the coordinator, merges them with git and reports the result.
func runRefinery(c *cli.Context) error {
	return errors.New("the refinery role is not built yet")
}
