package sshserver

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) apikeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Manage API keys: your personal keys, or (admins) your organization's keys",
		Long: "Manage the API keys that callers (an LMS, Open WebUI, any OpenAI client) send as\n" +
			"\"Authorization: Bearer lamb_…\". A personal key (--personal) calls only its owner's\n" +
			"assistants; everyone may create them. An org key calls every assistant of the\n" +
			"organization; its admins create them.",
		RunE: groupRunE,
	}
	cmd.AddCommand(c.apikeyListCommand(), c.apikeyCreateCommand(), c.apikeyRevokeCommand())
	return cmd
}

func keyStatus(k service.APIKey, now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

func keyOwner(k service.APIKey) string {
	if k.Owner == "" {
		return "(org key)"
	}
	return k.Owner
}

func (c *cli) apikeyListCommand() *cobra.Command {
	var (
		org           string
		personal      bool
		offset, limit int
	)
	cmd := &cobra.Command{
		Use:   "list [--org SLUG] [--personal]",
		Short: "List API keys (members: their personal keys; admins: every key of the organization)",
		Long: "List API keys, never the keys themselves: their prefix is what identifies them. With\n" +
			"--personal, your own personal keys (the only list a member has, the default for them);\n" +
			"otherwise (admins) every key of the organization, personal keys of its users included.",
		Example: c.example("SSH apikey list", "SSH apikey list --personal --json", "SSH apikey list --org acme"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 500 {
				return usageErrorf("--limit must be 1-500, got %d", limit)
			}
			if offset < 0 {
				return usageErrorf("--offset can't be negative, got %d", offset)
			}
			if c.actor.Role == service.RoleMember && org == "" {
				personal = true
			}
			if !personal {
				var err error
				if org, err = c.orgFlag(org); err != nil {
					return err
				}
			}
			page, err := c.svc.ListAPIKeys(cmd.Context(), c.actor, org, personal, offset, limit)
			if err != nil {
				return err
			}
			now := time.Now()
			return c.show(cmd, page, func(w io.Writer) {
				t := newTable(w, "ID", "NAME", "PREFIX", "OWNER", "ORG", "CREATED", "LAST USED", "EXPIRES", "STATUS")
				for _, k := range page.Items {
					t.row(strconv.FormatInt(k.ID, 10), k.Name, k.Prefix+"…", keyOwner(k), k.OrgSlug, when(k.CreatedAt),
						when(k.LastUsedAt), when(k.ExpiresAt), keyStatus(k, now))
				}
				t.flush()
				pageHint(cmd, offset, len(page.Items), page.Total)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization slug (org admins: their own; system admins: required)")
	cmd.Flags().BoolVar(&personal, "personal", false, "only your own personal keys")
	cmd.Flags().IntVar(&limit, "limit", 100, "rows to show (1-500)")
	cmd.Flags().IntVar(&offset, "offset", 0, "rows to skip")
	return cmd
}

// parseExpires reads --expires: a duration from now ("30d", "12h") or a
// date or time ("2026-12-31" is its first instant, in UTC; RFC 3339).
func parseExpires(s string, now time.Time) (time.Time, error) {
	t, ok := parseWhen(s, now, 1)
	if !ok {
		return time.Time{}, usageErrorf("--expires %q: want a positive duration such as 30d or 12h, or a date such as 2026-12-31", s)
	}
	return t, nil
}

func (c *cli) apikeyCreateCommand() *cobra.Command {
	var (
		name, org, expires string
		personal           bool
		count              int
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME [--personal] [--org SLUG] [--expires 30d|2026-12-31] [--count K]",
		Short: "Create an API key; the key is printed once",
		Long: "Create an API key: with --personal, yours, calling only your assistants (members create\n" +
			"only these); otherwise (admins) an org key calling every assistant of the organization.\n" +
			"The key is printed once, alone on the last line of stdout, and lamb keeps only its hash:\n" +
			"store it when it is shown. --count K creates K keys at once, named NAME-1 … NAME-K (one\n" +
			"per course of an LMS, say), printed one a line as ID, NAME and KEY.",
		Example: c.example("KEY=$(SSH apikey create --name laptop --personal --expires 90d | tail -n 1)",
			"SSH apikey create --name moodle --org acme --json",
			"SSH apikey create --name course --count 40 --org acme > course-keys.txt"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			at, err := parseExpires(expires, time.Now())
			if err != nil {
				return err
			}
			if !personal {
				if org, err = c.orgFlag(org); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("count") {
				return c.createKeys(cmd, service.NewAPIKeysInput{OrgSlug: org, Name: name, Count: count, Personal: personal, ExpiresAt: at})
			}
			k, err := c.svc.CreateAPIKey(cmd.Context(), c.actor, org, name, personal, at)
			if errors.Is(err, service.ErrForbidden) && !personal && c.actor.Role == service.RoleMember {
				return failf("permission denied: only admins create org keys; members create personal keys: add --personal")
			} else if err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "The key is shown once; store it now: lamb keeps only its hash.")
			return c.show(cmd, k, func(w io.Writer) {
				kind, owner := "org key", ""
				if k.Owner != "" {
					kind, owner = "personal key", " of "+k.Owner
				}
				exp := "never expires"
				if !k.ExpiresAt.IsZero() {
					exp = "expires " + k.ExpiresAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "Created %s %q (id %d)%s in %s; %s.\n", kind, safetext.Sanitize(k.Name), k.ID, owner, k.OrgSlug, exp)
				fmt.Fprintln(w, k.Key)
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name saying where the key is used (required)")
	cmd.Flags().BoolVar(&personal, "personal", false, "a personal key: calls only your own assistants")
	cmd.Flags().StringVar(&org, "org", "", "organization of an org key (org admins: their own; system admins: required)")
	cmd.Flags().StringVar(&expires, "expires", "", "when the key stops working: 30d, 12h, 2026-12-31 (default: never)")
	cmd.Flags().IntVar(&count, "count", 1, fmt.Sprintf("create this many keys at once (1-%d), named NAME-1 … NAME-K", service.MaxAPIKeysAtOnce))
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// createKeys is apikey create --count: the keys one a line, after a line
// on stderr saying they are shown once.
func (c *cli) createKeys(cmd *cobra.Command, in service.NewAPIKeysInput) error {
	keys, err := c.svc.CreateAPIKeys(cmd.Context(), c.actor, in)
	if errors.Is(err, service.ErrForbidden) && !in.Personal && c.actor.Role == service.RoleMember {
		return failf("permission denied: only admins create org keys; members create personal keys: add --personal")
	} else if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Created %d keys in %s; each is shown once: store them now, lamb keeps only their hashes.\n", len(keys), keys[0].OrgSlug)
	return c.show(cmd, keys, func(w io.Writer) {
		t := newTable(w, "ID", "NAME", "KEY")
		for _, k := range keys {
			t.row(strconv.FormatInt(k.ID, 10), k.Name, k.Key)
		}
		t.flush()
	})
}

func (c *cli) apikeyRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API key (as listed by apikey list): callers using it are refused from now on",
		Example: c.example("SSH apikey revoke 12"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErrorf("API key ID %q: want the number shown by apikey list", args[0])
			}
			if err := c.svc.RevokeAPIKey(cmd.Context(), c.actor, id); err != nil {
				return err
			}
			return c.show(cmd, map[string]int64{"revoked": id}, func(w io.Writer) {
				fmt.Fprintf(w, "Revoked API key %d.\n", id)
			})
		},
	}
}
