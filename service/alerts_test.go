package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lamb/config"
	"lamb/secret"
	"lamb/store"
)

// alertsEnv is a database with acme (its admin, members ana and ben) and
// beta (its admin), and a service on a clock the test moves.
type alertsEnv struct {
	*testEnv
	clk              *testClock
	sys, acme, beta  Actor
	ana, ben         Actor
	acmeID, betaID   int64
	anaID, benID     int64
	opts             AlertOptions
	receiverRequests atomic.Int64
}

// newAlertsEnv builds it on engine; opts tune the alerts of its service
// (webhooks to loopback allowed, for the local receivers of the tests).
func newAlertsEnv(t *testing.T, engine string, opts AlertOptions) *alertsEnv {
	t.Helper()
	e := newTestEnvOn(t, engine)
	e.svc.Close()
	ae := &alertsEnv{testEnv: e, clk: newTestClock(time.Date(2026, 5, 20, 12, 0, 0, 0, time.UTC)), opts: opts}
	ae.svc, ae.st = ae.process(t, opts)
	mustSync(t, e, config.System{})
	ae.sys = sysAdmin(t, e, "root@lamb.local")
	oe := &orgAdminEnv{testEnv: e, sys: ae.sys}
	ae.acme = oe.orgWithAdmin(t, "acme", "admin@acme.edu")
	ae.beta = oe.orgWithAdmin(t, "beta", "admin@beta.edu")
	ae.ana, _ = userWithKey(t, e, ae.sys, "acme", "ana@acme.edu", "member", "")
	ae.ben, _ = userWithKey(t, e, ae.sys, "acme", "ben@acme.edu", "member", "")
	ae.acmeID, ae.betaID = ae.acme.OrgID, ae.beta.OrgID
	ae.anaID, ae.benID = ae.ana.UserID, ae.ben.UserID
	return ae
}

// process is a lamb process on the env's database: its own store and
// service, on the env's clock.
func (ae *alertsEnv) process(t *testing.T, opts AlertOptions) (*Service, *store.Store) {
	t.Helper()
	var st *store.Store
	var err error
	if ae.url != "" {
		st, err = store.OpenURL(context.Background(), ae.url, store.Options{Now: ae.clk.now})
	} else {
		st, err = store.Open(filepath.Join(ae.dir, "lamb.db"), store.Options{Now: ae.clk.now})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.NewBox(ae.key)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Deps{Store: st, Box: box, Logger: slog.New(slog.DiscardHandler), Now: ae.clk.now, SharedLimits: new(bool), Alerts: opts})
	t.Cleanup(svc.Close)
	return svc, st
}

// budgets sets acme's monthly budgets (-1: none).
func (ae *alertsEnv) budgets(t *testing.T, org, user int64) {
	t.Helper()
	if _, err := ae.svc.UpdateLimits(context.Background(), ae.sys, "acme", func(l *config.Limits) {
		l.TokensPerMonth, l.UserTokensPerMonth = org, user
	}); err != nil {
		t.Fatal(err)
	}
}

// spend adds tokens of a user of an org to today's rollups.
func (ae *alertsEnv) spend(t *testing.T, orgID, userID, tokens int64) {
	t.Helper()
	if err := ae.st.AddUsageDaily(context.Background(), orgID, store.Day(ae.clk.now()), 0, userID,
		store.UsageTotals{Requests: 1, PromptTokens: tokens}); err != nil {
		t.Fatal(err)
	}
}

// alertRows lists the recorded crossings as "period user threshold".
func (ae *alertsEnv) alertRows(t *testing.T) []string {
	t.Helper()
	rows, err := ae.rawDB(t).Query(`SELECT period, user_id, threshold FROM budget_alerts ORDER BY period, user_id, threshold`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var period, threshold int
		var user int64
		if err := rows.Scan(&period, &user, &threshold); err != nil {
			t.Fatal(err)
		}
		who := "org"
		switch user {
		case 0:
		case ae.anaID:
			who = "ana"
		case ae.benID:
			who = "ben"
		default:
			who = fmt.Sprint("user ", user)
		}
		out = append(out, fmt.Sprintf("%d %s %d", period, who, threshold))
	}
	return out
}

