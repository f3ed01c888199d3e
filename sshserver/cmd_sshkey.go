package sshserver

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"lamb/internal/safetext"
)

func (c *cli) sshkeyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sshkey",
		Short: "Manage SSH keys: your own, or (admins) your users'",
		RunE:  groupRunE,
	}
	cmd.AddCommand(c.sshkeyListCommand(), c.sshkeyAddCommand(), c.sshkeyRemoveCommand())
	return cmd
}

func (c *cli) sshkeyListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list [EMAIL]",
		Short: "List SSH keys of a user (default: yours)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			email := ""
			if len(args) == 1 {
				email = args[0]
			}
			keys, err := c.svc.ListSSHKeys(cmd.Context(), c.actor, email)
			if err != nil {
				return err
			}
			return c.show(cmd, keys, func(w io.Writer) {
				t := newTable(w, "FINGERPRINT", "TYPE", "COMMENT", "USER", "ADDED", "LAST USED")
				for _, k := range keys {
					keyType, _, _ := strings.Cut(k.PublicKey, " ")
					t.row(k.Fingerprint, keyType, k.Comment, k.UserEmail, when(k.CreatedAt), when(k.LastUsedAt))
				}
				t.flush()
			})
		},
	}
}

func (c *cli) sshkeyAddCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "add [EMAIL] [KEY]",
		Short: "Link an SSH public key to a user (default: you)",
		Long: "Link an SSH public key to a user: yourself, or with EMAIL a user you administer. The\n" +
			"key is the rest of the command line, or one line of stdin when the command line has none.",
		Example: c.example("SSH sshkey add < ~/.ssh/id_ed25519.pub",
			"SSH sshkey add ana@acme.example < ana.pub",
			"SSH sshkey add ana@acme.example ssh-ed25519 AAAAC3Nza… ana@laptop"),
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			email := ""
			// An email is one word with an @; a key line either has spaces
			// or starts with its type ("ssh-ed25519"), never with an @ in
			// its first word.
			if len(args) > 0 && strings.Contains(args[0], "@") && !strings.ContainsAny(args[0], " \t") {
				email, args = args[0], args[1:]
			}
			key := strings.Join(args, " ")
			if len(args) == 0 {
				var err error
				if key, err = newLineReader(cmd).line("ssh key"); err != nil {
					return err
				}
			}
			k, err := c.svc.AddSSHKey(cmd.Context(), c.actor, email, key)
			if err != nil {
				return err
			}
			return c.show(cmd, k, func(w io.Writer) {
				fmt.Fprintf(w, "Added key %s to %s.\n", k.Fingerprint, k.UserEmail)
			})
		},
	}
}

func (c *cli) sshkeyRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "remove FINGERPRINT",
		Short:   "Unlink an SSH key (as shown by sshkey list)",
		Example: c.example("SSH sshkey remove SHA256:3b1Xy…"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := c.svc.RemoveSSHKey(cmd.Context(), c.actor, args[0]); err != nil {
				return err
			}
			return c.show(cmd, map[string]string{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "Removed key %s.\n", safetext.Sanitize(args[0]))
			})
		},
	}
}
