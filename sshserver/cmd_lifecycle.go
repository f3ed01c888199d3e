package sshserver

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
)

// maxUserList caps a user list on stdin: 10,000 rows with SSH keys fit.
const maxUserList = 16 << 20

func (c *cli) userImportCommand() *cobra.Command {
	in := service.UserImportInput{}
	cmd := &cobra.Command{
		Use:   "import [--org SLUG] [--dry-run] < users.csv",
		Short: "Create many users at once from a CSV or JSON-lines list on stdin",
		Long: "Create the users of a list on stdin in one organization (org admins: their own), all in\n" +
			"one transaction. The list is CSV with a header row naming its columns — email, name, and\n" +
			"optionally role (member or admin; default member) and ssh_key — or JSON lines\n" +
			"({\"email\":…,\"name\":…,\"role\":…,\"ssh_key\":…}), up to 10,000 users. Every row is checked first;\n" +
			"if any is wrong, each bad row is named by its line number and nobody is created. The\n" +
			"organization's limits.max_users counts the whole list.\n\n" +
			"Users with an SSH key sign in with it. The others get a one-time password, printed once\n" +
			"on stdout as CSV (email,name,one_time_password) for you to hand over; each works for one\n" +
			"sign-in within 7 days, and that session chooses a password first. The summary goes to\n" +
			"stderr, so `> codes.csv` keeps only the passwords. --dry-run checks and creates nothing.",
		Example: c.example("SSH user import --org physics --dry-run < course.csv",
			"SSH user import --org physics < course.csv > codes.csv",
			"printf 'email,name\\nana@uni.example,Ana Ruiz\\n' | SSH user import --org physics"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := c.orgFlag(in.OrgSlug)
			if err != nil {
				return err
			}
			in.OrgSlug = org
			if in.Data, err = readAll(cmd, "user list", maxUserList); err != nil {
				return err
			}
			res, err := c.svc.ImportUsers(cmd.Context(), c.actor, in)
			if err != nil {
				return err
			}
			keys := 0
			for _, u := range res.Users {
				if u.SSHKey != "" {
					keys++
				}
			}
			if c.json {
				return c.show(cmd, res, nil)
			}
			w := cmd.OutOrStdout()
			if res.DryRun {
				fmt.Fprintf(w, "Would import %s into %s (dry run, nothing stored): %d with an SSH key, %d would get a one-time password.\n",
					plural.N(len(res.Users), "user", "users"), res.Org, keys, len(res.Users)-keys)
				return nil
			}
			stderr := cmd.ErrOrStderr()
			fmt.Fprintf(stderr, "Imported %s into %s: %d with an SSH key, %d with a one-time password.\n",
				plural.N(len(res.Users), "user", "users"), res.Org, keys, res.Passwords())
			if res.Passwords() == 0 {
				return nil
			}
			fmt.Fprintf(stderr, "Their one-time passwords follow on stdout, shown once: each works for one sign-in within %d days. Hand each over privately.\n",
				int(service.OneTimePasswordValidity.Hours()/24))
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"email", "name", "one_time_password"})
			for _, u := range res.Users {
				if u.OneTimePassword != "" {
					_ = cw.Write([]string{u.Email, u.Name, u.OneTimePassword})
				}
			}
			cw.Flush()
			return cw.Error()
		},
	}
	cmd.Flags().StringVar(&in.OrgSlug, "org", "", "organization slug (org admins: their own)")
	cmd.Flags().BoolVar(&in.DryRun, "dry-run", false, "check the list and report without creating anyone")
	return cmd
}

