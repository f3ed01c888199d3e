package sshserver

import (
	"context"
	"encoding/csv"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"lamb/service"
	"lamb/store"
)

// usageOrgs is memberOrgs with usage rollups: ana's assistant used today
// and 40 days ago, cy's today; globex's admin's assistant today.
type usageOrgs struct {
	*memberOrgs
	tutor, grader service.Assistant
	today         string
}

func newUsageOrgs(t *testing.T) *usageOrgs {
	t.Helper()
	e := &usageOrgs{memberOrgs: newMemberOrgs(t)}
	e.tutor = e.createAssistant(t, e.acmeMember, "--name", "Tutor", "--provider", "openai")
	e.grader = e.createAssistant(t, e.acmeMember2, "--name", "Grader", "--provider", "openai")
	ctx := context.Background()
	acme, err := e.svc.GetOrg(ctx, e.adminActor(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := e.svc.GetOrg(ctx, e.adminActor(t), "globex")
	if err != nil {
		t.Fatal(err)
	}
	user := func(email string) int64 {
		u, err := e.svc.GetUser(ctx, e.adminActor(t), email)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	now := time.Now()
	e.today = now.UTC().Format(time.DateOnly)
	for _, u := range []struct {
		org, assistant, user int64
		at                   time.Time
		req, errs, p, c      int64
	}{
		{acme.ID, e.tutor.ID, user(acmeMemberEmail), now, 10, 1, 100, 50},
		{acme.ID, e.tutor.ID, user(acmeMemberEmail), now.AddDate(0, 0, -40), 1000, 0, 10000, 5000},
		{acme.ID, e.grader.ID, user(acmeMember2Email), now, 7, 0, 70, 30},
		{globex.ID, 999, user(globexAdminEmail), now, 5555, 0, 1, 1},
	} {
		if err := e.st.AddUsageDaily(ctx, u.org, store.Day(u.at), u.assistant, u.user,
			store.UsageTotals{Requests: u.req, Errors: u.errs, PromptTokens: u.p, CompletionTokens: u.c}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func TestUsageMember(t *testing.T) {
	t.Parallel()
	e := newUsageOrgs(t)
	r := e.run(t, e.acmeMember, "", "usage").wantOK(t)
	if !strings.HasPrefix(r.stdout, "Usage of ana@acme.example's assistants in acme from ") ||
		!strings.Contains(r.stdout, " to "+e.today+" (UTC), by assistant:\n") ||
		!regexp.MustCompile(`(?m)^ASSISTANT\s+REQUESTS\s+ERRORS\s+REFUSED\s+PROMPT TOKENS\s+COMPLETION TOKENS\s+TOKENS\s+EST. REQUESTS\s+EST. TOKENS\s+P50 MS\s+P95 MS$`).MatchString(r.stdout) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^Tutor \(#%d\)\s+10\s+1\s+0\s+100\s+50\s+150\s+0\s+0\s+-\s+-$`, e.tutor.ID)).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^total\s+10\s+1\s+0\s+100\s+50\s+150\s+0\s+0\s+-\s+-\n$`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, "Grader") {
		t.Fatalf("member's usage:\n%s", r.stdout)
	}
	var rep service.UsageReport
	decode(t, e.run(t, e.acmeMember, "", "usage", "--since", "60d", "--by", "day", "--json").wantOK(t), &rep)
	if rep.User != acmeMemberEmail || rep.By != "day" || len(rep.Rows) != 2 || rep.Total.Requests != 1010 || rep.Rows[1].Key != e.today {
		t.Fatalf("usage --json %+v", rep)
	}
	decode(t, e.run(t, e.acmeMember2, "", "usage", "--by", "user", "--json").wantOK(t), &rep)
	if len(rep.Rows) != 1 || rep.Rows[0].Key != acmeMember2Email || rep.Total.Requests != 7 {
		t.Fatalf("cy's usage %+v", rep)
	}
	// Own org by name is fine; another org is not.
	e.run(t, e.acmeMember, "", "usage", "--org", "acme").wantOK(t)
	e.run(t, e.acmeMember, "", "usage", "--org", "globex").wantFail(t, 1, "permission denied")
}

func TestUsageAdmins(t *testing.T) {
	t.Parallel()
	e := newUsageOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "usage", "--by", "user").wantOK(t)
	if !strings.HasPrefix(r.stdout, "Usage of acme from ") ||
		!regexp.MustCompile(`(?m)^ana@acme\.example\s+10\s+1\s+0\s+100\s+50\s+150\s+0\s+0\s+-\s+-$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^cy@acme\.example\s+7\s+0\s+0\s+70\s+30\s+100\s+0\s+0\s+-\s+-$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^total\s+17\s+1\s+0\s+170\s+80\s+250\s+0\s+0\s+-\s+-$`).MatchString(r.stdout) ||
		strings.Contains(r.stdout, "5555") {
		t.Fatalf("admin's usage by user:\n%s", r.stdout)
	}
	var rep service.UsageReport
	decode(t, e.run(t, e.acmeAdmin, "", "usage", "--mine", "--json").wantOK(t), &rep)
	if rep.User != acmeAdminEmail || rep.Total.Requests != 0 || rep.Rows == nil || len(rep.Rows) != 0 {
		t.Fatalf("admin's own usage %+v", rep)
	}
	if r := e.run(t, e.acmeAdmin, "", "usage", "--mine", "--json").wantOK(t); !strings.Contains(r.stdout, `"rows": []`) {
		t.Fatalf("empty rows are not [] in JSON:\n%s", r.stdout)
	}
	decode(t, e.run(t, e.admin, "", "usage", "--org", "acme", "--since", "2000-01-01", "--json").wantOK(t), &rep)
	if rep.OrgSlug != "acme" || rep.Total.Requests != 1017 || rep.From != "2000-01-01" {
		t.Fatalf("system admin's usage of acme %+v", rep)
	}
	// Without --org, a system admin's report is of every organization.
	var all service.UsageReport
	decode(t, e.run(t, e.admin, "", "usage", "--since", "60d", "--by", "org", "--json").wantOK(t), &all)
	if !all.AllOrgs || all.OrgSlug != "" || all.Total.Requests != 1017+5555 || len(all.Rows) != 2 || all.Rows[1].Key != "globex" {
		t.Fatalf("system admin's usage of every org %+v", all)
	}
	// Another org's admin: the answer for an org that doesn't exist.
	e.run(t, e.globexAdmin, "", "usage", "--org", "acme").wantFail(t, 1, `organization "acme" not found`)
	decode(t, e.run(t, e.globexAdmin, "", "usage", "--json").wantOK(t), &rep)
	if rep.OrgSlug != "globex" || rep.Total.Requests != 5555 || rep.Rows[0].Key != "deleted assistant #999" {
		t.Fatalf("globex usage %+v", rep)
	}
}

func TestUsageBadArguments(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"usage", "--by", "week"}, `--by must be day, assistant, user, key or org, got "week"`},
		{[]string{"usage", "--since", "last year"}, `--since "last year"`},
		{[]string{"usage", "--since", "0d"}, "want a positive duration"},
		{[]string{"usage", "acme"}, `unknown command "acme"`},
		{[]string{"usage", "--mine=maybe"}, "invalid argument"},
	} {
		r := e.run(t, e.acmeMember, "", c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.err) || !strings.Contains(r.stderr, "Usage:") || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q and the usage", c.args, r.code, r.stdout, r.stderr, c.err)
		}
	}
}

// The console shows this month and so does `usage` by default, as the
// monthly budgets count it.
func TestUsageDefaultsToThisMonth(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "usage").wantOK(t)
	first := time.Now().UTC().Format("2006-01") + "-01"
	if !strings.HasPrefix(r.stdout, "Usage of acme from "+first+" ") {
		t.Fatalf("usage without --since:\n%s", r.stdout)
	}
}

