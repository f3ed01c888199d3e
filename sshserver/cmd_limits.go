package sshserver

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"lamb/config"
	"lamb/internal/safetext"
)

// limitFlag is one flag of `org limits set` and the field it sets.
type limitFlag struct {
	name, usage string
	field       func(l *config.Limits) *int64
}

var limitFlags = []limitFlag{
	{"tokens-per-month", "tokens the organization may use per calendar month", func(l *config.Limits) *int64 { return &l.TokensPerMonth }},
	{"requests-per-minute", "completion requests per minute", func(l *config.Limits) *int64 { return &l.RequestsPerMinute }},
	{"user-tokens-per-month", "tokens each user may use per calendar month", func(l *config.Limits) *int64 { return &l.UserTokensPerMonth }},
	{"max-users", "users in the organization", func(l *config.Limits) *int64 { return &l.MaxUsers }},
	{"max-assistants", "assistants in the organization", func(l *config.Limits) *int64 { return &l.MaxAssistants }},
	{"max-assistants-per-user", "assistants each user may own", func(l *config.Limits) *int64 { return &l.MaxAssistantsPerUser }},
}

// printLimits prints limits one per line, -1 as "unlimited", each with
// the ceiling the platform set when there is one.
func printLimits(w io.Writer, l, ceiling config.Limits) {
	kv := make([]string, 0, 2*len(limitFlags))
	for _, f := range limitFlags {
		v := limit(*f.field(&l))
		if c := *f.field(&ceiling); c != config.Unlimited {
			v += fmt.Sprintf("  (ceiling %d)", c)
		}
		kv = append(kv, strings.ReplaceAll(f.name, "-", " "), v)
	}
	fields(w, kv...)
}

// limitsView is what `org limits` prints as JSON.
type limitsView struct {
	Limits  config.Limits `json:"limits"`
	Ceiling config.Limits `json:"ceiling"`
}

func (c *cli) orgLimitsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "limits SLUG",
		Short: "Show an organization's limits (-1 is unlimited, 0 allows nothing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := c.svc.GetOrg(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, d.Limits, func(w io.Writer) { printLimits(w, d.Limits, d.Ceiling) })
		},
	}
	cmd.AddCommand(c.orgLimitsSetCommand())
	return cmd
}

// changedLimits returns a change applying the limit flags given on cmd,
// or a usage error when none was.
func changedLimits(cmd *cobra.Command, values []int64) (func(*config.Limits), error) {
	var names []string
	given := false
	for _, f := range limitFlags {
		names = append(names, "--"+f.name)
		given = given || cmd.Flags().Changed(f.name)
	}
	if !given {
		return nil, usageErrorf("give at least one limit to change: %s", strings.Join(names, ", "))
	}
	return func(l *config.Limits) {
		for i, f := range limitFlags {
			if cmd.Flags().Changed(f.name) {
				*f.field(l) = values[i]
			}
		}
	}, nil
}

func (c *cli) orgQuotaCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota SLUG",
		Short: "Show an organization's ceiling: the most its admins may set as limits",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := c.svc.GetOrg(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, d.Ceiling, func(w io.Writer) { printLimits(w, d.Ceiling, config.UnlimitedLimits()) })
		},
	}
	cmd.AddCommand(c.orgQuotaSetCommand())
	return cmd
}

func (c *cli) orgQuotaSetCommand() *cobra.Command {
	values := make([]int64, len(limitFlags))
	cmd := &cobra.Command{
		Use:   "set SLUG",
		Short: "Change some of an organization's ceiling (system admins); limits above it come down to it",
		Long: "Change the ceiling fields given as flags; the others keep their values. -1 is unlimited.\n" +
			"The organization's admins set their limits within the ceiling; limits above a lowered\n" +
			"ceiling are brought down to it (audited).",
		Example: c.example("SSH org quota set physics --tokens-per-month 5000000 --max-users 400"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			change, err := changedLimits(cmd, values)
			if err != nil {
				return err
			}
			ceiling, limits, err := c.svc.UpdateCeiling(cmd.Context(), c.actor, args[0], change)
			if err != nil {
				return err
			}
			return c.show(cmd, limitsView{limits, ceiling}, func(w io.Writer) {
				fmt.Fprintf(w, "Ceiling of %s saved. Its limits now:\n", safetext.Sanitize(args[0]))
				printLimits(w, limits, ceiling)
			})
		},
	}
	for i, f := range limitFlags {
		cmd.Flags().Int64Var(&values[i], f.name, 0, f.usage+" (-1 unlimited)")
	}
	return cmd
}

func (c *cli) orgLimitsSetCommand() *cobra.Command {
	values := make([]int64, len(limitFlags))
	cmd := &cobra.Command{
		Use:   "set SLUG",
		Short: "Change some of an organization's limits; the others keep their values",
		Long: "Change the limits given as flags; the others keep their values. -1 is unlimited and 0\n" +
			"allows nothing.",
		Example: c.example("SSH org limits set acme --tokens-per-month 1000000 --max-users -1"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			change, err := changedLimits(cmd, values)
			if err != nil {
				return err
			}
			l, err := c.svc.UpdateLimits(cmd.Context(), c.actor, args[0], change)
			if err != nil {
				return err
			}
			d, err := c.svc.GetOrg(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, l, func(w io.Writer) {
				fmt.Fprintf(w, "Limits of %s saved.\n", safetext.Sanitize(args[0]))
				printLimits(w, l, d.Ceiling)
			})
		},
	}
	for i, f := range limitFlags {
		cmd.Flags().Int64Var(&values[i], f.name, 0, f.usage+" (-1 unlimited)")
	}
	return cmd
}
