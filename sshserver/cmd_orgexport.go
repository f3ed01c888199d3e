package sshserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
)

// maxImport bounds an import document: large orgs with many users fit.
const maxImport = 64 << 20

func (c *cli) orgExportCommand() *cobra.Command {
	var withSecrets bool
	cmd := &cobra.Command{
		Use:   "export SLUG",
		Short: "Print an organization as a JSON document (config, signup, users, SSH keys, assistants)",
		Long: "Print an organization as JSON: its config, signup state, users with their SSH keys, and\n" +
			"assistants. Passwords, API keys and usage are not exported. Secrets are masked unless\n" +
			"--with-secrets is given (audited); masked secrets are cleared on import.",
		Example: c.example("SSH org export acme > acme.json", "SSH org export acme --with-secrets > acme-full.json"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ex, err := c.svc.ExportOrg(cmd.Context(), c.actor, args[0], withSecrets)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(ex)
		},
	}
	cmd.Flags().BoolVar(&withSecrets, "with-secrets", false, "include provider keys, tokens and the signup key in clear (audited)")
	return cmd
}

func (c *cli) orgImportCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import < export.json",
		Short: "Create an organization from an export document on stdin",
		Long: "Create the organization described by an `org export` document on stdin, in one\n" +
			"transaction: org, config, signup, users (without passwords: they sign in with their SSH\n" +
			"keys, or an admin resets their password) and assistants. The slug must be free; edit it\n" +
			"in the file to import a copy. Emails and SSH keys that already have accounts are all\n" +
			"named at once. Assistants get new ids: the old → new map is printed (assistant_ids in\n" +
			"--json), for updating callers. Secrets masked in the export are cleared and listed;\n" +
			"signup without its key comes in off. With --dry-run everything is checked and nothing kept.",
		Example: c.example("SSH org import --dry-run < acme.json", "SSH org import < acme.json"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readAll(cmd, "export", maxImport)
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(data)) == 0 {
				return failf("export: stdin is empty; send the document from `org export` on stdin")
			}
			var ex service.Export
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ex); err != nil {
				return failf("export: not an org export document: %v", err)
			}
			res, err := c.svc.ImportOrg(cmd.Context(), c.actor, ex, dryRun)
			if err != nil {
				return err
			}
			return c.show(cmd, res, func(w io.Writer) {
				verb := "Imported"
				if dryRun {
					verb = "Would import (dry run, nothing stored)"
				}
				fmt.Fprintf(w, "%s %s: %s, %s, %s.\n", verb, safetext.Sanitize(res.Slug), plural.N(res.Users, "user", "users"),
					plural.N(res.SSHKeys, "SSH key", "SSH keys"), plural.N(res.Assistants, "assistant", "assistants"))
				for _, p := range res.SecretsCleared {
					if p == "signup.key" {
						continue // said below, with what to do
					}
					fmt.Fprintf(w, "Cleared (masked in the export; set it again): %s\n", safetext.Sanitize(p))
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
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the document and report without storing anything")
	return cmd
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
