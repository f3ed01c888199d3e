package service

import (
	"context"
	"time"

	"lamb/config"
	"lamb/store"
)

// UsageTop is how many assistants, users, keys and orgs a summary lists.
const UsageTop = 5

// UsageSummary is what a usage screen shows of a range of days: totals
// with error rate, latency and estimated share, every day's requests and
// tokens, the top assistants, users and API keys (or, across every
// organization, the top organizations), the month's budget, and the
// screen's table.
type UsageSummary struct {
	OrgSlug string     `json:"organization,omitempty"` // "" across every organization
	AllOrgs bool       `json:"all_organizations,omitempty"`
	User    string     `json:"user,omitempty"` // the summary covers this user's assistants only
	From    string     `json:"from"`
	To      string     `json:"to"`
	Total   UsageRow   `json:"total"`
	Days    []DayUsage `json:"days"` // every day of the range, those without requests included
	// The top UsageTop by tokens. Across every organization only the
	// organizations are ranked (one of them shows its assistants, users
	// and keys): ranking every assistant of the platform would read a row
	// per assistant and day. TopUsers is left out of a summary of one
	// user's assistants.
	TopOrgs       []UsageRow `json:"top_organizations,omitempty"`
	TopAssistants []UsageRow `json:"top_assistants,omitempty"`
	TopUsers      []UsageRow `json:"top_users,omitempty"`
	TopKeys       []UsageRow `json:"top_api_keys,omitempty"`
	// Budget is this calendar month's token budget, whatever the range:
	// the org's, or in a summary of one user's assistants the user's.
	// Absent across every organization.
	Budget *Budget `json:"budget,omitempty"`
	// By and Rows are the table of the query's grouping (q.By), as Usage
	// reports it; absent when q.By is "".
	By   string     `json:"by,omitempty"`
	Rows []UsageRow `json:"rows,omitempty"`
}