// usage --csv: a header row naming the grouping, then one row per group
// (no total), every field quoted as RFC 4180 wants it; --by key names
// each key with its id; --json carries the same figures.
func TestUsageCSVAndKeys(t *testing.T) {
	t.Parallel()
	e := newUsageOrgs(t)
	ctx := context.Background()
	var key service.NewAPIKey
	decode(t, e.run(t, e.acmeAdmin, "", "apikey", "create", "--name", `moodle, "prod"`, "--json").wantOK(t), &key)
	acme, _ := e.svc.GetOrg(ctx, e.adminActor(t), "acme")
	ana, _ := e.svc.GetUser(ctx, e.adminActor(t), acmeMemberEmail)
	day := store.Day(time.Now())
	if err := e.st.AddUsageDailyKey(ctx, acme.ID, day, key.ID, ana.ID, store.UsageTotals{Requests: 10, Errors: 1, PromptTokens: 100,
		CompletionTokens: 50, Estimated: 1, EstimatedTokens: 20}); err != nil {
		t.Fatal(err)
	}
	lat := store.UsageTotals{}
	lat.Latency[2] = 4 // (250, 500] ms
	if err := e.st.AddUsageDaily(ctx, acme.ID, day, e.tutor.ID, ana.ID, lat); err != nil {
		t.Fatal(err)
	}

	r := e.run(t, e.acmeAdmin, "", "usage", "--by", "key", "--csv").wantOK(t)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, r.stdout)
	}
	header := "key,id,requests,errors,refused,prompt_tokens,completion_tokens,tokens,estimated_requests,estimated_tokens,p50_ms,p95_ms"
	if len(recs) != 2 || strings.Join(recs[0], ",") != header {
		t.Fatalf("CSV by key:\n%s", r.stdout)
	}
	want := []string{fmt.Sprintf(`moodle, "prod" (#%d)`, key.ID), fmt.Sprint(key.ID), "10", "1", "0", "100", "50", "150", "1", "20", "", ""}
	if strings.Join(recs[1], "|") != strings.Join(want, "|") {
		t.Fatalf("CSV row %q, want %q", recs[1], want)
	}
	if !strings.Contains(r.stdout, `"moodle, ""prod"" (#`) {
		t.Errorf("the name is not quoted as RFC 4180 wants: %s", r.stdout)
	}
	// By assistant: the latency percentiles, in CSV and JSON.
	r = e.run(t, e.acmeAdmin, "", "usage", "--by", "assistant", "--csv").wantOK(t)
	recs, _ = csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if len(recs) != 3 || recs[0][0] != "assistant" || recs[1][1] != fmt.Sprint(e.tutor.ID) || recs[1][10] != "375" || recs[1][11] != "488" {
		t.Fatalf("CSV by assistant:\n%s", r.stdout)
	}
	var rep map[string]any
	decode(t, e.run(t, e.acmeAdmin, "", "usage", "--by", "assistant", "--json").wantOK(t), &rep)
	row := rep["rows"].([]any)[0].(map[string]any)
	for _, k := range []string{"key", "id", "requests", "errors", "refused", "prompt_tokens", "completion_tokens", "tokens",
		"estimated_requests", "estimated_tokens", "p50_ms", "p95_ms"} {
		if _, ok := row[k]; !ok {
			t.Errorf("a JSON row lacks %q: %v", k, row)
		}
	}
	if row["p50_ms"] != float64(375) || rep["rows"].([]any)[1].(map[string]any)["p50_ms"] != nil {
		t.Errorf("p50_ms of the rows: %v", rep["rows"])
	}
	e.run(t, e.acmeAdmin, "", "usage", "--csv", "--json").wantFail(t, 2, "--csv and --json can't be combined")
}

