package main

import (
	"context"

	"github.com/urfave/cli/v2"

	"github.com/gastown/gtc/rpc"
)

// issueDepCommand is `gtc issue dep add|remove`: bd's `dep add` and `dep remove` through the coordinator.
func issueDepCommand() *cli.Command {
	dep := func(name, usage, verb string, call func(*rpc.Client, context.Context, rpc.IssueDepParams) (*rpc.IssueResult, error)) *cli.Command {
		return usageOnError(&cli.Command{
			Name:      name,
			Usage:     usage,
			ArgsUsage: "ID DEPENDS_ON",
			Flags: clientFlags(&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Value: "blocks",
				Usage: "blocks, parent-child (ID is a child of DEPENDS_ON), conditional-blocks, waits-for, related, discovered-from, ..."}),
			Action: func(c *cli.Context) error {
				args, err := wantArgs(c, 2, "issue dep "+name+" ID DEPENDS_ON [--type T]")
				if err != nil {
					return err
				}
				p := rpc.IssueDepParams{ID: args[0], DependsOn: args[1], Type: c.String("type")}
				return request(c, name+" dependency of "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.IssueResult, error) {
					return call(cl, ctx, p)
				}, func(r *rpc.IssueResult) error {
					return printIssue(c, verb+" "+p.Type+" on "+printable(p.DependsOn, false)+":", r.Issue)
				})
			},
		})
	}
	return &cli.Command{
		Name:  "dep",
		Usage: "add or remove a dependency (bd dep add / dep remove)",
		Subcommands: []*cli.Command{
			dep("add", "ID depends on DEPENDS_ON (a blocks dependency holds ID back until DEPENDS_ON is closed)", "added", (*rpc.Client).IssueDepAdd),
			dep("remove", "remove the dependency of ID on DEPENDS_ON of that --type", "removed", (*rpc.Client).IssueDepRemove),
		},
	}
}

// issueCommentCommand is `gtc issue comment`: bd's `comments add`.
func issueCommentCommand() *cli.Command {
	return usageOnError(&cli.Command{
		Name:      "comment",
		Usage:     "add a comment to an issue",
		ArgsUsage: "ID TEXT",
		Flags:     clientFlags(&cli.StringFlag{Name: "author", Usage: "who says it (default: your user name)"}),
		Action: func(c *cli.Context) error {
			args, err := wantArgs(c, 2, "issue comment ID TEXT [--author A]")
			if err != nil {
				return err
			}
			author := c.String("author")
			if author == "" {
				author = userName()
			}
			return request(c, "comment on "+args[0], func(ctx context.Context, cl *rpc.Client) (*rpc.IssueResult, error) {
				return cl.IssueComment(ctx, rpc.IssueCommentParams{ID: args[0], Text: args[1], Author: author})
			}, func(r *rpc.IssueResult) error {
				return printIssue(c, "commented on", r.Issue)
			})
		},
	})
}