func (ae *alertsEnv) wantRows(t *testing.T, want ...string) {
	t.Helper()
	if got := ae.alertRows(t); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("recorded crossings = %q, want %q", got, want)
	}
}

// Each threshold fires once in a month, however often the budgets are
// checked, and again in the next month.
func TestBudgetAlertFiresOncePerThresholdAndMonth(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ae := newAlertsEnv(t, engine, AlertOptions{})
			ctx := context.Background()
			ae.budgets(t, 1_000_000, -1)
			ae.spend(t, ae.acmeID, ae.anaID, 799_999)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t)

			ae.spend(t, ae.acmeID, ae.anaID, 1)
			ae.svc.scanBudgets(ctx)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t, "202605 org 80")
			if n := ae.auditCount(t, "budget.alert"); n != 1 {
				t.Fatalf("%d budget.alert audit events, want 1", n)
			}
			ev := ae.lastAudit(t, "budget.alert")
			want := "acme has used 80 % (800,000 of 1,000,000 tokens) of its May budget; it resets on 1 June; an org admin can raise tokens_per_month"
			if !strings.Contains(ev.Details, want) || ev.Target != "acme" || ev.Actor != "system" {
				t.Fatalf("audit event = %+v, want the message %q", ev, want)
			}

			ae.spend(t, ae.acmeID, ae.anaID, 250_000)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t, "202605 org 80", "202605 org 100")
			ev = ae.lastAudit(t, "budget.alert")
			if want := "acme has used 105 % (1,050,000 of 1,000,000 tokens) of its May budget, past the 100 % alert; completions are refused until it resets on 1 June"; !strings.Contains(ev.Details, want) {
				t.Fatalf("audit details = %s, want %q", ev.Details, want)
			}

			// June: a budget of its own.
			ae.clk.add(15 * 24 * time.Hour)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t, "202605 org 80", "202605 org 100")
			ae.spend(t, ae.acmeID, ae.benID, 900_000)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t, "202605 org 80", "202605 org 100", "202606 org 80")
			if n := ae.auditCount(t, "budget.alert"); n != 3 {
				t.Fatalf("%d budget.alert audit events, want 3", n)
			}
		})
	}
}

// A crossing recorded before a restart, or by another process, doesn't
// fire again; of two processes checking at once, one records it.
func TestBudgetAlertNotAgainAfterRestartOrOnAnotherInstance(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) {
			ae := newAlertsEnv(t, engine, AlertOptions{})
			ctx := context.Background()
			ae.budgets(t, 1000, -1)
			ae.spend(t, ae.acmeID, ae.anaID, 850)
			ae.svc.scanBudgets(ctx)
			ae.wantRows(t, "202605 org 80")

			// A restart: a new process on the same database.
			ae.svc.Close()
			restarted, _ := ae.process(t, ae.opts)
			restarted.scanBudgets(ctx)
			restarted.checkOrgBudgets(ctx, ae.acmeID, nil, true)
			ae.wantRows(t, "202605 org 80")

			// Two processes see the 100 % crossing at once.
			other, _ := ae.process(t, ae.opts)
			ae.spend(t, ae.acmeID, ae.anaID, 200)
			var wg sync.WaitGroup
			for _, p := range []*Service{restarted, other} {
				wg.Go(func() {
					if err := p.checkOrgBudgets(ctx, ae.acmeID, nil, true); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			ae.wantRows(t, "202605 org 80", "202605 org 100")
			if n := ae.auditCount(t, "budget.alert"); n != 2 {
				t.Fatalf("%d budget.alert audit events, want 2", n)
			}
			fired := restarted.AlertStats().Fired[ScopeOrg] + other.AlertStats().Fired[ScopeOrg]
			if fired != 1 {
				t.Fatalf("the two processes announced %d crossings, want 1", fired)
			}
		})
	}
}

