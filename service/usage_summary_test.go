package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"lamb/config"
	"lamb/store"
)

func TestUsageRanges(t *testing.T) {
	now := time.Date(2026, 1, 15, 18, 30, 0, 0, time.UTC)
	for _, c := range []struct{ name, from, to, label string }{
		{"7d", "2026-01-09", "2026-01-15", "last 7 days"},
		{"30d", "2025-12-17", "2026-01-15", "last 30 days"},
		{"90d", "2025-10-18", "2026-01-15", "last 90 days"},
		{"1d", "2026-01-15", "2026-01-15", "today"},
		{"month", "2026-01-01", "2026-01-15", "this month"},
		{"last-month", "2025-12-01", "2025-12-31", "last month"}, // across a year's end
	} {
		from, to, err := UsageRange(c.name, now)
		if err != nil || from.Format(time.DateOnly) != c.from || to.Format(time.DateOnly) != c.to {
			t.Errorf("%s: %s to %s, %v; want %s to %s", c.name, from, to, err, c.from, c.to)
		}
		if got := UsageRangeLabel(c.name); got != c.label {
			t.Errorf("label of %s = %q, want %q", c.name, got, c.label)
		}
	}
	for _, bad := range []string{"", "0d", "-3d", "3661d", "week", "7", "d"} {
		if _, _, err := UsageRange(bad, now); err == nil {
			t.Errorf("UsageRange(%q) accepted", bad)
		} else {
			wantInvalidSays(t, err, "since", "7d, 30d, 90d", "month or last-month")
		}
	}
}

func TestLatencyPercentile(t *testing.T) {
	var h [store.LatencyBuckets]int64
	if _, ok := latencyPercentile(h, 0.5); ok {
		t.Fatal("a percentile of no requests")
	}
	// 100 requests: 50 within 100 ms, 40 in (100, 250], 10 in (1000, 2000].
	h[0], h[1], h[4] = 50, 40, 10
	for _, c := range []struct {
		p    float64
		want int64
	}{
		{0.50, 100},  // the 50th is the last of the first bucket
		{0.70, 175},  // the 70th is half-way through (100, 250]
		{0.95, 1500}, // the 95th half-way through (1000, 2000]
		{1.00, 2000},
	} {
		if got, ok := latencyPercentile(h, c.p); !ok || got != c.want {
			t.Errorf("p%.0f = %d, want %d", c.p*100, got, c.want)
		}
	}
	// The slowest bucket has no upper bound: its lower bound is shown.
	var slow [store.LatencyBuckets]int64
	slow[store.LatencyBuckets-1] = 3
	if got, _ := latencyPercentile(slow, 0.95); got != store.LatencyBounds[len(store.LatencyBounds)-1] {
		t.Errorf("p95 of requests over every bound = %d", got)
	}
}

// summaryEnv is usageEnv with latency, estimated tokens and per-key
// rollups this month: a1's Tutor called by a1's personal key and an org
// key, a2's Grader by the org key; B's bot by B's key, slow, which A must
// never see.
type summaryEnv struct {
	*usageEnv
	personal, lms, bKey NewAPIKey
}