// DayUsage is one day of a summary.
type DayUsage struct {
	Day      string `json:"day"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
	Tokens   int64  `json:"tokens"`
}

// Budget is a month's token budget and where the month is heading.
type Budget struct {
	Scope    string `json:"scope"` // "organization" (tokens_per_month) or "user" (user_tokens_per_month)
	Month    string `json:"month"` // 2026-11
	Used     int64  `json:"used_tokens"`
	Limit    int64  `json:"limit_tokens"` // -1: no budget
	ResetsOn string `json:"resets_on"`    // the first day of the next month
	// PerDay is the pace so far: tokens used per day of the month gone by.
	PerDay float64 `json:"tokens_per_day"`
	// RunsOut is the day the budget runs out at that pace, when that is
	// before it resets; "" when it lasts the month (or there is none).
	RunsOut string `json:"runs_out,omitempty"`
	// Spent: nothing is left; requests are refused until ResetsOn.
	Spent bool `json:"spent"`
}

// Limited reports whether there is a budget at all.
func (b Budget) Limited() bool { return b.Limit >= 0 }

// Share is the part of the budget used (0–1 and over; 0 without one).
func (b Budget) Share() float64 {
	if b.Limit < 0 {
		return 0
	}
	if b.Limit == 0 {
		return 1
	}
	return float64(b.Used) / float64(b.Limit)
}

// UsageSummary summarizes usage over a range of days for the usage
// screens, with the same rules as Usage, and the table by q.By when it is
// set. Every figure comes from the rollups, each read once: the org's
// totals and days, its assistants with their owners, its keys.
func (s *Service) UsageSummary(ctx context.Context, a Actor, q UsageQuery) (UsageSummary, error) {
	by := q.By
	if by != "" {
		var err error
		if by, err = usageBy(by); err != nil {
			return UsageSummary{}, err
		}
	}
	sc, err := s.usageScope(ctx, a, q)
	if err != nil {
		return UsageSummary{}, err
	}
	if days := int(sc.to.Sub(sc.from).Hours()/24) + 1; days > maxUsageDays {
		// Every day is listed (and drawn): a range stays a size a screen takes.
		return UsageSummary{}, invalid("from", "a summary covers at most %d days; choose a later first day", maxUsageDays)
	}
	d := &usageData{groups: map[string][]store.UsageGroup{}}
	if d.total, err = s.st.SumUsage(ctx, sc.filter); err != nil {
		return UsageSummary{}, err
	}
	sum := UsageSummary{OrgSlug: sc.org.Slug, AllOrgs: sc.filter.AllOrgs, User: sc.user, From: dayString(sc.filter.From),
		To: dayString(sc.filter.To), Total: usageRow("total", 0, d.total), By: by}
	days, err := s.grouped(ctx, sc, d, "day")
	if err != nil {
		return UsageSummary{}, err
	}
	byDay := make(map[int64]store.UsageTotals, len(days))
	for _, d := range days {
		byDay[d.Key] = d.UsageTotals
	}
	for d := sc.from; !d.After(sc.to); d = d.AddDate(0, 0, 1) {
		t := byDay[int64(store.Day(d))]
		sum.Days = append(sum.Days, DayUsage{Day: d.Format(time.DateOnly), Requests: t.Requests, Errors: t.Errors, Tokens: t.Tokens()})
	}
	tops := []struct {
		by   string
		into *[]UsageRow
		show bool
	}{
		{"org", &sum.TopOrgs, sc.filter.AllOrgs},
		{"assistant", &sum.TopAssistants, !sc.filter.AllOrgs},
		{"user", &sum.TopUsers, !sc.filter.AllOrgs && sc.filter.UserID == 0},
		{"key", &sum.TopKeys, !sc.filter.AllOrgs},
	}
	for _, top := range tops {
		if top.show {
			if *top.into, err = s.topUsage(ctx, sc, d, top.by, UsageTop); err != nil {
				return UsageSummary{}, err
			}
		}
	}
	if by != "" {
		if sum.Rows, err = s.usageRows(ctx, sc, d, by); err != nil {
			return UsageSummary{}, err
		}
	}
	if !sc.filter.AllOrgs {
		b, err := s.budget(ctx, sc)
		if err != nil {
			return UsageSummary{}, err
		}
		sum.Budget = &b
	}
	return sum, nil
}

// budget is the calendar month's budget of the scope's org, or of its
// user: what was used, the limit that is enforced (the smaller of limit
// and ceiling), and the day it runs out at the month's pace so far.
func (s *Service) budget(ctx context.Context, sc usageScope) (Budget, error) {
	now := s.now()
	start := monthStart(now)
	next := start.AddDate(0, 1, 0)
	used, err := s.st.SumUsage(ctx, store.UsageFilter{OrganizationID: sc.org.ID, UserID: sc.filter.UserID,
		From: store.Day(start), To: store.Day(now)})
	if err != nil {
		return Budget{}, err
	}
	cfg, err := config.ParseOrg([]byte(sc.org.Config))
	if err != nil {
		return Budget{}, err
	}
	limits := cfg.EffectiveLimits()
	b := Budget{Scope: "organization", Month: start.Format("2006-01"), Used: used.Tokens(), Limit: limits.TokensPerMonth,
		ResetsOn: next.Format(time.DateOnly)}
	if sc.filter.UserID != 0 {
		b.Scope, b.Limit = "user", limits.UserTokensPerMonth
	}
	// The pace counts the month's time gone by, at least an hour, so that
	// the first minutes of a month don't make it look endless.
	elapsed := max(now.Sub(start), time.Hour)
	b.PerDay = float64(b.Used) / elapsed.Hours() * 24
	switch {
	case b.Limit < 0:
	case b.Used >= b.Limit:
		b.Spent = true
	case b.PerDay > 0:
		// Compared in days first: a slow pace would overflow a Duration.
		if days := float64(b.Limit-b.Used) / b.PerDay; days < next.Sub(now).Hours()/24 {
			b.RunsOut = now.Add(time.Duration(days * 24 * float64(time.Hour))).UTC().Format(time.DateOnly)
		}
	}
	return b, nil
}
