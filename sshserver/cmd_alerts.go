package sshserver

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/service"
)

func (c *cli) orgAlertsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts SLUG",
		Short: "Show an organization's budget alerts: thresholds, webhook, this month's crossings",
		Long: "Show an organization's budget alerts: the thresholds (percent of tokens_per_month, and of\n" +
			"each user's user_tokens_per_month), the webhook (masked), and the thresholds crossed this\n" +
			"month with how their webhook went.",
		Example: c.example("SSH org alerts acme", "SSH org alerts acme --json"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := c.svc.BudgetAlerts(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			return c.show(cmd, v, func(w io.Writer) { printAlerts(w, v) })
		},
	}
	cmd.AddCommand(c.orgAlertsSetCommand(), c.orgAlertsTestCommand())
	return cmd
}

func (c *cli) orgAlertsSetCommand() *cobra.Command {
	var thresholds, webhook string
	cmd := &cobra.Command{
		Use:   "set SLUG",
		Short: "Change an organization's alert thresholds or webhook; what isn't given is kept",
		Long: "Change the budget alerts. --thresholds takes percents of a monthly budget in increasing\n" +
			"order (1-1000, at most 10), \"none\" to turn alerts off, or \"default\" for 80,100.\n" +
			"--webhook-url takes an http(s) URL that each alert is POSTed to as JSON, or \"none\".\n" +
			"Loopback, link-local and private addresses are refused unless the operator set\n" +
			"LAMB_WEBHOOK_ALLOW_PRIVATE=true.",
		Example: c.example("SSH org alerts set acme --thresholds 50,80,100",
			"SSH org alerts set acme --webhook-url https://hooks.example.com/services/T0/B0/XXXX"),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in service.AlertsInput
			if !cmd.Flags().Changed("thresholds") && !cmd.Flags().Changed("webhook-url") {
				return usageErrorf("give --thresholds, --webhook-url or both")
			}
			if cmd.Flags().Changed("thresholds") {
				switch strings.ToLower(strings.TrimSpace(thresholds)) {
				case "default":
					in.DefaultThresholds = true
				case "none", "":
					in.Thresholds = &[]int{}
				default:
					list, err := parseThresholds(thresholds)
					if err != nil {
						return err
					}
					in.Thresholds = &list
				}
			}
			if cmd.Flags().Changed("webhook-url") {
				u := strings.TrimSpace(webhook)
				if strings.EqualFold(u, "none") {
					u = ""
				}
				in.WebhookURL = &u
			}
			v, err := c.svc.SetAlerts(cmd.Context(), c.actor, args[0], in)
			if err != nil {
				return err
			}
			return c.show(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "Alerts of %s saved.\n", v.Org)
				printAlertSettings(w, v)
			})
		},
	}
	cmd.Flags().StringVar(&thresholds, "thresholds", "", `percents of a monthly budget, like 50,80,100; "none" or "default"`)
	cmd.Flags().StringVar(&webhook, "webhook-url", "", `URL each alert is POSTed to as JSON; "none" removes it`)
	return cmd
}

// parseThresholds reads "50, 80,100" (a % sign is allowed).
func parseThresholds(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		p := strings.TrimSuffix(strings.TrimSpace(part), "%")
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, usageErrorf("--thresholds: %q is not a whole number; give percents like 50,80,100, or none, or default", strings.TrimSpace(part))
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *cli) orgAlertsTestCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "test SLUG",
		Short:   "Send the organization's webhook a test alert (event budget.alert.test) and say how it went",
		Example: c.example("SSH org alerts test acme"),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := c.svc.TestAlertWebhook(cmd.Context(), c.actor, args[0])
			if err != nil {
				return err
			}
			if err := c.show(cmd, res, func(w io.Writer) {
				if res.OK {
					fmt.Fprintf(w, "The webhook answered HTTP %d: it works.\n", res.Status)
				}
			}); err != nil {
				return err
			}
			if !res.OK {
				return failf("the test alert was not delivered: %s", res.Error)
			}
			return nil
		},
	}
}

func printAlertSettings(w io.Writer, v service.AlertsView) {
	levels := "none: alerts are off"
	if len(v.Thresholds) > 0 {
		parts := make([]string, len(v.Thresholds))
		for i, t := range v.Thresholds {
			parts[i] = fmt.Sprintf("%d %%", t)
		}
		levels = strings.Join(parts, ", ")
		if v.Default {
			levels += " (the defaults)"
		}
	}
	hook := v.WebhookURL
	if hook == "" {
		hook = "none"
	}
	budget := func(n int64, field string) string {
		if n == config.Unlimited {
			return "none (set " + field + " for alerts on it)"
		}
		return fmt.Sprintf("%d tokens a month", n)
	}
	fields(w, "thresholds", levels, "webhook", hook,
		"org budget", budget(v.TokensPerMonth, "tokens_per_month"),
		"each user's budget", budget(v.UserTokensPerMonth, "user_tokens_per_month"))
}

func printAlerts(w io.Writer, v service.AlertsView) {
	printAlertSettings(w, v)
	if len(v.Alerts) == 0 {
		fmt.Fprintln(w, "\nNo threshold crossed this month.")
		return
	}
	fmt.Fprintln(w, "\nCrossed this month:")
	printAlertLines(w, v.Alerts, true)
}

// printAlertLines prints each alert's message, and with details when it
// was crossed and how its webhook went.
func printAlertLines(w io.Writer, alerts []service.BudgetAlert, details bool) {
	for _, a := range alerts {
		fmt.Fprintf(w, "  ! %s\n", safetext.Sanitize(a.Message))
		if details {
			hook := a.Webhook
			if hook == "" {
				hook = "none sent (no webhook set then, or still on its way)"
			}
			fmt.Fprintf(w, "    crossed %s UTC · webhook: %s\n", when(a.CrossedAt), safetext.Sanitize(hook))
		}
	}
}