func newSummaryEnv(t *testing.T) *summaryEnv {
	t.Helper()
	e := &summaryEnv{usageEnv: newUsageEnv(t)}
	ctx := context.Background()
	var err error
	if e.personal, err = e.svc.CreateAPIKey(ctx, e.a1, "", "ana's laptop", true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if e.lms, err = e.svc.CreateAPIKey(ctx, e.adminA, "acme", "moodle", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if e.bKey, err = e.svc.CreateAPIKey(ctx, e.adminB, "beta", "beta lms", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	acme, beta := e.a1.OrgID, e.adminB.OrgID
	lat := func(fast, mid, slow int64) (h [store.LatencyBuckets]int64) {
		h[0], h[3], h[7] = fast, mid, slow // ≤100 ms, (500, 1000], (8, 15] s
		return h
	}
	for _, k := range []struct {
		org, key, user int64
		day            int
		t              store.UsageTotals
	}{
		{acme, e.personal.ID, e.a1.UserID, 20261102, store.UsageTotals{Requests: 4, PromptTokens: 40, CompletionTokens: 20}},
		{acme, e.lms.ID, e.a1.UserID, 20261102, store.UsageTotals{Requests: 6, Errors: 1, PromptTokens: 60, CompletionTokens: 30}},
		{acme, e.lms.ID, e.a1.UserID, 20261129, store.UsageTotals{Requests: 5, PromptTokens: 40, CompletionTokens: 20}},
		{acme, e.lms.ID, e.a2.UserID, 20261102, store.UsageTotals{Requests: 7, Errors: 2, PromptTokens: 70, CompletionTokens: 30}},
		{beta, e.bKey.ID, e.adminB.UserID, 20261110, store.UsageTotals{Requests: 9999, PromptTokens: 99999, CompletionTokens: 99999}},
	} {
		if err := e.st.AddUsageDailyKey(ctx, k.org, k.day, k.key, k.user, k.t); err != nil {
			t.Fatal(err)
		}
	}
	// Latency and estimates on top of newUsageEnv's rows (AddUsageDaily adds).
	for _, u := range []struct {
		org, assistant, user int64
		day                  int
		t                    store.UsageTotals
	}{
		{acme, e.x1.ID, e.a1.UserID, 20261102, store.UsageTotals{Estimated: 2, EstimatedTokens: 30, Latency: lat(8, 1, 0)}},
		{acme, e.x2.ID, e.a2.UserID, 20261102, store.UsageTotals{Latency: lat(0, 4, 1)}},
		{beta, 0, e.adminB.UserID, 20261110, store.UsageTotals{Latency: lat(0, 0, 9999)}},
	} {
		if err := e.st.AddUsageDaily(ctx, u.org, u.day, u.assistant, u.user, u.t); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *summaryEnv) setTokensPerMonth(t *testing.T, org, user int64) {
	t.Helper()
	l := config.UnlimitedLimits()
	l.TokensPerMonth, l.UserTokensPerMonth = org, user
	if err := e.svc.SetLimits(context.Background(), e.adminA, "acme", l); err != nil {
		t.Fatal(err)
	}
}

func keys(rs []UsageRow) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s:%d", r.Key, r.Tokens))
	}
	return strings.Join(parts, " ")
}

// An org admin's summary of this month: totals with error rate, latency
// and the estimated share; every day of the range, those without
// requests too; the top assistants, users and keys; the budget and the
// day it runs out at this pace. None of it is B's.
func TestUsageSummaryOfAnOrg(t *testing.T) {
	e := newSummaryEnv(t)
	ctx := context.Background()
	e.setTokensPerMonth(t, 500, -1)
	s, err := e.svc.UsageSummary(ctx, e.adminA, UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if s.OrgSlug != "acme" || s.AllOrgs || s.User != "" || s.From != "2026-11-01" || s.To != "2026-11-29" {
		t.Fatalf("summary header %+v", s)
	}
	tot := s.Total
	if tot.Requests != 22 || tot.Errors != 3 || tot.Tokens != 310 || tot.Estimated != 2 || tot.EstimatedTokens != 30 {
		t.Fatalf("total %+v", tot)
	}
	// 14 requests reached a provider: 8 within 100 ms, 5 in (500, 1000]
	// ms, 1 in (8, 15] s. The 7th is 7/8 into the first bucket; the 13.3th
	// 0.3 into the slow one.
	if tot.P50MS == nil || tot.P95MS == nil || *tot.P50MS != 88 || *tot.P95MS != 10100 {
		t.Fatalf("latency p50 %v p95 %v, want 88 and 10100", ptr(tot.P50MS), ptr(tot.P95MS))
	}
	if r := tot.ErrorRate(); r < 0.136 || r > 0.137 {
		t.Errorf("error rate %f, want 3/22", r)
	}
	if r := tot.EstimatedShare(); r < 0.096 || r > 0.097 {
		t.Errorf("estimated share %f, want 30/310", r)
	}
	if len(s.Days) != 29 || s.Days[0].Day != "2026-11-01" || s.Days[1].Tokens != 250 || s.Days[1].Requests != 17 ||
		s.Days[2].Requests != 0 || s.Days[28].Tokens != 60 || s.Days[28].Day != "2026-11-29" {
		t.Fatalf("days %+v", s.Days)
	}
	if got, want := keys(s.TopAssistants), fmt.Sprintf("Tutor (#%d):210 Grader (#%d):100", e.x1.ID, e.x2.ID); got != want {
		t.Errorf("top assistants %s, want %s", got, want)
	}
	if got, want := keys(s.TopUsers), emailA1+":210 "+emailA2+":100"; got != want {
		t.Errorf("top users %s, want %s", got, want)
	}
	if got, want := keys(s.TopKeys), fmt.Sprintf("moodle (#%d):250 ana's laptop (#%d):60", e.lms.ID, e.personal.ID); got != want {
		t.Errorf("top keys %s, want %s", got, want)
	}
	if s.TopOrgs != nil {
		t.Errorf("a summary of one org lists orgs: %+v", s.TopOrgs)
	}
	// The table the screen shows with it is the report by its grouping.
	for _, by := range []string{"day", "assistant", "user", "key"} {
		withTable, err := e.svc.UsageSummary(ctx, e.adminA, UsageQuery{By: by})
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Usage(ctx, e.adminA, UsageQuery{By: by})
		if err != nil || withTable.By != by || keys(withTable.Rows) != keys(r.Rows) || len(r.Rows) == 0 {
			t.Errorf("the summary's table by %s: %s; the report: %s, %v", by, keys(withTable.Rows), keys(r.Rows), err)
		}
	}
	// 310 of 500 tokens in 28.5 days: ~10.9 a day, 190 left lasts ~17 days,
	// past the month's end.
	b := s.Budget
	if b == nil || b.Scope != "organization" || b.Month != "2026-11" || b.Used != 310 || b.Limit != 500 || b.ResetsOn != "2026-12-01" ||
		b.Spent || b.RunsOut != "" || b.PerDay < 10.8 || b.PerDay > 10.9 {
		t.Fatalf("budget %+v", b)
	}
	// A smaller budget runs out before the month ends: 10 left at 10.9 a
	// day lasts 22 hours, from noon on the 29th.
	e.setTokensPerMonth(t, 320, -1)
	if s, _ = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{}); s.Budget.RunsOut != "2026-11-30" || s.Budget.Spent {
		t.Errorf("budget of 320: %+v", s.Budget)
	}
	// 20 left lasts 1.8 days: past the reset on 1 December.
	e.setTokensPerMonth(t, 330, -1)
	if s, _ = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{}); s.Budget.RunsOut != "" {
		t.Errorf("budget of 330: %+v", s.Budget)
	}
	e.setTokensPerMonth(t, 300, -1)
	if s, _ = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{}); !s.Budget.Spent || s.Budget.Share() < 1 {
		t.Errorf("budget of 300 with 310 used: %+v", s.Budget)
	}
	e.setTokensPerMonth(t, -1, -1)
	if s, _ = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{}); s.Budget.Limited() || s.Budget.RunsOut != "" {
		t.Errorf("no budget: %+v", s.Budget)
	}
	// The budget is this month's whatever the range.
	from, to, _ := UsageRange("last-month", e.now)
	s, err = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{From: from, To: to})
	if err != nil || s.Total.Requests != 300 || len(s.Days) != 31 || s.Budget.Used != 310 || s.Total.P50MS != nil {
		t.Fatalf("last month: total %+v, %d days, budget %+v, %v", s.Total, len(s.Days), s.Budget, err)
	}
}