// Each user's budget has its thresholds, crossed by that user's usage
// only, and named in the message.
func TestUserBudgetAlerts(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	ae.budgets(t, -1, 50_000)
	ae.spend(t, ae.acmeID, ae.anaID, 40_000)
	ae.spend(t, ae.acmeID, ae.benID, 39_999)
	ae.spend(t, ae.betaID, 0, 10_000_000) // beta sets no budget
	ae.svc.scanBudgets(ctx)
	ae.wantRows(t, "202605 ana 80")
	ev := ae.lastAudit(t, "budget.alert")
	want := "ana@acme.edu has used 80 % (40,000 of 50,000 tokens) of their May budget in acme; it resets on 1 June; an org admin can raise user_tokens_per_month"
	if ev.Target != "ana@acme.edu" || !strings.Contains(ev.Details, want) {
		t.Fatalf("audit event = %+v, want target ana and %q", ev, want)
	}
	ae.spend(t, ae.acmeID, ae.benID, 1)
	ae.spend(t, ae.acmeID, ae.anaID, 10_000)
	ae.svc.scanBudgets(ctx)
	ae.wantRows(t, "202605 ana 80", "202605 ana 100", "202605 ben 80")
	if st := ae.svc.AlertStats(); st.Fired[ScopeUser] != 3 || st.Fired[ScopeOrg] != 0 {
		t.Fatalf("alert stats = %+v", st)
	}
}

// A budget the platform's ceiling sets is raised by system admins: the
// message says so instead of sending org admins to a limit they can't
// raise.
func TestBudgetAlertMessageNamesTheCeiling(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	if _, _, err := ae.svc.UpdateCeiling(ctx, ae.sys, "acme", func(l *config.Limits) { l.TokensPerMonth = 1000 }); err != nil {
		t.Fatal(err)
	}
	ae.spend(t, ae.acmeID, ae.anaID, 1000)
	ae.svc.scanBudgets(ctx)
	d, err := ae.svc.Dashboard(ctx, ae.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Alerts) != 2 || !strings.HasSuffix(d.Alerts[1].Message, "the platform's administrators can raise the ceiling of tokens_per_month") {
		t.Fatalf("alerts = %+v", d.Alerts)
	}
}

// Thresholds are the org's: others than the defaults, or none at all.
func TestBudgetAlertThresholdsAreTheOrgs(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	ae.budgets(t, 1000, -1)
	if _, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", AlertsInput{Thresholds: &[]int{50, 90, 150}}); err != nil {
		t.Fatal(err)
	}
	ae.spend(t, ae.acmeID, ae.anaID, 950)
	ae.svc.scanBudgets(ctx)
	ae.wantRows(t, "202605 org 50", "202605 org 90")
	if _, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", AlertsInput{Thresholds: &[]int{}}); err != nil {
		t.Fatal(err)
	}
	ae.spend(t, ae.acmeID, ae.anaID, 1000)
	ae.svc.scanBudgets(ctx)
	ae.wantRows(t, "202605 org 50", "202605 org 90")
	v, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", AlertsInput{DefaultThresholds: true})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Default || fmt.Sprint(v.Thresholds) != "[80 100]" {
		t.Fatalf("after defaults: %+v", v)
	}
	if n := ae.auditCount(t, "alerts.update"); n != 3 {
		t.Fatalf("%d alerts.update audit events, want 3", n)
	}
}

