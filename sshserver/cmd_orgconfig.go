package sshserver

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"lamb/config"
	"lamb/internal/safetext"
)

func (c *cli) orgConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read or write an organization's config document (JSON)",
		RunE:  groupRunE,
	}
	cmd.AddCommand(c.orgConfigGetCommand(), c.orgConfigSetCommand())
	return cmd
}

func (c *cli) orgConfigGetCommand() *cobra.Command {
	var withSecrets bool
	cmd := &cobra.Command{
		Use:   "get SLUG",
		Short: "Print an organization's config as JSON, secrets masked",
		Long: "Print an organization's config as JSON. Secrets (API keys, tokens, credentials inside\n" +
			"URLs) are masked unless --with-secrets is given, which is audited. Credentials the\n" +
			"platform provided (\"api_key_source\": \"system\") stay masked for org admins: they can be\n" +
			"used, not read. A masked secret written back with `org config set` keeps the stored value.",
		Example: c.example("SSH org config get acme > acme.json"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.svc.OrgConfig(cmd.Context(), c.actor, args[0], withSecrets)
			if err != nil {
				return err
			}
			// The document is JSON either way.
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", cfg.JSON())
			return err
		},
	}
	cmd.Flags().BoolVar(&withSecrets, "with-secrets", false, "include API keys and tokens in clear (audited)")
	return cmd
}

func (c *cli) orgConfigSetCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "set SLUG < config.json",
		Short: "Replace an organization's config with the JSON document on stdin",
		Long: "Validate the JSON document on stdin (at most 1 MiB) and store it as the organization's\n" +
			"config, printing the paths that changed. Secrets left masked keep their stored values.\n" +
			"With --dry-run nothing is stored.",
		Example: c.example("SSH org config set acme --dry-run < acme.json"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readAll(cmd, "config", maxStdin)
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(data)) == 0 {
				return failf("config: stdin is empty; send the JSON document on stdin (org config set %s < config.json)", args[0])
			}
			next, err := config.ParseOrg(data)
			if err != nil {
				return failf("invalid config: %v", err)
			}
			changed, err := c.svc.SetOrgConfig(cmd.Context(), c.actor, args[0], next, dryRun)
			if err != nil {
				return err
			}
			out := struct {
				Changed []string `json:"changed"`
				DryRun  bool     `json:"dry_run"`
			}{append([]string{}, changed...), dryRun}
			return c.show(cmd, out, func(w io.Writer) {
				switch {
				case len(changed) == 0:
					fmt.Fprintln(w, "No changes.")
					return
				case dryRun:
					fmt.Fprintln(w, "Would change (dry run, nothing stored):")
				default:
					fmt.Fprintln(w, "Changed:")
				}
				for _, p := range changed {
					fmt.Fprintln(w, "  "+safetext.Sanitize(p))
				}
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes without storing them")
	return cmd
}
