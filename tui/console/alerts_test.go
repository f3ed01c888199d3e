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