// Org B's admins never see org A's alerts; a member sees only those of
// their own budget; org admins see their org's in whoami and on the
// dashboard.
func TestBudgetAlertsIsolation(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	ae.budgets(t, 1000, 100)
	ae.spend(t, ae.acmeID, ae.anaID, 800)
	ae.svc.scanBudgets(ctx)
	ae.wantRows(t, "202605 org 80", "202605 ana 80", "202605 ana 100")

	if _, err := ae.svc.BudgetAlerts(ctx, ae.beta, "acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beta's admin reading acme's alerts: %v, want ErrNotFound", err)
	}
	if _, err := ae.svc.BudgetAlerts(ctx, ae.ana, "acme"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a member reading acme's alerts: %v, want ErrForbidden", err)
	}
	db, err := ae.svc.Dashboard(ctx, ae.beta, "beta")
	if err != nil {
		t.Fatal(err)
	}
	if len(db.Alerts) != 0 {
		t.Fatalf("beta's dashboard shows %+v", db.Alerts)
	}
	idB, err := ae.svc.Whoami(ctx, ae.beta)
	if err != nil {
		t.Fatal(err)
	}
	if len(idB.Alerts) != 0 {
		t.Fatalf("beta's admin's whoami shows %+v", idB.Alerts)
	}

	scopes := func(as []BudgetAlert) string {
		var s []string
		for _, a := range as {
			s = append(s, fmt.Sprintf("%s%s %d", a.Scope, strings.TrimSuffix(" "+a.User, " "), a.Threshold))
		}
		return strings.Join(s, "; ")
	}
	for _, c := range []struct {
		who  string
		a    Actor
		want string
	}{
		{"acme's admin", ae.acme, "org 80; user ana@acme.edu 80; user ana@acme.edu 100"},
		{"ana", ae.ana, "user ana@acme.edu 80; user ana@acme.edu 100"},
		{"ben", ae.ben, ""},
		{"a system admin (org lamb)", ae.sys, ""},
	} {
		id, err := ae.svc.Whoami(ctx, c.a)
		if err != nil {
			t.Fatal(err)
		}
		if got := scopes(id.Alerts); got != c.want {
			t.Errorf("whoami of %s shows %q, want %q", c.who, got, c.want)
		}
	}
	d, err := ae.svc.Dashboard(ctx, ae.acme, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := scopes(d.Alerts); got != "org 80; user ana@acme.edu 80; user ana@acme.edu 100" {
		t.Fatalf("acme's dashboard shows %q", got)
	}
}

// receiver is a local webhook receiver: it records what it gets and
// answers with answer(n) for the n-th request (from 1).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	n      atomic.Int64
}

