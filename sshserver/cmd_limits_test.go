package sshserver

import (
	"strings"
	"testing"

	"lamb/config"
)

func TestOrgLimitsShowAndSet(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "org", "limits", "acme").wantOK(t)
	wantLines(t, r, `^tokens per month:\s+unlimited$`, `^requests per minute:\s+unlimited$`, `^user tokens per month:\s+unlimited$`,
		`^max users:\s+unlimited$`, `^max assistants:\s+unlimited$`, `^max assistants per user:\s+unlimited$`)

	r = e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--tokens-per-month", "1000000", "--max-users", "50").wantOK(t)
	wantLines(t, r, `^Limits of acme saved\.$`, `^tokens per month:\s+1000000$`, `^max users:\s+50$`, `^max assistants:\s+unlimited$`)
	var l config.Limits
	decode(t, e.run(t, e.acmeAdmin, "", "org", "limits", "acme", "--json").wantOK(t), &l)
	want := config.UnlimitedLimits()
	want.TokensPerMonth, want.MaxUsers = 1_000_000, 50
	if l != want {
		t.Fatalf("limits %+v, want %+v", l, want)
	}

	// Only the flags given change; 0 and -1 are values like any other.
	decode(t, e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--json", "--requests-per-minute", "600",
		"--user-tokens-per-month", "0", "--max-assistants", "100", "--max-assistants-per-user", "10", "--max-users=-1").wantOK(t), &l)
	want = config.Limits{TokensPerMonth: 1_000_000, RequestsPerMinute: 600, UserTokensPerMonth: 0,
		MaxUsers: -1, MaxAssistants: 100, MaxAssistantsPerUser: 10}
	if l != want {
		t.Fatalf("set --json = %+v, want %+v", l, want)
	}
	decode(t, e.run(t, e.admin, "", "org", "limits", "acme", "--json").wantOK(t), &l)
	if l != want {
		t.Fatalf("limits read back by a system admin %+v, want %+v", l, want)
	}

	// A system admin sets any org's limits; globex is untouched by acme's.
	decode(t, e.run(t, e.admin, "", "org", "limits", "globex", "--json").wantOK(t), &l)
	if l != config.UnlimitedLimits() {
		t.Fatalf("globex limits %+v", l)
	}
	e.run(t, e.admin, "", "org", "limits", "set", "globex", "--max-assistants", "0").wantOK(t)
	r = e.run(t, e.globexAdmin, "", "org", "limits", "globex").wantOK(t)
	wantLines(t, r, `^max assistants:\s+0$`)

	r = e.run(t, e.acmeAdmin, "", "audit").wantOK(t)
	if strings.Count(r.stdout, "limits.update") != 2 {
		t.Fatalf("audit of acme:\n%s", r.stdout)
	}
}

func TestOrgLimitsDenied(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	e.run(t, e.acmeMember, "", "org", "limits", "acme").wantFail(t, 1, `permission denied: a member of acme can't run "org limits"`)
	e.run(t, e.acmeMember, "", "org", "limits", "set", "acme", "--max-users", "500").
		wantFail(t, 1, `permission denied: a member of acme can't run "org limits set"`)
	for _, org := range []string{"acme", "nosuch"} {
		for _, args := range [][]string{
			{"org", "limits", org},
			{"org", "limits", "set", org, "--tokens-per-month", "-1"},
		} {
			r := e.run(t, e.globexAdmin, "", args...).wantFail(t, 1, `organization "`+org+`" not found`)
			if strings.Contains(r.stderr, "permission") || r.stdout != "" {
				t.Fatalf("%v: stdout %q, stderr %q", args, r.stdout, r.stderr)
			}
		}
	}
	// Bad values are refused by name and change nothing.
	e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--max-users=-5").wantFail(t, 1, "limits.max_users:")
	e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--tokens-per-month", "10", "--requests-per-minute=-2").
		wantFail(t, 1, "limits.requests_per_minute:")
	var l config.Limits
	decode(t, e.run(t, e.admin, "", "org", "limits", "acme", "--json").wantOK(t), &l)
	if l != config.UnlimitedLimits() {
		t.Fatalf("acme's limits after refused changes: %+v", l)
	}
}

func TestOrgLimitsBadArgumentsExit2(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	for _, c := range []struct {
		args       []string
		usage, err string
	}{
		{[]string{"org", "limits"}, "org limits SLUG", "accepts 1 arg(s), received 0"},
		{[]string{"org", "limits", "acme", "globex"}, "org limits SLUG", "accepts 1 arg(s), received 2"},
		{[]string{"org", "limits", "set"}, "org limits set SLUG", "accepts 1 arg(s), received 0"},
		{[]string{"org", "limits", "set", "acme"}, "org limits set SLUG", "give at least one limit to change: --tokens-per-month"},
		{[]string{"org", "limits", "set", "acme", "--max-users", "many"}, "org limits set SLUG", `invalid argument "many"`},
		{[]string{"org", "limits", "set", "acme", "--max-users", "1.5"}, "org limits set SLUG", `invalid argument "1.5"`},
		{[]string{"org", "limits", "set", "acme", "--max-seats", "5"}, "org limits set SLUG", "unknown flag: --max-seats"},
	} {
		r := e.run(t, e.acmeAdmin, "", c.args...).wantFail(t, exitUsage, "error: ", c.err, "Usage:\n", c.usage)
		if r.stdout != "" {
			t.Errorf("%v: stdout %q", c.args, r.stdout)
		}
	}
}

// `org quota set` is the system admins': an org admin is refused, and
// after a system admin sets a ceiling the org admin sees it beside each
// limit and can't set a limit above it.
func TestOrgQuotaIsTheSystemAdmins(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "org", "quota", "set", "acme", "--tokens-per-month", "-1")
	if r.code != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("org admin sets the quota: %d %q", r.code, r.stderr)
	}
	r = e.run(t, e.admin, "", "org", "quota", "set", "acme", "--tokens-per-month", "5000", "--max-users", "40").wantOK(t)
	wantLines(t, r, `^Ceiling of acme saved\. Its limits now:$`, `^tokens per month:\s+5000  \(ceiling 5000\)$`, `^max users:\s+40  \(ceiling 40\)$`)
	r = e.run(t, e.acmeAdmin, "", "org", "limits", "acme").wantOK(t)
	wantLines(t, r, `^tokens per month:\s+5000  \(ceiling 5000\)$`, `^requests per minute:\s+unlimited$`)
	r = e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--tokens-per-month", "9000")
	if r.code != 1 || !strings.Contains(r.stderr, "ceiling") {
		t.Fatalf("org admin sets a limit above the ceiling: %d %q", r.code, r.stderr)
	}
	var c config.Limits
	decode(t, e.run(t, e.acmeAdmin, "", "org", "quota", "acme", "--json").wantOK(t), &c)
	if c.TokensPerMonth != 5000 || c.MaxUsers != 40 || c.RequestsPerMinute != -1 {
		t.Fatalf("quota read by the org admin: %+v", c)
	}
}
