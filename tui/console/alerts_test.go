package console

import (
	"fmt"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"lamb/config"
	"lamb/store"
)

// The dashboard of an org whose budgets crossed an alert this month says
// so at its top: the org's budget in full, its users' named; another
// org's dashboard shows nothing of it; and it fits 80×24.
func TestConsoleDashboardShowsBudgetAlerts(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createOrg("chem", "Chemistry")
	admin := e.actor(e.createUser("physics", "ana@phys.uni.edu", "admin", ""))
	chemAdmin := e.actor(e.createUser("chem", "cho@chem.uni.edu", "admin", ""))
	var users []int64
	for i := range 5 {
		e.createUser("physics", fmt.Sprintf("student%d@phys.uni.edu", i), "member", "")
		users = append(users, e.user(fmt.Sprintf("student%d@phys.uni.edu", i)).ID)
	}
	if _, err := e.svc.UpdateLimits(e.ctx, e.root(), "physics", func(l *config.Limits) {
		l.TokensPerMonth, l.UserTokensPerMonth = 1_000_000, 200_000
	}); err != nil {
		t.Fatal(err)
	}
	org := admin.OrgID
	today := store.Day(time.Now())
	for i, u := range users { // 200,000 and 190,000 past 80 %; the others below it
		spent := []int64{200_000, 190_000, 100_000, 100_000, 100_000}[i]
		if err := e.st.AddUsageDaily(e.ctx, org, today, 0, u, store.UsageTotals{Requests: 1, PromptTokens: spent}); err != nil {
			t.Fatal(err)
		}
	}
	// 840,000 of the org's 1,000,000 in all.
	if err := e.st.AddUsageDaily(e.ctx, org, today, 0, 0, store.UsageTotals{Requests: 1, PromptTokens: 150_000}); err != nil {
		t.Fatal(err)
	}
	e.svc.CheckBudgetAlerts(e.ctx)
	month := time.Now().UTC().Month()

	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Dashboard")
	d.want(fmt.Sprintf("! physics has used 84 %% (840,000 of 1,000,000 tokens) of its %s budget, past the 80 %% alert; it resets on 1", month),
		"an org admin can raise tokens_per_month")
	d.want("2 users passed an alert on their monthly budget: student0@phys.uni.edu (100%), student1@phys.uni.edu (80%)")
	d.fits(80, 24)

	c := e.console(chemAdmin)
	c.tab("Dashboard")
	c.wantNot("passed an alert", "has used")
}

// An org admin sets the budget alerts from the Limits screen (a): a
// threshold out of order is refused on its field; the webhook shows
// masked, and saving it masked keeps the stored URL.
func TestConsoleLimitsEditsBudgetAlerts(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	admin := e.actor(e.createUser("physics", "ana@phys.uni.edu", "admin", ""))
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Limits")
	d.want("Budget alerts (a)", "80%, 100% of the monthly budgets (the defaults)", "a edit budget alerts")
	d.press("a")
	d.want("Budget alerts of physics")
	d.press("ctrl+u")
	d.typ("90, 50")
	d.press("tab")
	d.typ("https://hooks.example.com/services/s3cr3t")
	d.press("ctrl+s")
	d.want("thresholds[1]: 50 comes after 90")
	d.press("ctrl+u") // the refused field has the focus
	d.typ("50, 90")
	d.press("ctrl+s")
	d.want("budget alerts saved", "50%, 90% of the monthly budgets", "https://hooks.example.com/…")
	d.wantNot("s3cr3t")
	d.fits(80, 24)

	d.press("a") // saved again as shown: the masked URL keeps the stored one
	d.press("ctrl+s")
	d.want("budget alerts saved")
	cfg, err := e.svc.OrgConfig(e.ctx, e.root(), "physics", true)
	if err != nil || cfg.Alerts.WebhookURL != "https://hooks.example.com/services/s3cr3t" || fmt.Sprint(cfg.Alerts.Thresholds) != "[50 90]" {
		t.Fatalf("alerts stored: %+v, %v", cfg.Alerts, err)
	}
	d.press("a", "ctrl+u")
	d.typ("none")
	d.press("ctrl+s")
	d.want("none: alerts are off")
}
