package sshserver

import (
	"context"
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
		!regexp.MustCompile(`(?m)^ASSISTANT\s+REQUESTS\s+ERRORS\s+REFUSED\s+PROMPT TOKENS\s+COMPLETION TOKENS\s+TOKENS$`).MatchString(r.stdout) ||
		!regexp.MustCompile(fmt.Sprintf(`(?m)^Tutor \(#%d\)\s+10\s+1\s+0\s+100\s+50\s+150$`, e.tutor.ID)).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^total\s+10\s+1\s+0\s+100\s+50\s+150\n$`).MatchString(r.stdout) ||
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
		!regexp.MustCompile(`(?m)^ana@acme\.example\s+10\s+1\s+0\s+100\s+50\s+150$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^cy@acme\.example\s+7\s+0\s+0\s+70\s+30\s+100$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^total\s+17\s+1\s+0\s+170\s+80\s+250$`).MatchString(r.stdout) ||
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
	e.run(t, e.admin, "", "usage").wantFail(t, 2, "--org SLUG is required for system admins")
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
		{[]string{"usage", "--by", "week"}, `--by must be day, assistant or user, got "week"`},
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
