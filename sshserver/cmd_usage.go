package sshserver

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"lamb/service"
)

func (c *cli) usageCommand() *cobra.Command {
	var (
		org, since, from, to, by string
		mine                     bool
		out                      outputFlags
	)
	cmd := &cobra.Command{
		Use:   "usage [--org SLUG] [--since 30d | --from DATE [--to DATE]] [--by day|assistant|user|key|org] [--mine] [--json | --csv]",
		Short: "Report requests, tokens, errors and latency (members: of their own assistants; admins: of the organization)",
		Long: "Report the requests, errors, tokens and latency of completions over a range of days,\n" +
			"grouped by day, assistant, user or API key, with a total. Members see the usage of their\n" +
			"own assistants; org admins their organization's (--mine: only their own assistants);\n" +
			"system admins every organization (--by org lists them) or the one named with --org.\n\n" +
			"Days are UTC. By default this calendar month, as the console and the monthly budgets\n" +
			"count it. --since takes 7d, 30d, 90d (the days ending today), month, last-month or a\n" +
			"date; --from and --to take dates (YYYY-MM-DD) and include both days.\n\n" +
			"P50 and P95 are latency percentiles of the requests that reached a provider, from\n" +
			"histograms kept with the daily totals (approximate within their buckets). --csv prints\n" +
			"a header row and one row per group, without the total.",
		Example: c.example("SSH usage", "SSH usage --since 7d --by day", "SSH usage --from 2026-01-01 --to 2026-03-31 --by key --csv > q1.csv",
			"SSH usage --org acme --by user --json"),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(c); err != nil {
				return err
			}
			q, err := usageQuery(since, from, to, time.Now())
			if err != nil {
				return err
			}
			if !slices.Contains(service.UsageGroupings, by) {
				return usageErrorf("--by must be day, assistant, user, key or org, got %q", by)
			}
			q.Org, q.By, q.Mine = org, by, mine
			// A system admin's report without --org is of every organization.
			q.AllOrgs = c.actor.Role == service.RoleSystemAdmin && org == "" && !mine
			r, err := c.svc.Usage(cmd.Context(), c.actor, q)
			if err != nil {
				return err
			}
			// none is a latency unknown: "-" in text, empty in CSV.
			cells := func(row service.UsageRow, none string) []string {
				n := func(v int64) string { return strconv.FormatInt(v, 10) }
				ms := func(v *int64) string {
					if v == nil {
						return none
					}
					return n(*v)
				}
				return []string{n(row.Requests), n(row.Errors), n(row.Refused), n(row.PromptTokens), n(row.CompletionTokens),
					n(row.Tokens), n(row.Estimated), n(row.EstimatedTokens), ms(row.P50MS), ms(row.P95MS)}
			}
			if out.csv {
				header := []string{r.By, "id", "requests", "errors", "refused", "prompt_tokens", "completion_tokens", "tokens",
					"estimated_requests", "estimated_tokens", "p50_ms", "p95_ms"}
				rows := make([][]string, 0, len(r.Rows))
				for _, row := range r.Rows {
					id := ""
					if row.ID != 0 {
						id = strconv.FormatInt(row.ID, 10)
					}
					rows = append(rows, append([]string{row.Key, id}, cells(row, "")...))
				}
				return writeCSV(cmd.OutOrStdout(), header, rows)
			}
			return c.show(cmd, r, func(w io.Writer) {
				whose := r.OrgSlug
				switch {
				case r.AllOrgs:
					whose = "every organization"
				case r.User != "":
					whose = r.User + "'s assistants in " + r.OrgSlug
				}
				fmt.Fprintf(w, "Usage of %s from %s to %s (UTC), by %s:\n", whose, r.From, r.To, r.By)
				t := newTable(w, strings.ToUpper(r.By), "REQUESTS", "ERRORS", "REFUSED", "PROMPT TOKENS", "COMPLETION TOKENS", "TOKENS",
					"EST. REQUESTS", "EST. TOKENS", "P50 MS", "P95 MS")
				for _, row := range r.Rows {
					t.row(append([]string{row.Key}, cells(row, "-")...)...)
				}
				t.row(append([]string{"total"}, cells(r.Total, "-")...)...)
				t.flush()
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "organization slug (members and org admins: their own; system admins: default every organization)")
	f.StringVar(&since, "since", "", "how far back: 7d, 30d, 90d (days ending today), month (this calendar month, the default), last-month, or a date (2026-01-31)")
	f.StringVar(&from, "from", "", "first day, YYYY-MM-DD (UTC)")
	f.StringVar(&to, "to", "", "last day, YYYY-MM-DD (UTC; default today)")
	f.StringVar(&by, "by", "assistant", "group by day, assistant, user, key (API key) or org (system admins, every organization)")
	f.BoolVar(&mine, "mine", false, "only the usage of your own assistants")
	out.add(cmd)
	return cmd
}

// usageQuery reads --since, or --from and --to, into the days of a report.
func usageQuery(since, from, to string, now time.Time) (service.UsageQuery, error) {
	var q service.UsageQuery
	switch {
	case since != "" && (from != "" || to != ""):
		return q, usageErrorf("--since can't be combined with --from or --to: give a range one way")
	case to != "" && from == "":
		return q, usageErrorf("--to needs --from: give the first day too")
	case from != "":
		for _, d := range []struct {
			flag, value string
			into        *time.Time
		}{{"--from", from, &q.From}, {"--to", to, &q.To}} {
			if d.value == "" {
				continue
			}
			t, err := time.Parse(time.DateOnly, d.value)
			if err != nil {
				return q, usageErrorf("%s %q: want a date such as 2026-01-31", d.flag, d.value)
			}
			*d.into = t
		}
	case since != "":
		if f, t, err := service.UsageRange(since, now); err == nil {
			q.From, q.To = f, t
			return q, nil
		}
		// A duration (12h) or a date: from that day to today.
		t, err := parseSince(since, now)
		if err != nil {
			return q, err
		}
		q.From = t
	}
	return q, nil
}
