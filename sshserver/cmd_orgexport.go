package sshserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
)

// maxImport bounds an import document: large orgs with many users fit.
const maxImport = 64 << 20

func (c *cli) orgExportCommand() *cobra.Command {
	var withSecrets, configOnly bool
	cmd := &cobra.Command{
		Use:   "export SLUG",
		Short: "Print an organization as a JSON document (config, signup, users, SSH keys, assistants)",
		Long: "Print an organization as JSON: its config, signup state, users with their SSH keys, and\n" +
			"assistants. Passwords, API keys and usage are not exported. Secrets are masked unless\n" +
			"--with-secrets is given (audited); masked secrets are cleared on import. With --config-only\n" +
			"it is a template: the config and signup state, no users or assistants.",
		Example: c.example("SSH org export acme > acme.json", "SSH org export acme --with-secrets > acme-full.json",
			"SSH org export acme --config-only > template.json"),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ex, err := c.svc.ExportOrg(cmd.Context(), c.actor, args[0], withSecrets)
			if err != nil {
				return err
			}
			if configOnly {
				ex = ex.ConfigOnly()
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(ex)
		},
	}
	cmd.Flags().BoolVar(&withSecrets, "with-secrets", false, "include provider keys, tokens and the signup key in clear (audited)")
	cmd.Flags().BoolVar(&configOnly, "config-only", false, "a template: the config and signup state, without users and assistants")
	return cmd
}

// readExport reads an org export document from stdin.
func readExport(cmd *cobra.Command) (service.Export, error) {
	var ex service.Export
	data, err := readAll(cmd, "export", maxImport)
	if err != nil {
		return ex, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return ex, failf("export: stdin is empty; send the document from `org export` on stdin")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ex); err != nil {
		return ex, failf("export: not an org export document: %v", err)
	}
	return ex, nil
}

