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

// printLimits prints limits one per line, -1 as "unlimited".
func printLimits(w io.Writer, l config.Limits) {
	kv := make([]string, 0, 2*len(limitFlags))
	for _, f := range limitFlags {
		kv = append(kv, strings.ReplaceAll(f.name, "-", " "), limit(*f.field(&l)))
	}
	fields(w, kv...)
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
			return c.show(cmd, d.Limits, func(w io.Writer) { printLimits(w, d.Limits) })
		},
	}
	cmd.AddCommand(c.orgLimitsSetCommand())
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
			var changed []limitFlag
			for _, f := range limitFlags {
				if cmd.Flags().Changed(f.name) {
					changed = append(changed, f)
				}
			}
			if len(changed) == 0 {
				names := make([]string, len(limitFlags))
				for i, f := range limitFlags {
					names[i] = "--" + f.name
				}
				return usageErrorf("give at least one limit to change: %s", strings.Join(names, ", "))
			}
			l, err := c.svc.UpdateLimits(cmd.Context(), c.actor, args[0], func(l *config.Limits) {
				for i, f := range limitFlags {
					if cmd.Flags().Changed(f.name) {
						*f.field(l) = values[i]
					}
				}
			})
			if err != nil {
				return err
			}
			return c.show(cmd, l, func(w io.Writer) {
				fmt.Fprintf(w, "Limits of %s saved.\n", safetext.Sanitize(args[0]))
				printLimits(w, l)
			})
		},
	}
	for i, f := range limitFlags {
		cmd.Flags().Int64Var(&values[i], f.name, 0, f.usage+" (-1 unlimited)")
	}
	return cmd
}