// A member's summary covers their own assistants: the keys that called
// them (an org key by its number only, never its name), no list of users,
// and their own budget (user_tokens_per_month).
func TestUsageSummaryOfAMember(t *testing.T) {
	e := newSummaryEnv(t)
	ctx := context.Background()
	e.setTokensPerMonth(t, 100000, 300)
	s, err := e.svc.UsageSummary(ctx, e.a1, UsageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if s.User != emailA1 || s.Total.Tokens != 210 || s.TopUsers != nil {
		t.Fatalf("member's summary: user %q total %+v users %+v", s.User, s.Total, s.TopUsers)
	}
	if got, want := keys(s.TopKeys), fmt.Sprintf("organization key #%d:150 ana's laptop (#%d):60", e.lms.ID, e.personal.ID); got != want {
		t.Errorf("member's top keys %s, want %s", got, want)
	}
	if b := s.Budget; b.Scope != "user" || b.Used != 210 || b.Limit != 300 {
		t.Errorf("member's budget %+v", b)
	}
	// Mine: an admin's own assistants, the same way.
	s, err = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{Mine: true})
	if err != nil || s.User != emailAdminA || s.Total.Requests != 0 || len(s.TopKeys) != 0 {
		t.Fatalf("admin's own: %+v, %v", s, err)
	}
}

