package sshserver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lamb/service"
	"lamb/store"
)

// alertsOrgs is newTwoOrgs on a server whose webhooks may reach loopback
// (a local receiver stands in for the org's).
func alertsOrgs(t *testing.T) *twoOrgs {
	t.Helper()
	ts := newTestServer(t, func(_ *Options, d *service.Deps) { d.Alerts.AllowPrivate = true })
	ts.createOrg(t, "acme")
	ts.createOrg(t, "globex")
	return &twoOrgs{
		testServer:  ts,
		acmeAdmin:   ts.userWithKey(t, "acme", acmeAdminEmail, "admin"),
		acmeMember:  ts.userWithKey(t, "acme", acmeMemberEmail, "member"),
		globexAdmin: ts.userWithKey(t, "globex", globexAdminEmail, "admin"),
	}
}

func TestOrgAlertsShowSetAndTest(t *testing.T) {
	t.Parallel()
	e := alertsOrgs(t)
	r := e.run(t, e.acmeAdmin, "", "org", "alerts", "acme").wantOK(t)
	wantLines(t, r, `^thresholds:\s+80 %, 100 % \(the defaults\)$`, `^webhook:\s+none$`,
		`^org budget:\s+none \(set tokens_per_month for alerts on it\)$`, `^No threshold crossed this month\.$`)

	r = e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--thresholds", "50, 90%,100").wantOK(t)
	wantLines(t, r, `^Alerts of acme saved\.$`, `^thresholds:\s+50 %, 90 %, 100 %$`)
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	r = e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--webhook-url", hook.URL+"/services/secret-part").wantOK(t)
	wantLines(t, r, `^webhook:\s+http://127\.0\.0\.1:\d+/…$`)
	if strings.Contains(r.stdout, "secret-part") {
		t.Fatalf("the webhook's path is shown:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "org", "alerts", "test", "acme").wantOK(t)
	wantLines(t, r, `^The webhook answered HTTP 204: it works\.$`)
	if got.Load() != 1 {
		t.Fatalf("the receiver got %d requests", got.Load())
	}
	var v service.AlertsView
	decode(t, e.run(t, e.admin, "", "org", "alerts", "set", "acme", "--thresholds", "none", "--webhook-url", "none", "--json").wantOK(t), &v)
	if len(v.Thresholds) != 0 || v.WebhookURL != "" || v.Default {
		t.Fatalf("after none: %+v", v)
	}
	decode(t, e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--thresholds", "default", "--json").wantOK(t), &v)
	if !v.Default || len(v.Thresholds) != 2 {
		t.Fatalf("after default: %+v", v)
	}
	e.run(t, e.acmeAdmin, "", "org", "alerts", "test", "acme").wantFail(t, 1, "alerts.webhook_url: is not set")

	r = e.run(t, e.acmeAdmin, "", "audit", "--since", "1h").wantOK(t)
	if n := strings.Count(r.stdout, "alerts.update"); n != 4 {
		t.Fatalf("%d alerts.update events:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "alerts.webhook_test") {
		t.Fatalf("the test delivery is not audited:\n%s", r.stdout)
	}
}

func TestOrgAlertsRefusals(t *testing.T) {
	t.Parallel()
	e := newTwoOrgs(t) // webhooks to private addresses refused, as by default
	e.run(t, e.acmeMember, "", "org", "alerts", "acme").wantFail(t, 1, `permission denied: a member of acme can't run "org alerts"`)
	e.run(t, e.acmeMember, "", "org", "alerts", "set", "acme", "--thresholds", "50").
		wantFail(t, 1, `permission denied: a member of acme can't run "org alerts set"`)
	for _, org := range []string{"acme", "nosuch"} {
		for _, args := range [][]string{{"org", "alerts", org}, {"org", "alerts", "set", org, "--thresholds", "50"}, {"org", "alerts", "test", org}} {
			r := e.run(t, e.globexAdmin, "", args...).wantFail(t, 1, `organization "`+org+`" not found`)
			if r.stdout != "" {
				t.Fatalf("%v: stdout %q", args, r.stdout)
			}
		}
	}
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme").wantFail(t, 2, "give --thresholds, --webhook-url or both")
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--thresholds", "80,lots").wantFail(t, 2, `--thresholds: "lots" is not a whole number`)
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--thresholds", "90,50").wantFail(t, 1, "alerts.thresholds[1]: 50 comes after 90")
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--thresholds", "0").wantFail(t, 1, "alerts.thresholds[0]: must be a percentage")
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--webhook-url", "http://169.254.169.254/latest").
		wantFail(t, 1, "alerts.webhook_url:", "LAMB_WEBHOOK_ALLOW_PRIVATE")
	e.run(t, e.acmeAdmin, "", "org", "alerts", "set", "acme", "--webhook-url", "gopher://x").wantFail(t, 1, "alerts.webhook_url: must start with http://")
	r := e.run(t, e.acmeAdmin, "", "audit").wantOK(t)
	if strings.Contains(r.stdout, "alerts.update") {
		t.Fatalf("refused changes were audited:\n%s", r.stdout)
	}
}

// whoami shows an org admin the org's alerts of the month, a member
// those of their own budget only, and another org's admin none.
func TestWhoamiShowsBudgetAlerts(t *testing.T) {
	t.Parallel()
	e := alertsOrgs(t)
	ctx := context.Background()
	e.run(t, e.acmeAdmin, "", "org", "limits", "set", "acme", "--tokens-per-month", "1000", "--user-tokens-per-month", "500").wantOK(t)
	acme, err := e.st.OrgBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	ana, err := e.st.UserByEmail(ctx, acmeMemberEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddUsageDaily(ctx, acme.ID, store.Day(time.Now()), 0, ana.ID, store.UsageTotals{Requests: 1, PromptTokens: 450}); err != nil {
		t.Fatal(err)
	}
	e.svc.CheckBudgetAlerts(ctx)
	month := time.Now().UTC().Month().String()

	r := e.run(t, e.acmeMember, "", "whoami").wantOK(t)
	wantLines(t, r, `^Budget alerts this month:$`,
		`^  ! ana@acme\.example has used 90 % \(450 of 500 tokens\) of their `+month+` budget in acme, past the 80 % alert; it resets on 1 `)
	if strings.Contains(r.stdout, "acme has used") {
		t.Fatalf("a member's whoami shows the org's budget:\n%s", r.stdout)
	}
	r = e.run(t, e.acmeAdmin, "", "whoami").wantOK(t)
	wantLines(t, r, `^  ! ana@acme\.example has used 90 %`)
	if strings.Contains(r.stdout, "acme has used") {
		t.Fatalf("450 of 1,000 crossed the org's 80 %%:\n%s", r.stdout)
	}
	if err := e.st.AddUsageDaily(ctx, acme.ID, store.Day(time.Now()), 0, 0, store.UsageTotals{Requests: 1, PromptTokens: 400}); err != nil {
		t.Fatal(err)
	}
	e.svc.CheckBudgetAlerts(ctx)
	r = e.run(t, e.acmeAdmin, "", "whoami").wantOK(t)
	wantLines(t, r, `^  ! acme has used 85 % \(850 of 1,000 tokens\) of its `+month+` budget, past the 80 % alert; it resets on 1 .*; an org admin can raise tokens_per_month$`)
	r = e.run(t, e.acmeAdmin, "", "org", "alerts", "acme").wantOK(t)
	wantLines(t, r, `^Crossed this month:$`, `^    crossed \d{4}-\d\d-\d\d \d\d:\d\d UTC · webhook: none sent`)
	var id service.Identity
	decode(t, e.run(t, e.acmeMember, "", "whoami", "--json").wantOK(t), &id)
	if len(id.Alerts) != 1 || id.Alerts[0].Scope != "user" || id.Alerts[0].User != acmeMemberEmail {
		t.Fatalf("member's whoami --json alerts = %+v", id.Alerts)
	}
	r = e.run(t, e.globexAdmin, "", "whoami").wantOK(t)
	if strings.Contains(r.stdout, "alert") {
		t.Fatalf("globex's admin sees acme's alerts:\n%s", r.stdout)
	}
}
