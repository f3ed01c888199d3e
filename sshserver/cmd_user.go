package sshserver

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users (system admins: every org; org admins: their own)",
		RunE:  groupRunE,
	}
	cmd.AddCommand(
		c.userListCommand(),
		c.userShowCommand(),
		c.userCreateCommand(),
		c.userEnableCommand("enable", true),
		c.userEnableCommand("disable", false),
		c.userDeleteCommand(),
		c.userSetRoleCommand(),
		c.userSetSystemAdminCommand(),
		c.userResetPasswordCommand(),
		c.userImportCommand(),
		c.userMoveCommand(),
	)
	return cmd
}

func roleText(u service.User) string {
	if u.SystemAdmin {
		return "system admin"
	}
	return u.Role
}

func (c *cli) userListCommand() *cobra.Command {
	var (
		lf         listFlags
		org, quiet string
	)
	cmd := &cobra.Command{
		Use:   "list [--org SLUG] [--quiet 30d] [--filter TEXT]",
		Short: "List users",
		Long: "List users. System admins see every organization (or the one named with --org); org\n" +
			"admins see their own. LAST SEEN is the last sign-in, by SSH command or console.\n" +
			"--quiet 30d keeps the accounts unused for 30 days: older than that, not signed in\n" +
			"since, and none of their personal API keys used since.",
		Example: c.example("SSH user list --quiet 90d", "SSH user list --org acme --filter ana"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			q := service.UserQuery{Org: org, Query: lf.filter}
			if quiet != "" {
				days, ok := strings.CutSuffix(quiet, "d")
				n, err := strconv.Atoi(days)
				if !ok || err != nil || n < 1 {
					return usageErrorf("--quiet %q: want a number of days such as 30d", quiet)
				}
				q.QuietDays = n
			}
			page, err := c.svc.ListUsers(cmd.Context(), c.actor, q, lf.offset, lf.limit)
			if err != nil {
				return err
			}
			return c.show(cmd, page, func(w io.Writer) {
				t := newTable(w, "EMAIL", "NAME", "ORG", "ROLE", "STATUS", "LAST SEEN")
				for _, u := range page.Items {
					t.row(u.Email, u.Name, u.OrgSlug, roleText(u), enabledText(u.Enabled), when(u.LastSeenAt))
				}
				t.flush()
				pageHint(cmd, lf.offset, len(page.Items), page.Total)
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organization slug (org admins: their own)")
	cmd.Flags().StringVar(&quiet, "quiet", "", "only accounts unused for this many days, e.g. 30d")
	lf.add(cmd)
	return cmd
}

// printUser prints one user as text.
func printUser(w io.Writer, u service.User) {
	failed := "none"
	if u.FailedSignIns > 0 {
		failed = fmt.Sprintf("%d, the last %s (audit --action user.signin_failed lists them)", u.FailedSignIns, when(u.LastFailedSignInAt))
	}
	fields(w,
		"email", u.Email,
		"name", u.Name,
		"organization", u.OrgSlug,
		"role", roleText(u),
		"status", enabledText(u.Enabled),
		"password", yesNo(u.HasPassword),
		"created", when(u.CreatedAt),
		"last seen", when(u.LastSeenAt),
		fmt.Sprintf("failed sign-ins (%d days)", service.FailedSignInDays), failed,
	)
}

func (c *cli) userShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show EMAIL",
		Short: "Show one user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := c.svc.GetUser(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, u, func(w io.Writer) { printUser(w, u) })
		},
	}
}

func (c *cli) userCreateCommand() *cobra.Command {
	var (
		in            service.CreateUserInput
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "create --email EMAIL --name NAME [--org SLUG]",
		Short: "Create a user",
		Long: "Create a user in an organization (org admins: their own, the default). Without\n" +
			"--password-stdin or --ssh-key a one-time password is generated and printed once.",
		Example: c.example(`SSH 'user create --org acme --email ana@acme.example --name "Ana Ruiz" --role admin'`,
			`echo "$PASSWORD" | SSH user create --email bo@acme.example --name Bo --password-stdin`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			org, err := c.orgFlag(in.OrgSlug)
			if err != nil {
				return err
			}
			in.OrgSlug = org
			if passwordStdin {
				if in.Password, err = newLineReader(cmd).line("password"); err != nil {
					return err
				}
				if in.Password == "" {
					return failf("password: the first line of stdin is empty")
				}
			}
			res, err := c.svc.CreateUser(cmd.Context(), c.actor, in)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Created user %s (%s) as %s of %s.\n", res.User.Email, safetext.Sanitize(res.User.Name), res.User.Role, res.User.OrgSlug)
				printOneTimePassword(w, res.User.Email, res.Password)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.OrgSlug, "org", "", "organization slug (org admins: their own)")
	f.StringVar(&in.Email, "email", "", "email address (required)")
	f.StringVar(&in.Name, "name", "", "display name (required)")
	f.StringVar(&in.Role, "role", "member", "admin or member")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	f.StringVar(&in.SSHKey, "ssh-key", "", "SSH public key (\"ssh-ed25519 AAAA…\")")
	_ = cmd.MarkFlagRequired("email")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func printOneTimePassword(w io.Writer, email, password string) {
	if password == "" {
		return
	}
	fmt.Fprintf(w, "One-time password for %s: %s\n", email, password)
	fmt.Fprintf(w, "It is shown once, works for one sign-in within %d days, and that session chooses a new password first.\n",
		int(service.OneTimePasswordValidity.Hours()/24))
	fmt.Fprintln(w, "Hand it over privately.")
}

func (c *cli) userEnableCommand(verb string, enable bool) *cobra.Command {
	short := "Enable a user"
	if !enable {
		short = "Disable a user: they can't sign in and their API keys stop working"
	}
	return &cobra.Command{
		Use:   verb + " EMAIL",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := c.svc.SetUserEnabled(cmd.Context(), c.actor, args[0], enable)
			if err != nil {
				return err
			}
			return c.show(cmd, u, func(w io.Writer) {
				fmt.Fprintf(w, "User %s is %s.\n", u.Email, enabledText(u.Enabled))
			})
		},
	}
}

func (c *cli) userDeleteCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete EMAIL --yes",
		Short: "Delete a user with their SSH keys, assistants and personal API keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				// Only for users the actor may see: the same answer as the
				// deletion would give for anyone else.
				u, err := c.svc.GetUser(cmd.Context(), c.actor, args[0])
				if err != nil {
					return err
				}
				return failf("not deleted: deleting %s also deletes their SSH keys, assistants and personal API keys. Re-run with --yes to delete", u.Email)
			}
			if err := c.svc.DeleteUser(cmd.Context(), c.actor, args[0]); err != nil {
				return err
			}
			return c.show(cmd, map[string]string{"deleted": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted user %s.\n", safetext.Sanitize(args[0]))
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

func (c *cli) userSetRoleCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set-role EMAIL admin|member",
		Short: "Make a user admin or member of their organization",
		Args:  cobra.MatchAll(cobra.ExactArgs(2), argIn(1, "admin", "member")),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := c.svc.SetUserRole(cmd.Context(), c.actor, args[0], args[1])
			if err != nil {
				return err
			}
			return c.show(cmd, u, func(w io.Writer) {
				fmt.Fprintf(w, "User %s is %s of %s.\n", u.Email, u.Role, u.OrgSlug)
			})
		},
	}
}

