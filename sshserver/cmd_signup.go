package sshserver

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"lamb/service"
)

func (c *cli) signupCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signup",
		Short: "Control an organization's self-service signup and its signup key",
		Long: "Control an organization's self-service signup. People sign up at the signup URL with the\n" +
			"organization's signup key. Org admins work on their own organization; system admins name\n" +
			"one with --org.",
		RunE: groupRunE,
	}
	cmd.AddCommand(
		c.signupShowCommand(),
		c.signupEnableCommand("enable", true),
		c.signupEnableCommand("disable", false),
		c.signupSetKeyCommand(),
		c.signupRotateCommand(),
	)
	return cmd
}

// signupOrg is the org a signup command works on: --org, or the actor's.
// A system admin names it, as for every command that changes an org: a
// default of lamb would turn the system org's signup on or off by accident.
func (c *cli) signupOrg(org string) (string, error) {
	return c.orgFlag(strings.TrimSpace(org))
}

func orgFlag(cmd *cobra.Command, org *string) {
	cmd.Flags().StringVar(org, "org", "", "organization slug (org admins: their own; system admins: required)")
}

// printSignup prints an org's signup state; the key and the URL to hand out
// only when the service returned them (revealed, set or generated).
func printSignup(w io.Writer, slug string, s service.Signup) {
	kv := []string{"organization", slug, "signup", enabledText(s.Enabled)}
	switch {
	case s.Key != "":
		kv = append(kv, "key", s.Key, "signup URL", s.URL)
	case s.HasKey:
		kv = append(kv, "key", "set (--reveal shows it and the signup URL; revealing is audited)")
	default:
		kv = append(kv, "key", "none (signup enable or signup rotate makes one)")
	}
	if s.Managed != "" {
		kv = append(kv, "managed by .env", s.Managed)
	}
	fields(w, kv...)
}

// signupRun is the body of the signup commands that change something: call
// fn on the org, then print what it says with a first line.
func (c *cli) signupRun(cmd *cobra.Command, org string, fn func(ctx context.Context, slug string) (service.Signup, error), done func(s service.Signup) string) error {
	slug, err := c.signupOrg(org)
	if err != nil {
		return err
	}
	s, err := fn(cmd.Context(), slug)
	if err != nil {
		return err
	}
	return c.show(cmd, s, func(w io.Writer) {
		fmt.Fprintln(w, done(s))
		printSignup(w, slug, s)
	})
}

func (c *cli) signupShowCommand() *cobra.Command {
	var (
		org    string
		reveal bool
	)
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Show whether signup is on and whether a key is set",
		Example: c.example("SSH signup show --reveal", "SSH signup show --org acme --json"),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			slug, err := c.signupOrg(org)
			if err != nil {
				return err
			}
			s, err := c.svc.SignupInfo(cmd.Context(), c.actor, slug, reveal)
			if err != nil {
				return err
			}
			return c.show(cmd, s, func(w io.Writer) { printSignup(w, slug, s) })
		},
	}
	orgFlag(cmd, &org)
	cmd.Flags().BoolVar(&reveal, "reveal", false, "show the key and the signup URL (audited)")
	return cmd
}

func (c *cli) signupEnableCommand(verb string, on bool) *cobra.Command {
	short := "Turn signup on and print the link to hand out; an organization without a key gets a new one"
	if !on {
		short = "Turn signup off; the key is kept for when it is turned on again"
	}
	var org string
	cmd := &cobra.Command{
		Use:   verb,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			generated := false
			return c.signupRun(cmd, org, func(ctx context.Context, slug string) (service.Signup, error) {
				s, err := c.svc.SetSignupEnabled(ctx, c.actor, slug, on)
				generated = s.Key != "" // the service returns a key only when it made one
				if err != nil || !on || generated || !s.HasKey {
					return s, err
				}
				// On with the key it had: print the link to hand out all
				// the same (shown like signup show --reveal, audited).
				return c.svc.SignupInfo(ctx, c.actor, slug, true)
			}, func(s service.Signup) string {
				if generated {
					return "Signup is " + enabledText(on) + "; a new signup key was generated."
				}
				return "Signup is " + enabledText(on) + "."
			})
		},
	}
	orgFlag(cmd, &org)
	return cmd
}

func (c *cli) signupSetKeyCommand() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "set-key KEY",
		Short: "Set a chosen signup key: 16-64 characters of A-Z a-z 0-9 - _, hard to guess",
		Long: "Set a chosen signup key: 16-64 characters of A-Z, a-z, 0-9, - and _, not starting or\n" +
			"ending with - or _, at least 8 of them different, no runs like aaaa or 1234, and not\n" +
			"usable already. The old key stops working at once. Attempts are audited and limited to\n" +
			"10 an hour per person; signup rotate generates a strong key instead.",
		Example: c.example("SSH signup set-key Fall26-acme-Qx7mLp2w"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.signupRun(cmd, org, func(ctx context.Context, slug string) (service.Signup, error) {
				return c.svc.SetSignupKey(ctx, c.actor, slug, args[0])
			}, func(service.Signup) string { return "Signup key set; the old one no longer works." })
		},
	}
	orgFlag(cmd, &org)
	return cmd
}

func (c *cli) signupRotateCommand() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the signup key with a random one; the old one stops working at once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.signupRun(cmd, org, func(ctx context.Context, slug string) (service.Signup, error) {
				return c.svc.RotateSignupKey(ctx, c.actor, slug)
			}, func(service.Signup) string { return "New signup key generated; the old one no longer works." })
		},
	}
	orgFlag(cmd, &org)
	return cmd
}
