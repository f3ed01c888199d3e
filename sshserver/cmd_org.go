package sshserver

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) orgCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Manage organizations",
		RunE:  groupRunE,
	}
	cmd.AddCommand(
		c.orgListCommand(),
		c.orgShowCommand(),
		c.orgCreateCommand(),
		c.orgDeleteCommand(),
		c.orgSuspendCommand("suspend", true),
		c.orgSuspendCommand("resume", false),
		c.orgSyncSystemCommand(),
		c.orgConfigCommand(),
		c.orgLimitsCommand(),
		c.orgQuotaCommand(),
		c.orgAlertsCommand(),
		c.orgExportCommand(),
		c.orgImportCommand(),
		c.orgMergeCommand(),
	)
	return cmd
}

func (c *cli) orgListCommand() *cobra.Command {
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List organizations with their counts (system admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			page, err := c.svc.ListOrgs(cmd.Context(), c.actor, lf.filter, lf.offset, lf.limit)
			if err != nil {
				return err
			}
			return c.show(cmd, page, func(w io.Writer) {
				t := newTable(w, "SLUG", "NAME", "STATUS", "USERS", "ASSISTANTS", "SIGNUP", "CREATED")
				for _, o := range page.Items {
					t.row(o.Slug, o.Name, o.Status, fmt.Sprint(o.Users), fmt.Sprint(o.Assistants),
						enabledText(o.SignupEnabled), when(o.CreatedAt))
				}
				t.flush()
				pageHint(cmd, lf.offset, len(page.Items), page.Total)
			})
		},
	}
	lf.add(cmd)
	return cmd
}

func (c *cli) orgShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show SLUG",
		Short: "Show an organization: status, counts, limits and admins",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := c.svc.GetOrg(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, d, func(w io.Writer) {
				admins := make([]string, 0, len(d.Admins))
				for _, a := range d.Admins {
					admins = append(admins, a.Email)
				}
				l := d.Limits
				fields(w,
					"slug", d.Slug,
					"name", d.Name,
					"status", d.Status,
					"system", yesNo(d.IsSystem),
					"signup", enabledText(d.SignupEnabled),
					"users", fmt.Sprintf("%d (admins: %d)", d.Counts.Users, d.Counts.Admins),
					"assistants", fmt.Sprint(d.Counts.Assistants),
					"api keys", fmt.Sprint(d.Counts.APIKeys),
					"ssh keys", fmt.Sprint(d.Counts.SSHKeys),
					"active setup", d.Setup,
					"limits", fmt.Sprintf("tokens/month %s, requests/minute %s, users %s, assistants %s (%s per user), user tokens/month %s",
						limit(l.TokensPerMonth), limit(l.RequestsPerMinute), limit(l.MaxUsers),
						limit(l.MaxAssistants), limit(l.MaxAssistantsPerUser), limit(l.UserTokensPerMonth)),
					"admins", strings.Join(admins, ", "),
					"created", when(d.CreatedAt),
				)
				for _, path := range slices.Sorted(maps.Keys(d.Managed)) {
					fmt.Fprintf(w, "managed by .env: %s (%s)\n", path, d.Managed[path])
				}
			})
		},
	}
}

func limit(n int64) string {
	if n == config.Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(n)
}