func newReceiver(t *testing.T, answer func(n int64, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := rc.n.Add(1)
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
		if r.Header.Get("Content-Type") != "application/json" || r.Method != http.MethodPost {
			t.Errorf("webhook request %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		answer(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// body is the i-th request's body.
func (rc *receiver) body(i int) []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bodies[i]
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// delivery is the webhook outcome recorded for acme's crossing of a
// threshold of its own budget this month.
func (ae *alertsEnv) delivery(t *testing.T, threshold int) string {
	t.Helper()
	rows, err := ae.st.BudgetAlerts(context.Background(), store.BudgetAlertFilter{OrganizationID: ae.acmeID, Period: 202605, OrgOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Threshold == threshold {
			return r.Delivery
		}
	}
	return "" // not crossed yet
}

func (ae *alertsEnv) webhook(t *testing.T, url string) {
	t.Helper()
	if _, err := ae.svc.SetAlerts(context.Background(), ae.acme, "acme", AlertsInput{WebhookURL: &url}); err != nil {
		t.Fatal(err)
	}
}

// run runs the checker until the test ends.
func (ae *alertsEnv) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ae.svc.RunBudgetAlerts(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// The webhook gets the alert as JSON, with every field.
func TestBudgetAlertWebhookReceivesTheAlert(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{AllowPrivate: true, Scan: time.Hour, Gap: time.Millisecond})
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
	ae.budgets(t, 1_000_000, -1)
	ae.webhook(t, rc.URL+"/hooks/T0/secret-path")
	ae.spend(t, ae.acmeID, ae.anaID, 800_000)
	ae.run(t) // its first round scans
	waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
	if got := ae.delivery(t, 80); got != "delivered (HTTP 200)" {
		t.Fatalf("delivery = %q", got)
	}
	body := rc.body(0)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("webhook body %s: %v", body, err)
	}
	want := map[string]any{"event": "budget.alert", "org": "acme", "scope": "org", "threshold": 80.0, "used": 800000.0,
		"limit": 1000000.0, "period": "2026-05", "resets_at": "2026-06-01T00:00:00Z",
		"message": "acme has used 80 % (800,000 of 1,000,000 tokens) of its May budget; it resets on 1 June; an org admin can raise tokens_per_month"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("webhook %s = %v, want %v (body %s)", k, got[k], v, body)
		}
	}
	if _, ok := got["id"]; !ok {
		t.Errorf("webhook body has no id: %s", body)
	}
	if st := ae.svc.AlertStats(); st.Webhooks["delivered"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// An alert is found soon after the usage that crossed is stored, without
// waiting for the scan of every org.
func TestBudgetAlertSoonAfterUsageIsStored(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{Scan: time.Hour, Gap: time.Millisecond})
	ae.budgets(t, 1000, 100)
	ae.run(t)
	waitFor(t, "the checker", func() bool { return ae.svc.alerts.running.Load() })
	ae.svc.usage.record(store.UsageEvent{OrganizationID: ae.acmeID, UserID: ae.benID, PromptTokens: 850, Status: "ok",
		HTTPStatus: 200, CreatedAt: ae.clk.now()})
	waitFor(t, "the crossings", func() bool { return len(ae.alertRows(t)) == 3 })
	ae.wantRows(t, "202605 org 80", "202605 ben 80", "202605 ben 100")
}

// A failing receiver is retried, a bounded number of times.
func TestBudgetAlertWebhookRetriesThenGivesUp(t *testing.T) {
	opts := AlertOptions{AllowPrivate: true, Scan: time.Hour, Gap: time.Millisecond, Backoff: time.Millisecond, Attempts: 3}
	t.Run("recovers", func(t *testing.T) {
		ae := newAlertsEnv(t, "sqlite", opts)
		rc := newReceiver(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		ae.budgets(t, 1000, -1)
		ae.webhook(t, rc.URL)
		ae.spend(t, ae.acmeID, ae.anaID, 800)
		ae.run(t)
		waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
		if got := ae.delivery(t, 80); got != "delivered (HTTP 200)" || rc.n.Load() != 3 {
			t.Fatalf("delivery %q after %d requests", got, rc.n.Load())
		}
	})
	t.Run("down", func(t *testing.T) {
		ae := newAlertsEnv(t, "sqlite", opts)
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
		ae.budgets(t, 1000, -1)
		ae.webhook(t, rc.URL)
		ae.spend(t, ae.acmeID, ae.anaID, 800)
		ae.run(t)
		waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
		if got := ae.delivery(t, 80); got != "failed after 3 tries: answered HTTP 502" || rc.n.Load() != 3 {
			t.Fatalf("delivery %q after %d requests", got, rc.n.Load())
		}
		if st := ae.svc.AlertStats(); st.Webhooks["failed"] != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("refuses", func(t *testing.T) { // a 4xx is the receiver's answer: not retried
		ae := newAlertsEnv(t, "sqlite", opts)
		rc := newReceiver(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
		ae.budgets(t, 1000, -1)
		ae.webhook(t, rc.URL)
		ae.spend(t, ae.acmeID, ae.anaID, 800)
		ae.run(t)
		waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
		if got := ae.delivery(t, 80); !strings.HasPrefix(got, "failed after 1 try: answered HTTP 404") || rc.n.Load() != 1 {
			t.Fatalf("delivery %q after %d requests", got, rc.n.Load())
		}
	})
}

// Attack: a webhook that redirects would make lamb post the alert, and
// reach, an address nobody configured (an internal one, past the check
// of the configured URL). Redirects are not followed.
func TestBudgetAlertWebhookRedirectIsNotFollowed(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{AllowPrivate: true, Scan: time.Hour, Gap: time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
	inside := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
	rc := newReceiver(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.URL+"/admin", http.StatusTemporaryRedirect)
	})
	ae.budgets(t, 1000, -1)
	ae.webhook(t, rc.URL)
	ae.spend(t, ae.acmeID, ae.anaID, 800)
	ae.run(t)
	waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
	if got := ae.delivery(t, 80); !strings.Contains(got, "redirect, which lamb doesn't follow") {
		t.Fatalf("delivery = %q", got)
	}
	if inside.n.Load() != 0 {
		t.Fatal("the redirect was followed")
	}
}

// Attack: an org admin aims the webhook at lamb's own network (loopback,
// the cloud's metadata address, private ranges). Refused when set, and —
// for a name that resolves there, or a URL stored while the operator
// allowed it — when dialled.
func TestBudgetAlertWebhookToInternalAddressesIsRefused(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{Scan: time.Hour, Gap: time.Millisecond})
	ctx := context.Background()
	for _, u := range []string{"http://127.0.0.1:9/x", "http://localhost:8080/hook", "http://169.254.169.254/latest/meta-data",
		"http://10.0.0.7/hook", "http://[::1]/hook", "http://0x7f.1/hook"} {
		_, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", AlertsInput{WebhookURL: &u})
		ie := invalidField(t, err, "alerts.webhook_url")
		if !strings.Contains(ie.Message, "LAMB_WEBHOOK_ALLOW_PRIVATE") {
			t.Errorf("%s: message %q doesn't say how to allow it", u, ie.Message)
		}
		// The whole config document, and an import, are checked alike.
		cfg, err := ae.svc.OrgConfig(ctx, ae.acme, "acme", false)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Alerts.WebhookURL = u
		_, err = ae.svc.SetOrgConfig(ctx, ae.acme, "acme", cfg, false)
		invalidField(t, err, "alerts.webhook_url")
		_, err = ae.svc.ImportOrg(ctx, ae.sys, Export{Version: ExportVersion, Organization: ExportOrg{Slug: "delta", Name: "Delta"},
			Config: cfg.JSON()}, ImportOptions{DryRun: true})
		invalidField(t, err, "config.alerts.webhook_url")
	}
	// Stored by a process that allowed private addresses; delivered by
	// one that doesn't.
	inside := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
	allowing, _ := ae.process(t, AlertOptions{AllowPrivate: true})
	local := strings.Replace(inside.URL, "127.0.0.1", "localhost", 1)
	if _, err := allowing.SetAlerts(ctx, ae.acme, "acme", AlertsInput{WebhookURL: &local}); err != nil {
		t.Fatal(err)
	}
	ae.budgets(t, 1000, -1)
	ae.spend(t, ae.acmeID, ae.anaID, 800)
	ae.run(t)
	waitFor(t, "the delivery", func() bool { return ae.delivery(t, 80) != "" })
	if got := ae.delivery(t, 80); !strings.Contains(got, "refused") || strings.Contains(got, local) {
		t.Fatalf("delivery = %q", got)
	}
	if inside.n.Load() != 0 {
		t.Fatal("the webhook reached a loopback address")
	}
	res, err := ae.svc.TestAlertWebhook(ctx, ae.acme, "acme")
	if err != nil || res.OK || !strings.Contains(res.Error, "refused") {
		t.Fatalf("test delivery = %+v, %v", res, err)
	}
	// A public address is accepted (stored only: nothing is crossed
	// after this, so nothing is sent).
	public := "https://hooks.example.com/services/T0/B0/abc"
	if _, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", AlertsInput{WebhookURL: &public}); err != nil {
		t.Fatalf("a public webhook: %v", err)
	}
}

// A receiver that hangs holds the workers and fills the bounded queue:
// further deliveries are dropped (and say so), and the checker goes on
// recording crossings without waiting.
func TestBudgetAlertWebhookQueueIsBounded(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{AllowPrivate: true, Scan: time.Hour, Gap: time.Millisecond,
		Queue: 2, Workers: 1, Timeout: time.Minute})
	release := make(chan struct{})
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before the receiver closes (cleanups run last first)
	ae.budgets(t, -1, 10)
	ae.webhook(t, rc.URL)
	ctx := context.Background()
	var users []int64
	for i := range 8 {
		u, _ := userWithKey(t, ae.testEnv, ae.sys, "acme", fmt.Sprintf("u%d@acme.edu", i), "member", "")
		users = append(users, u.UserID)
	}
	ae.run(t)
	waitFor(t, "the checker", func() bool { return ae.svc.alerts.running.Load() })
	// The first crossing's delivery hangs in the worker.
	ae.spend(t, ae.acmeID, users[0], 8)
	ae.svc.checkOrgBudgets(ctx, ae.acmeID, []int64{users[0]}, false)
	waitFor(t, "the receiver", func() bool { return rc.n.Load() == 1 })
	for _, u := range users[1:] {
		ae.spend(t, ae.acmeID, u, 8)
	}
	// Seven more: two wait in the queue, five are dropped.
	ae.svc.checkOrgBudgets(ctx, ae.acmeID, users[1:], false)
	if n := len(ae.alertRows(t)); n != 8 {
		t.Fatalf("%d crossings recorded, want 8", n)
	}
	st := ae.svc.AlertStats()
	if st.Webhooks["dropped"] != 5 || st.Queue != 2 {
		t.Fatalf("stats = %+v, want 5 dropped and 2 queued", st)
	}
	dropped := ae.count(t, `SELECT COUNT(*) FROM budget_alerts WHERE delivery LIKE 'dropped%'`)
	if dropped != 5 {
		t.Fatalf("%d crossings say their webhook was dropped, want 5", dropped)
	}
}

// The webhook URL is a secret: masked where the config is shown, kept
// when sent back masked, left out of exports without secrets.
func TestBudgetAlertWebhookURLIsASecret(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	hook := "https://hooks.example.com/services/T0/B0/s3cr3t"
	ae.webhook(t, hook)
	cfg, err := ae.svc.OrgConfig(ctx, ae.acme, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Alerts.WebhookURL != "https://hooks.example.com/…" {
		t.Fatalf("masked webhook = %q", cfg.Alerts.WebhookURL)
	}
	cfg.Limits.MaxUsers = 40
	if _, err := ae.svc.SetOrgConfig(ctx, ae.acme, "acme", cfg, false); err != nil {
		t.Fatal(err)
	}
	full, err := ae.svc.OrgConfig(ctx, ae.sys, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	if full.Alerts.WebhookURL != hook {
		t.Fatalf("after a masked write-back the webhook is %q", full.Alerts.WebhookURL)
	}
	v, err := ae.svc.BudgetAlerts(ctx, ae.acme, "acme")
	if err != nil || v.WebhookURL != "https://hooks.example.com/…" {
		t.Fatalf("alerts view = %+v, %v", v, err)
	}
	if raw := ae.mustOrg(t, "acme").Config; strings.Contains(raw, "s3cr3t") {
		t.Fatal("the webhook URL is stored in clear")
	}
	for _, a := range ae.auditEvents(t) {
		if strings.Contains(a.Details, "s3cr3t") {
			t.Fatalf("audit event %s carries the webhook URL: %s", a.Action, a.Details)
		}
	}
	ex, err := ae.svc.ExportOrg(ctx, ae.sys, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ex.Config), "s3cr3t") {
		t.Fatal("an export without secrets carries the webhook URL")
	}
	ex.Organization.Slug = "acme2"
	ex.Signup = ExportSignup{}
	res, err := ae.svc.ImportOrg(ctx, ae.sys, Export{Version: ex.Version, Organization: ex.Organization, Config: ex.Config}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.SecretsCleared, ","), "alerts.webhook_url") {
		t.Fatalf("import cleared %v", res.SecretsCleared)
	}
	imported, err := ae.svc.OrgConfig(ctx, ae.sys, "acme2", true)
	if err != nil || imported.Alerts.WebhookURL != "" {
		t.Fatalf("imported webhook = %q, %v", imported.Alerts.WebhookURL, err)
	}
}

func (ae *alertsEnv) auditEvents(t *testing.T) []store.AuditEvent {
	t.Helper()
	evs, err := ae.st.ListAudit(context.Background(), storeFilterAll())
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// The test delivery says how it went and is audited.
func TestTestAlertWebhook(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{AllowPrivate: true})
	ctx := context.Background()
	_, err := ae.svc.TestAlertWebhook(ctx, ae.acme, "acme")
	invalidField(t, err, "alerts.webhook_url")
	rc := newReceiver(t, func(int64, http.ResponseWriter, *http.Request) {})
	ae.webhook(t, rc.URL)
	res, err := ae.svc.TestAlertWebhook(ctx, ae.acme, "acme")
	if err != nil || !res.OK || res.Status != 200 {
		t.Fatalf("test = %+v, %v", res, err)
	}
	if !strings.Contains(string(rc.body(0)), `"event":"budget.alert.test"`) {
		t.Fatalf("test body = %s", rc.body(0))
	}
	if n := ae.auditCount(t, "alerts.webhook_test"); n != 1 {
		t.Fatalf("%d alerts.webhook_test events", n)
	}
	if _, err := ae.svc.TestAlertWebhook(ctx, ae.beta, "acme"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beta's admin testing acme's webhook: %v", err)
	}
	if rc.n.Load() != 1 {
		t.Fatalf("the receiver got %d requests", rc.n.Load())
	}
}

func TestAlertsInputValidation(t *testing.T) {
	ae := newAlertsEnv(t, "sqlite", AlertOptions{})
	ctx := context.Background()
	for _, c := range []struct {
		in    AlertsInput
		field string
	}{
		{AlertsInput{Thresholds: &[]int{0}}, "alerts.thresholds[0]"},
		{AlertsInput{Thresholds: &[]int{80, 80}}, "alerts.thresholds[1]"},
		{AlertsInput{Thresholds: &[]int{100, 80}}, "alerts.thresholds[1]"},
		{AlertsInput{Thresholds: &[]int{50, 1001}}, "alerts.thresholds[1]"},
		{AlertsInput{Thresholds: &[]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}, "alerts.thresholds"},
		{AlertsInput{Thresholds: &[]int{80}, DefaultThresholds: true}, "alerts.thresholds"},
		{AlertsInput{WebhookURL: strp("ftp://hooks.example.com/x")}, "alerts.webhook_url"},
		{AlertsInput{WebhookURL: strp("hooks.example.com/x")}, "alerts.webhook_url"},
		{AlertsInput{WebhookURL: strp("https://hooks.example.com/\x1b[2J")}, "alerts.webhook_url"},
	} {
		_, err := ae.svc.SetAlerts(ctx, ae.acme, "acme", c.in)
		invalidField(t, err, c.field)
	}
	if n := ae.auditCount(t, "alerts.update"); n != 0 {
		t.Fatalf("refused changes wrote %d audit events", n)
	}
	if _, err := ae.svc.SetAlerts(ctx, ae.ana, "acme", AlertsInput{Thresholds: &[]int{50}}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a member setting alerts: %v", err)
	}
	if _, err := ae.svc.SetAlerts(ctx, ae.beta, "acme", AlertsInput{Thresholds: &[]int{50}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("beta's admin setting acme's alerts: %v", err)
	}
}

func TestReachedDoesNotOverflow(t *testing.T) {
	const big = int64(1) << 62
	for _, c := range []struct {
		used, limit int64
		pct         int
		want        bool
	}{
		{800, 1000, 80, true}, {799, 1000, 80, false}, {0, 1000, 1, false}, {10, 0, 80, false},
		{big, big, 100, true}, {big - 1, big, 100, false}, {big, big / 10, 1000, true},
	} {
		if got := reached(c.used, c.limit, c.pct); got != c.want {
			t.Errorf("reached(%d, %d, %d) = %v", c.used, c.limit, c.pct, got)
		}
	}
}