// A name that a spreadsheet would run as a formula is written with a '
// in front, so that opening an export doesn't run what a member typed.
func TestUsageCSVDoesNotCarryFormulas(t *testing.T) {
	t.Parallel()
	e := newUsageOrgs(t)
	evil := e.createAssistant(t, e.acmeMember, "--name", `=HYPERLINK("http://evil.example","open")`, "--provider", "openai")
	ctx := context.Background()
	acme, _ := e.svc.GetOrg(ctx, e.adminActor(t), "acme")
	ana, _ := e.svc.GetUser(ctx, e.adminActor(t), acmeMemberEmail)
	if err := e.st.AddUsageDaily(ctx, acme.ID, store.Day(time.Now()), evil.ID, ana.ID, store.UsageTotals{Requests: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.run(t, e.acmeAdmin, "", "usage", "--csv").wantOK(t)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("a cell starts a formula: %q", cell)
			}
		}
	}
	if !strings.Contains(r.stdout, `'=HYPERLINK`) {
		t.Errorf("the assistant's row is missing or changed otherwise:\n%s", r.stdout)
	}
}

func TestUsageRangeFlags(t *testing.T) {
	t.Parallel()
	e := newUsageOrgs(t)
	var rep service.UsageReport
	from := time.Now().UTC().AddDate(0, 0, -45).Format(time.DateOnly)
	to := time.Now().UTC().AddDate(0, 0, -35).Format(time.DateOnly)
	decode(t, e.run(t, e.acmeAdmin, "", "usage", "--from", from, "--to", to, "--json").wantOK(t), &rep)
	if rep.From != from || rep.To != to || rep.Total.Requests != 1000 {
		t.Fatalf("--from %s --to %s: %+v", from, to, rep)
	}
	decode(t, e.run(t, e.acmeAdmin, "", "usage", "--since", "7d", "--json").wantOK(t), &rep)
	if rep.From != time.Now().UTC().AddDate(0, 0, -6).Format(time.DateOnly) || rep.Total.Requests != 17 {
		t.Fatalf("--since 7d: %+v", rep)
	}
	decode(t, e.run(t, e.acmeAdmin, "", "usage", "--since", "last-month", "--json").wantOK(t), &rep)
	if !strings.HasSuffix(rep.From, "-01") || rep.To >= time.Now().UTC().Format("2006-01")+"-01" {
		t.Fatalf("--since last-month: %s to %s", rep.From, rep.To)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--since", "7d", "--from", from}, 2, "--since can't be combined with --from or --to"},
		{[]string{"--to", to}, 2, "--to needs --from"},
		{[]string{"--from", "31/01/2026"}, 2, `--from "31/01/2026": want a date such as 2026-01-31`},
		{[]string{"--from", to, "--to", from}, 1, "swap them"},
	} {
		e.run(t, e.acmeAdmin, "", append([]string{"usage"}, c.args...)...).wantFail(t, c.code, c.err)
	}
}