func (c *cli) orgImportCommand() *cobra.Command {
	var (
		dryRun, configOnly bool
		opts               service.ImportOptions
		org                string
	)
	cmd := &cobra.Command{
		Use:   "import [--as NEW-SLUG] [--on-conflict fail|skip|rename] [--config-only [--org SLUG]] [--dry-run] < export.json",
		Short: "Create an organization from an export document on stdin (or take its settings into yours)",
		Long: "Create the organization described by an `org export` document on stdin, in one\n" +
			"transaction: org, config, signup, users (without passwords: they sign in with their SSH\n" +
			"keys, or an admin resets their password) and assistants. The slug must be free: --as\n" +
			"imports a copy under another slug (and --name under another name). Emails and SSH keys\n" +
			"are unique across the server: every user whose email or key already has an account is\n" +
			"named at once, and --on-conflict says what happens to them: fail (the default: nothing is\n" +
			"imported), skip (they and their assistants stay out) or rename (they come in as\n" +
			"name+NEW-SLUG@domain, without the keys in use). Assistants get new ids: the old → new map is\n" +
			"printed (assistant_ids in --json), for updating callers. Secrets masked in the export are\n" +
			"cleared and listed; signup without its key comes in off. System admins.\n\n" +
			"--config-only takes only the settings (providers, setups, limits): with --as into a new\n" +
			"organization, otherwise into an existing one, --org SLUG (org admins: their own). There a\n" +
			"secret masked in the file keeps the organization's own, and its signup and ceiling stay.\n" +
			"With --dry-run everything is checked and reported, and nothing kept.",
		Example: c.example("SSH org import --dry-run < acme.json", "SSH org import < acme.json",
			"SSH org import --as acme-test --on-conflict rename < acme.json",
			"SSH org import --config-only --dry-run < template.json      # org admins: settings into their org"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if org != "" && !configOnly {
				return usageErrorf("--org is for --config-only, which takes a document's settings into an existing organization")
			}
			if org != "" && opts.Slug != "" {
				return usageErrorf("--as creates a new organization and --org names an existing one; give one of them")
			}
			if configOnly && (opts.OnConflict != "" || opts.Name != "") && opts.Slug == "" {
				return usageErrorf("--on-conflict and --name are for creating an organization (--as)")
			}
			ex, err := readExport(cmd)
			if err != nil {
				return err
			}
			if configOnly && opts.Slug == "" {
				if org, err = c.orgFlag(org); err != nil {
					return err
				}
				res, err := c.svc.ImportOrgConfig(cmd.Context(), c.actor, org, ex, dryRun)
				if err != nil {
					return err
				}
				return c.show(cmd, res, func(w io.Writer) { printConfigImport(w, res) })
			}
			opts.DryRun, opts.ConfigOnly = dryRun, configOnly
			res, err := c.svc.ImportOrg(cmd.Context(), c.actor, ex, opts)
			if errors.Is(err, service.ErrForbidden) && c.actor.Role == service.RoleOrgAdmin {
				return failf("permission denied: only system admins create organizations; take a document's settings into %s with --config-only", c.actor.OrgSlug)
			} else if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				verb := "Imported"
				if dryRun {
					verb = "Would import (dry run, nothing stored)"
				}
				fmt.Fprintf(w, "%s %s: %s, %s, %s.\n", verb, safetext.Sanitize(res.Slug), plural.N(res.Users, "user", "users"),
					plural.N(res.SSHKeys, "SSH key", "SSH keys"), plural.N(res.Assistants, "assistant", "assistants"))
				if res.ConfigOnly {
					fmt.Fprintf(w, "Left out (--config-only): %s, %s.\n", plural.N(res.LeftOut.Users, "user", "users"),
						plural.N(res.LeftOut.Assistants, "assistant", "assistants"))
				}
				printImportConflicts(w, res)
				for _, p := range res.SecretsCleared {
					if p == "signup.key" {
						continue // said below, with what to do
					}
					fmt.Fprintf(w, "Cleared (masked in the export; set it again): %s\n", safetext.Sanitize(p))
				}
				if res.SignupKeyInUse {
					fmt.Fprintf(w, "The export's signup key belongs to another organization (keys are unique), so signup comes in off; `signup enable --org %s` makes a key of its own.\n", safetext.Sanitize(res.Slug))
				}
				if res.SignupDisabled {
					fmt.Fprintf(w, "Cleared: signup.key (not in the export), so signup comes in off; `signup enable --org %s` makes a new key and prints the link.\n", safetext.Sanitize(res.Slug))
				}
				if res.Users > 0 && !dryRun {
					fmt.Fprintln(w, "Users have no password: they sign in with their SSH keys, or reset one with `user reset-password EMAIL`.")
				}
				printAssistantIDs(w, res)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "check the document and report without storing anything")
	f.StringVar(&opts.Slug, "as", "", "import a copy under this slug instead of the document's")
	f.StringVar(&opts.Name, "name", "", "the new organization's name instead of the document's")
	f.StringVar(&opts.OnConflict, "on-conflict", "", "users whose email or SSH key has an account: fail, skip or rename (default fail)")
	f.BoolVar(&configOnly, "config-only", false, "only the settings: no users, no assistants")
	f.StringVar(&org, "org", "", "with --config-only: the existing organization to take the settings (org admins: their own)")
	return cmd
}

// printImportConflicts lists the users an import skipped or renamed.
func printImportConflicts(w io.Writer, res service.ImportResult) {
	if len(res.Conflicts) == 0 {
		return
	}
	fmt.Fprintf(w, "%s already had an account (email or SSH key):\n", plural.N(len(res.Conflicts), "user of the file", "users of the file"))
	t := newTable(w, "USER", "EMAIL", "DONE", "WHY")
	for _, c := range res.Conflicts {
		done := c.Action
		if c.NewEmail != "" {
			done = "renamed " + c.NewEmail
		}
		t.row(c.User, c.Email, done, strings.Join(c.Reasons, "; "))
	}
	t.flush()
	if len(res.AssistantsSkipped) > 0 {
		names := make([]string, len(res.AssistantsSkipped))
		for i, a := range res.AssistantsSkipped {
			names[i] = a.Name + " (" + a.Owner + ")"
		}
		fmt.Fprintf(w, "Skipped with their owners: %s\n", strings.Join(names, ", "))
	}
}

// printConfigImport says what org import --config-only changed.
func printConfigImport(w io.Writer, res service.ConfigImportResult) {
	verb := "Took"
	if res.DryRun {
		verb = "Would take (dry run, nothing stored)"
	}
	if len(res.Changed) == 0 {
		fmt.Fprintf(w, "The settings of %s already match the document; nothing changed.\n", res.Slug)
	} else {
		fmt.Fprintf(w, "%s the document's settings into %s: %s changed.\n", verb, res.Slug, plural.N(len(res.Changed), "field", "fields"))
		for _, p := range res.Changed {
			fmt.Fprintf(w, "  %s\n", safetext.Sanitize(p))
		}
	}
	for _, p := range res.SecretsKept {
		fmt.Fprintf(w, "Kept %s's own (masked in the document): %s\n", res.Slug, safetext.Sanitize(p))
	}
	for _, p := range res.SecretsCleared {
		fmt.Fprintf(w, "Cleared (masked in the document, none here; set it): %s\n", safetext.Sanitize(p))
	}
	if res.LeftOut.Users+res.LeftOut.Assistants > 0 {
		fmt.Fprintf(w, "Left out: %s and %s of the document (settings only).\n", plural.N(res.LeftOut.Users, "user", "users"),
			plural.N(res.LeftOut.Assistants, "assistant", "assistants"))
	}
}

// printAssistantIDs prints how the imported assistants' ids changed: every
// caller that names one (lamb_assistant.ID) must be told the new id.
func printAssistantIDs(w io.Writer, res service.ImportResult) {
	if len(res.AssistantIDs) == 0 {
		return
	}
	if res.DryRun {
		fmt.Fprintln(w, "Assistants get new ids at the import (callers must then use them):")
	} else {
		fmt.Fprintln(w, "Assistants have new ids; update their callers (old → new):")
	}
	t := newTable(w, "OLD", "NEW", "NAME", "OWNER")
	for _, c := range res.AssistantIDs {
		old, next := "(none in the file)", "(given at the import)"
		if c.OldID > 0 {
			old = service.ModelPrefix + strconv.FormatInt(c.OldID, 10)
		}
		if c.NewID > 0 {
			next = service.ModelPrefix + strconv.FormatInt(c.NewID, 10)
		}
		t.row(old, next, c.Name, c.Owner)
	}
	t.flush()
}