// Isolation: every report an org admin or member can ask for — the
// summary, and Usage by each grouping — holds only their own org's rows
// (B's 9999 requests and slow latency never show), and every way of
// naming another org, or all of them, is refused.
func TestUsageIsolation(t *testing.T) {
	e := newSummaryEnv(t)
	ctx := context.Background()
	leak := func(who string, v any) {
		t.Helper()
		data, _ := json.Marshal(v)
		s := string(data)
		for _, b := range []string{"9999", "99999", "beta", emailAdminB, "Beta bot", "lms"} {
			if strings.Contains(s, b) {
				t.Errorf("%s sees %q of B: %s", who, b, s)
			}
		}
	}
	// A row of A's that names an id of B's key (as a database from before
	// ids stopped being reused may hold) is called deleted, never by B's name.
	if err := e.st.AddUsageDailyKey(ctx, e.a1.OrgID, 20261103, e.bKey.ID, e.a1.UserID, store.UsageTotals{Requests: 1}); err != nil {
		t.Fatal(err)
	}
	from, _, _ := UsageRange("90d", e.now)
	for name, a := range map[string]Actor{"A's admin": e.adminA, "member a1": e.a1, "member a2": e.a2} {
		s, err := e.svc.UsageSummary(ctx, a, UsageQuery{From: from})
		if err != nil {
			t.Fatal(err)
		}
		leak(name+"'s summary", s)
		for _, by := range []string{"day", "assistant", "user", "key"} {
			r, err := e.svc.Usage(ctx, a, UsageQuery{From: from, By: by})
			if err != nil {
				t.Fatal(err)
			}
			leak(name+"'s report by "+by, r)
		}
		if _, err := e.svc.UsageSummary(ctx, a, UsageQuery{AllOrgs: true}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s asking for every org: %v", name, err)
		}
		if _, err := e.svc.Usage(ctx, a, UsageQuery{By: "org"}); err == nil {
			t.Errorf("%s grouped by org", name)
		}
	}
	// B's org by name: not found for A's admin (like a missing org),
	// forbidden for a member.
	if _, err := e.svc.UsageSummary(ctx, e.adminA, UsageQuery{Org: "beta"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("A's admin naming beta: %v", err)
	}
	if _, err := e.svc.UsageSummary(ctx, e.a1, UsageQuery{Org: "beta"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("a member naming beta: %v", err)
	}
	// a2 never sees a1's assistant, user or keys.
	s, _ := e.svc.UsageSummary(ctx, e.a2, UsageQuery{From: from})
	if data, _ := json.Marshal(s); strings.Contains(string(data), "Tutor") || strings.Contains(keys(s.TopKeys), "laptop") || s.Total.Requests != 207 {
		t.Errorf("a2's summary shows a1's: %+v", s)
	}
	for _, a := range []Actor{{}, {Role: RoleAPIKey, OrgID: e.a1.OrgID, OrgSlug: "acme", KeyID: e.lms.ID}} {
		if _, err := e.svc.UsageSummary(ctx, a, UsageQuery{}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%v: %v", a, err)
		}
	}
}

// A system admin sees every organization at once: totals of all and the
// top organizations (assistants, users and keys are ranked within one
// org); or one org by name; reports by assistant, user or key still
// cover every org, naming each with its org.
func TestUsageOfEveryOrganization(t *testing.T) {
	e := newSummaryEnv(t)
	ctx := context.Background()
	s, err := e.svc.UsageSummary(ctx, e.sys, UsageQuery{AllOrgs: true, By: "org"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.AllOrgs || s.OrgSlug != "" || s.Budget != nil || s.Total.Requests != 22+9999 {
		t.Fatalf("every org: %+v", s)
	}
	if got := keys(s.TopOrgs); got != "beta:199998 acme:310" {
		t.Errorf("top orgs %s", got)
	}
	if s.TopAssistants != nil || s.TopUsers != nil || s.TopKeys != nil {
		t.Errorf("every org ranks assistants, users or keys: %+v %+v %+v", s.TopAssistants, s.TopUsers, s.TopKeys)
	}
	if got := keys(s.Rows); s.By != "org" || got != "acme:310 beta:199998" {
		t.Errorf("the table by org: %s", got)
	}
	r, err := e.svc.Usage(ctx, e.sys, UsageQuery{AllOrgs: true, By: "org"})
	if err != nil || rows(r) != "acme:22/3/310 beta:9999/0/199998" {
		t.Fatalf("by org: %s, %v", rows(r), err)
	}
	r, err = e.svc.Usage(ctx, e.sys, UsageQuery{AllOrgs: true, By: "key"})
	if got := rows(r); err != nil || !strings.Contains(got, fmt.Sprintf("beta · beta lms (#%d):9999/0/199998", e.bKey.ID)) ||
		!strings.Contains(got, fmt.Sprintf("acme · moodle (#%d):18/3/250", e.lms.ID)) {
		t.Errorf("every org by key: %s, %v", got, err)
	}
	r, err = e.svc.Usage(ctx, e.sys, UsageQuery{AllOrgs: true, By: "user"})
	if got := rows(r); err != nil || !strings.Contains(got, "acme · "+emailA1+":15/1/210") || !strings.Contains(got, "beta · "+emailAdminB) {
		t.Errorf("every org by user: %s, %v", got, err)
	}
	if _, err := e.svc.Usage(ctx, e.sys, UsageQuery{AllOrgs: true, Org: "acme"}); err == nil {
		t.Error("every org and acme at once")
	}
	s, err = e.svc.UsageSummary(ctx, e.sys, UsageQuery{Org: "acme"})
	if err != nil || s.Total.Requests != 22 || s.Budget == nil || len(s.TopKeys) != 2 {
		t.Fatalf("acme by a system admin: %+v, %v", s.Total, err)
	}
}

// A range is checked: the first day after the last, or more than
// maxUsageDays days, is refused naming the field and what to do.
func TestUsageRangeIsChecked(t *testing.T) {
	e := newUsageEnv(t)
	ctx := context.Background()
	_, err := e.svc.UsageSummary(ctx, e.adminA, UsageQuery{From: e.now, To: e.now.AddDate(0, 0, -1)})
	wantInvalidSays(t, err, "from", "is after the last day", "swap them")
	_, err = e.svc.UsageSummary(ctx, e.adminA, UsageQuery{From: e.now.AddDate(-11, 0, 0)})
	wantInvalidSays(t, err, "from", "at most 3660 days")
	// A report lists only the groups there are: any range.
	if r, err := e.svc.Usage(ctx, e.adminA, UsageQuery{From: e.now.AddDate(-11, 0, 0), By: "day"}); err != nil || len(r.Rows) != 4 {
		t.Errorf("eleven years by day: %d rows, %v", len(r.Rows), err)
	}
	_, err = e.svc.Usage(ctx, e.adminA, UsageQuery{From: e.now, To: e.now.AddDate(0, 0, -1)})
	wantInvalidSays(t, err, "from", "swap them")
	// One day, the first of a month, and the 90 days before today.
	for _, q := range []UsageQuery{{From: e.now, To: e.now}, {From: thisMonth, To: thisMonth}} {
		s, err := e.svc.UsageSummary(ctx, e.adminA, q)
		if err != nil || len(s.Days) != 1 {
			t.Errorf("one day: %d days, %v", len(s.Days), err)
		}
	}
	from, to, _ := UsageRange("90d", e.now)
	if s, err := e.svc.UsageSummary(ctx, e.adminA, UsageQuery{From: from, To: to}); err != nil || len(s.Days) != 90 {
		t.Errorf("90 days: %d days, %v", len(s.Days), err)
	}
}

func ptr(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