func (c *cli) orgCreateCommand() *cobra.Command {
	var (
		in    service.CreateOrgInput
		admin service.NewAdmin
		from  string
	)
	cmd := &cobra.Command{
		Use:   "create SLUG --name NAME [--admin-email E …] [--from - < FILE | --from-org SLUG [--with-secrets]] [--config-only]",
		Short: "Create an organization, optionally with its admin and from a template (system admins)",
		Long: "Create an organization. With --admin-email its admin is an existing user of the system\n" +
			"organization (moved in), or a new user (then --admin-name is required). A new admin\n" +
			"without --admin-ssh-key gets a one-time password, printed once.\n\n" +
			"A template starts it: --from - reads an `org export` document on stdin, --from-org SLUG\n" +
			"copies an existing organization. The new organization takes its config and, unless\n" +
			"--config-only, its assistants, owned by the new admin (new ids, printed). Its users stay\n" +
			"out (a person has one account; see `user move`), and so does its signup key. Provider\n" +
			"secrets of --from-org are left out unless --with-secrets (audited in both organizations).",
		Example: c.example(`SSH 'org create acme --name "Acme University" --admin-email it@acme.example --admin-name "IT Desk"'`,
			`SSH 'org create chem --name Chemistry --admin-email boss@chem.example --admin-name Boss --from-org template'`,
			`SSH 'org create phys --name Physics --from - --config-only' < template.json`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Slug = args[0]
			if admin.Email != "" {
				in.Admin = &admin
			} else if admin.Name != "" || admin.SSHKey != "" {
				return usageErrorf("--admin-name and --admin-ssh-key need --admin-email")
			}
			switch from {
			case "":
			case "-":
				ex, err := readExport(cmd)
				if err != nil {
					return err
				}
				in.From = &ex
			default:
				return usageErrorf("--from %s: the server can't read files on your machine; send the file on stdin: --from - < %s", from, from)
			}
			res, err := c.svc.CreateOrg(cmd.Context(), c.actor, in)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Created organization %s (%s).\n", res.Org.Slug, safetext.Sanitize(res.Org.Name))
				if res.Admin != nil {
					fmt.Fprintf(w, "Admin: %s (%s).\n", res.Admin.Email, safetext.Sanitize(res.Admin.Name))
				}
				if res.AdminPassword != "" {
					printOneTimePassword(w, res.Admin.Email, res.AdminPassword)
				}
				if t := res.Template; t != nil {
					printTemplate(w, res.Org.Slug, t)
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&in.Name, "name", "", "display name (required)")
	f.StringVar(&admin.Email, "admin-email", "", "the admin: a user of the system org, or a new user")
	f.StringVar(&admin.Name, "admin-name", "", "name of a new admin user")
	f.StringVar(&admin.SSHKey, "admin-ssh-key", "", "SSH public key of the admin (\"ssh-ed25519 AAAA…\")")
	f.StringVar(&in.SignupKey, "signup-key", "", "signup key (16-64 characters of A-Z a-z 0-9 - _, at least 8 different, no runs like aaaa or 1234)")
	f.BoolVar(&in.CopySystemProviders, "copy-system-providers", false, "start with the system org's providers, API keys included")
	f.StringVar(&from, "from", "", "start from an org export document: - reads it from stdin")
	f.StringVar(&in.FromOrg, "from-org", "", "start from this organization's config and assistants")
	f.BoolVar(&in.ConfigOnly, "config-only", false, "with --from or --from-org: only the config, no assistants")
	f.BoolVar(&in.WithSecrets, "with-secrets", false, "with --from-org: copy its provider keys and tokens too (audited)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// printTemplate says what a new org took from its template.
func printTemplate(w io.Writer, slug string, t *service.TemplateResult) {
	from := "the file"
	if t.From != "file" {
		from = t.From
	}
	what := "config and " + plural.N(len(t.Assistants), "assistant", "assistants")
	if t.ConfigOnly {
		what = "config"
	}
	fmt.Fprintf(w, "Started from %s: its %s.\n", safetext.Sanitize(from), what)
	if t.SecretsCopied {
		fmt.Fprintln(w, "Provider secrets were copied too (audited in both organizations).")
	}
	for _, p := range t.SecretsCleared {
		fmt.Fprintf(w, "Left out (a secret; set it with org config set or the Providers screen): %s\n", safetext.Sanitize(p))
	}
	if t.SignupDisabled {
		fmt.Fprintf(w, "Signup was on in the template; %s starts with it off: `signup enable --org %s` makes its key.\n", slug, slug)
	}
	if len(t.Assistants) > 0 {
		fmt.Fprintln(w, "Assistants (their callers use the new ids):")
		tb := newTable(w, "TEMPLATE", "NEW", "NAME", "OWNER")
		for _, a := range t.Assistants {
			old := "-"
			if a.OldID > 0 {
				old = service.ModelPrefix + strconv.FormatInt(a.OldID, 10)
			}
			tb.row(old, service.ModelPrefix+strconv.FormatInt(a.NewID, 10), a.Name, a.Owner)
		}
		tb.flush()
	}
}

func (c *cli) orgDeleteCommand() *cobra.Command {
	var (
		yes   bool
		users string
	)
	cmd := &cobra.Command{
		Use:   "delete SLUG --yes --users delete|move",
		Short: "Delete an organization with its assistants, keys, usage and audit (system admins)",
		Long: "Delete an organization with its assistants, API keys, SSH keys, usage and audit history.\n" +
			"--users says what happens to its users: delete them, or move them to the system\n" +
			"organization, disabled. Without --yes nothing is deleted.",
		Example: c.example("SSH org delete acme --yes --users move"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var fate service.UserFate
			switch users {
			case "delete":
				fate = service.DeleteUsers
			case "move":
				fate = service.MoveUsersToSystem
			case "":
			default:
				return usageErrorf("--users must be delete or move, got %q", users)
			}
			if !yes {
				d, err := c.svc.GetOrg(cmd.Context(), c.actor, args[0])
				if err != nil {
					return err
				}
				then := "Re-run with --yes and --users delete (delete its users) or --users move (move them to " +
					service.SystemSlug + ", disabled)"
				switch fate {
				case service.DeleteUsers:
					then = "Re-run with --yes to delete it and its users"
				case service.MoveUsersToSystem:
					then = "Re-run with --yes to delete it and move its users to " + service.SystemSlug + ", disabled"
				}
				return failf("not deleted: %s has %s (%s), %s and %s; "+
					"deleting it also removes its assistants, API keys, usage and audit history. %s",
					d.Slug, plural.N(d.Counts.Users, "user", "users"), plural.N(d.Counts.SSHKeys, "SSH key", "SSH keys"),
					plural.N(d.Counts.Assistants, "assistant", "assistants"), plural.N(d.Counts.APIKeys, "API key", "API keys"), then)
			}
			if fate == 0 {
				return usageErrorf("--users is required: delete (delete the users) or move (move them to %s, disabled)", service.SystemSlug)
			}
			res, err := c.svc.DeleteOrg(cmd.Context(), c.actor, args[0], fate)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				users := plural.N(res.UsersDeleted, "user", "users") + " deleted"
				if fate == service.MoveUsersToSystem {
					users = fmt.Sprintf("%s moved to %s, disabled", plural.N(res.UsersMoved, "user", "users"), service.SystemSlug)
				}
				fmt.Fprintf(w, "Deleted organization %s: %s, %s and %s deleted.\n", res.Slug, users,
					plural.N(res.Assistants, "assistant", "assistants"), plural.N(res.APIKeys, "API key", "API keys"))
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	cmd.Flags().StringVar(&users, "users", "", "what happens to the users: delete or move")
	return cmd
}

func (c *cli) orgSuspendCommand(verb string, suspend bool) *cobra.Command {
	short := "Suspend an organization: its users can't sign in and its keys stop working (system admins)"
	if !suspend {
		short = "Resume a suspended organization (system admins)"
	}
	return &cobra.Command{
		Use:   verb + " SLUG",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := c.svc.SetOrgSuspended(cmd.Context(), c.actor, args[0], suspend)
			if err != nil {
				return err
			}
			return c.show(cmd, o, func(w io.Writer) {
				fmt.Fprintf(w, "Organization %s is %s.\n", o.Slug, o.Status)
			})
		},
	}
}

// changeJSON is a config.Change for --json.
type changeJSON struct {
	Field    string `json:"field"`
	Variable string `json:"variable,omitempty"`
	Old      string `json:"old,omitempty"`
	New      string `json:"new,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
}

func (c *cli) orgSyncSystemCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sync-system",
		Short: "Re-read .env and the environment into the system organization (system admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changes, err := c.svc.SyncSystemOrgNow(cmd.Context(), c.actor)
			if err != nil {
				return err
			}
			out := struct {
				Changes []changeJSON `json:"changes"`
			}{Changes: make([]changeJSON, 0, len(changes))}
			for _, ch := range changes {
				out.Changes = append(out.Changes, changeJSON{ch.Field, ch.Variable, ch.Old, ch.New, ch.Secret})
			}
			return c.show(cmd, out, func(w io.Writer) {
				if len(changes) == 0 {
					fmt.Fprintln(w, "No changes: the system organization matches the environment.")
					return
				}
				for _, ch := range changes {
					fmt.Fprintln(w, safetext.Sanitize(ch.String()))
				}
			})
		},
	}
}