func (c *cli) userMoveCommand() *cobra.Command {
	var in service.MoveUserInput
	cmd := &cobra.Command{
		Use:   "move EMAIL --to SLUG [--with-assistants] [--role member|admin]",
		Short: "Move a user to another organization (system admins)",
		Long: "Move a user to another organization, in one transaction, audited in both. Their SSH keys\n" +
			"come along. Their assistants move along with --with-assistants; otherwise an enabled admin\n" +
			"of the organization they leave gets them (callers there keep working). Their personal API\n" +
			"keys are revoked, and listed: they would call the other organization's assistants. Usage\n" +
			"stays with the organization it happened in. They join as a member unless --role admin.",
		Example: c.example("SSH user move ana@uni.example --to chemistry --with-assistants"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Email = args[0]
			res, err := c.svc.MoveUser(cmd.Context(), c.actor, in)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Moved %s from %s to %s, as %s.\n", res.User.Email, res.From, res.To, res.User.Role)
				if len(res.AssistantsMoved) > 0 {
					fmt.Fprintf(w, "Assistants moved along (same ids): %s\n", assistantList(res.AssistantsMoved))
				}
				if len(res.AssistantsReassigned) > 0 {
					fmt.Fprintf(w, "Assistants now owned by %s in %s (same ids): %s\n", res.AssistantsReassigned[0].Owner, res.From,
						assistantList(res.AssistantsReassigned))
				}
				printRevoked(w, res.KeysRevoked, "Personal API keys revoked (create new ones in "+res.To+")")
				for _, warn := range res.Warnings {
					fmt.Fprintf(w, "Check: %s\n", safetext.Sanitize(warn))
				}
				fmt.Fprintf(w, "Their usage history stays with %s.\n", res.From)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.To, "to", "", "the organization they join (required)")
	f.BoolVar(&in.WithAssistants, "with-assistants", false, "their assistants move along (otherwise an admin of the old organization gets them)")
	f.StringVar(&in.Role, "role", "member", "their role in the new organization: member or admin")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// assistantList is "12 Tutor, 13 Grader (was Tutor)".
func assistantList(as []service.MovedAssistant) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = strconv.FormatInt(a.ID, 10) + " " + a.Name
		if a.Was != "" {
			parts[i] += " (was " + a.Was + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// printRevoked lists revoked API keys under a heading.
func printRevoked(w io.Writer, keys []service.RevokedKey, heading string) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", heading)
	t := newTable(w, "ID", "NAME", "PREFIX", "OWNER")
	for _, k := range keys {
		owner := k.Owner
		if owner == "" {
			owner = "(org key)"
		}
		t.row(strconv.FormatInt(k.ID, 10), k.Name, k.Prefix+"…", owner)
	}
	t.flush()
}

func (c *cli) orgMergeCommand() *cobra.Command {
	var (
		into string
		yes  bool
	)
	cmd := &cobra.Command{
		Use:   "merge SRC --into DST --yes",
		Short: "Move every user and assistant of one organization into another, then delete it (system admins)",
		Long: "Merge organization SRC into DST, in one transaction: SRC's users join DST as members, with\n" +
			"their SSH keys and assistants (same ids); SRC's API keys are revoked and listed (they would\n" +
			"call DST's assistants); SRC's usage history and audit trail move to DST, so nothing is\n" +
			"lost; then SRC is deleted with its config and signup key. DST's max_users and\n" +
			"max_assistants count the newcomers. Without --yes it only says what would happen.",
		Example: c.example("SSH org merge chem --into sciences", "SSH org merge chem --into sciences --yes"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := c.svc.MergeOrgs(cmd.Context(), c.actor, args[0], into, !yes)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				verb := "Merged"
				if res.DryRun {
					verb = "Would merge (nothing changed yet)"
				}
				fmt.Fprintf(w, "%s %s into %s: %s and %s join %s; %s is deleted.\n", verb, res.From, res.Into,
					plural.N(res.Users, "user", "users"), plural.N(res.Assistants, "assistant", "assistants"), res.Into, res.From)
				if len(res.FormerAdmins) > 0 {
					fmt.Fprintf(w, "Admins of %s, members of %s now (make one admin with `user set-role EMAIL admin`): %s\n",
						res.From, res.Into, strings.Join(res.FormerAdmins, ", "))
				}
				printRevoked(w, res.KeysRevoked, "API keys revoked")
				if res.DryRun {
					fmt.Fprintln(w, "Re-run with --yes to merge.")
				} else {
					fmt.Fprintf(w, "Usage history and audit of %s are kept under %s.\n", res.From, res.Into)
				}
			})
		},
	}
	cmd.Flags().StringVar(&into, "into", "", "the organization that takes everyone in (required)")
	cmd.Flags().BoolVar(&yes, "yes", false, "really merge (without it, only say what would happen)")
	_ = cmd.MarkFlagRequired("into")
	return cmd
}