func (c *cli) userSetSystemAdminCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set-system-admin EMAIL on|off",
		Short: "Grant or remove system admin (users of the system organization; system admins)",
		Args:  cobra.MatchAll(cobra.ExactArgs(2), argIn(1, "on", "off")),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := c.svc.SetSystemAdmin(cmd.Context(), c.actor, args[0], args[1] == "on")
			if err != nil {
				return err
			}
			return c.show(cmd, u, func(w io.Writer) {
				state := "is no longer"
				if u.SystemAdmin {
					state = "is"
				}
				fmt.Fprintf(w, "User %s %s a system admin.\n", u.Email, state)
			})
		},
	}
}

// argIn checks that argument i is one of allowed.
func argIn(i int, allowed ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		for _, a := range allowed {
			if args[i] == a {
				return nil
			}
		}
		return fmt.Errorf("argument %d must be one of %v, got %q", i+1, allowed, args[i])
	}
}

func (c *cli) userResetPasswordCommand() *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "reset-password EMAIL",
		Short: "Set a user's password: a generated one-time password, or one from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password := ""
			if passwordStdin {
				var err error
				if password, err = newLineReader(cmd).line("password"); err != nil {
					return err
				}
				if password == "" {
					return failf("password: the first line of stdin is empty")
				}
			}
			generated, err := c.svc.ResetPassword(cmd.Context(), c.actor, args[0], password)
			if err != nil {
				return err
			}
			out := struct {
				Email           string `json:"email"`
				OneTimePassword string `json:"one_time_password,omitempty"`
			}{args[0], generated}
			return c.show(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "Password of %s reset.\n", safetext.Sanitize(args[0]))
				printOneTimePassword(w, safetext.Sanitize(args[0]), generated)
			})
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the new password from the first line of stdin")
	return cmd
}
