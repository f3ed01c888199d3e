package sshserver

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who this SSH key signs in as",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := c.svc.Whoami(cmd.Context(), c.actor)
			if err != nil {
				return err
			}
			return c.show(cmd, id, func(w io.Writer) {
				fmt.Fprintf(w, "%s (%s) — %s of %s\n", safetext.Sanitize(id.Name), id.Email, id.Role, id.OrgSlug)
				if len(id.Alerts) > 0 {
					fmt.Fprintln(w, "Budget alerts this month:")
					printAlertLines(w, id.Alerts, false)
				}
			})
		},
	}
}

func (c *cli) auditCommand() *cobra.Command {
	var (
		org, since string
		limit      int
		before     int64
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List audited changes, newest first",
		Long: "List audited changes, newest first. System admins see every organization (or the one\n" +
			"named with --org); org admins see their own.",
		Example: c.example("SSH audit --since 24h", "SSH audit --org acme --since 2026-01-01 --json"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseSince(since, time.Now())
			if err != nil {
				return err
			}
			if limit < 1 || limit > 1000 {
				return usageErrorf("--limit must be 1-1000, got %d", limit)
			}
			events, err := c.svc.ListAudit(cmd.Context(), c.actor, org, from, before, limit)
			if err != nil {
				return err
			}
			return c.show(cmd, events, func(w io.Writer) {
				t := newTable(w, "ID", "TIME", "ORG", "ACTOR", "ACTION", "TARGET", "DETAILS")
				for _, e := range events {
					details := ""
					if len(e.Details) > 0 {
						b, _ := json.Marshal(e.Details)
						details = string(b)
					}
					t.row(fmt.Sprint(e.ID), when(e.CreatedAt), e.OrgSlug, e.Actor, e.Action, e.Target, details)
				}
				t.flush()
				if len(events) == limit {
					fmt.Fprintf(cmd.ErrOrStderr(), "showing the newest %d; use --before %d for older events\n", limit, events[len(events)-1].ID)
				}
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization slug (system admins: default all)")
	cmd.Flags().StringVar(&since, "since", "7d", "how far back: a duration (7d, 12h) or a date (2026-01-31)")
	cmd.Flags().IntVar(&limit, "limit", 100, "events to show (1-1000)")
	cmd.Flags().Int64Var(&before, "before", 0, "show events older than this event id (paging)")
	return cmd
}

func (c *cli) passwordCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "password",
		Short: "Change your own password (old and new on two lines of stdin)",
		Long: "Change your own password. Stdin carries two lines: the current password, then the new\n" +
			"one (at least 8 characters). An account without a password takes an empty first line.",
		Example: c.example(`printf '%s\n%s\n' "$OLD" "$NEW" | SSH password`),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.tty {
				// With a terminal the keys arrive unechoed and Enter is a
				// carriage return: reading lines there is a trap.
				return usageErrorf("password reads two lines from stdin, without a terminal: drop -t and pipe them (see the example), or change your password in the console under My account")
			}
			lr := newLineReader(cmd)
			old, err := lr.line("old password")
			if err != nil {
				return err
			}
			next, err := lr.line("new password")
			if err != nil {
				return err
			}
			if err := c.svc.ChangePassword(cmd.Context(), c.actor, old, next); err != nil {
				return err
			}
			return c.show(cmd, map[string]bool{"password_changed": true}, func(w io.Writer) {
				fmt.Fprintln(w, "Password changed.")
			})
		},
	}
}

// orgFlag is --org for commands whose service call needs an org: it
// defaults to the actor's own org for everyone but system admins, who must
// name one.
func (c *cli) orgFlag(org string) (string, error) {
	if org != "" {
		return org, nil
	}
	if c.actor.Role == service.RoleSystemAdmin {
		return "", usageErrorf("--org SLUG is required for system admins")
	}
	return c.actor.OrgSlug, nil
}
