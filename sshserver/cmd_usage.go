package sshserver

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func (c *cli) usageCommand() *cobra.Command {
	var (
		org, since, by string
		mine           bool
	)
	cmd := &cobra.Command{
		Use:   "usage [--org SLUG] [--since month|30d|DATE] [--by day|assistant|user] [--mine]",
		Short: "Report requests and tokens (members: of their own assistants; admins: of the organization)",
		Long: "Report the requests, errors and tokens of completions since a day, grouped by day,\n" +
			"assistant or user, with a total. Members see the usage of their own assistants; org\n" +
			"admins their organization's (--mine: only their own assistants); system admins name\n" +
			"an organization with --org. Days are UTC; by default this calendar month, as the\n" +
			"console and the monthly budgets count it.",
		Example: c.example("SSH usage", "SSH usage --since 7d --by day", "SSH usage --org acme --by user --json"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			if by != "day" && by != "assistant" && by != "user" {
				return usageErrorf("--by must be day, assistant or user, got %q", by)
			}
			if !mine {
				if org, err = c.orgFlag(org); err != nil {
					return err
				}
			}
			r, err := c.svc.Usage(cmd.Context(), c.actor, org, from, by, mine)
			if err != nil {
				return err
			}
			return c.show(cmd, r, func(w io.Writer) {
				whose := r.OrgSlug
				if r.User != "" {
					whose = r.User + "'s assistants in " + r.OrgSlug
				}
				fmt.Fprintf(w, "Usage of %s from %s to %s (UTC), by %s:\n", whose, r.From, r.To, r.By)
				n := strconv.FormatInt
				t := newTable(w, map[string]string{"day": "DAY", "assistant": "ASSISTANT", "user": "USER"}[r.By],
					"REQUESTS", "ERRORS", "REFUSED", "PROMPT TOKENS", "COMPLETION TOKENS", "TOKENS")
				for _, row := range r.Rows {
					t.row(row.Key, n(row.Requests, 10), n(row.Errors, 10), n(row.Refused, 10), n(row.PromptTokens, 10),
						n(row.CompletionTokens, 10), n(row.Tokens, 10))
				}
				tot := r.Total
				t.row("total", n(tot.Requests, 10), n(tot.Errors, 10), n(tot.Refused, 10), n(tot.PromptTokens, 10),
					n(tot.CompletionTokens, 10), n(tot.Tokens, 10))
				t.flush()
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization slug (org admins and members: their own; system admins: required)")
	cmd.Flags().StringVar(&since, "since", "month", "how far back: month (this calendar month, UTC), a duration (30d, 12h) or a date (2026-01-31)")
	cmd.Flags().StringVar(&by, "by", "assistant", "group by day, assistant or user")
	cmd.Flags().BoolVar(&mine, "mine", false, "only the usage of your own assistants")
	return cmd
}
