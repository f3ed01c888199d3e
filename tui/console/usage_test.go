package console

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/config"
	"lamb/service"
	"lamb/store"
)

// scrollTo scrolls the usage screen down until text shows, and returns
// the line that holds it, found after the line holding after ("" for the
// first), and the line below it.
func (d *driver) scrollTo(after, text string) (string, string) {
	d.t.Helper()
	for range 300 {
		lines := strings.Split(d.view(), "\n")
		from := 0
		if after != "" {
			from = -1
			for i, l := range lines {
				if strings.Contains(l, after) {
					from = i
					break
				}
			}
		}
		if from >= 0 {
			for i := from; i < len(lines)-1; i++ {
				// Found, with the line under it shown (not the "more" line).
				if strings.Contains(lines[i], text) && !strings.Contains(lines[i+1], "more (↓/j") {
					return lines[i], lines[i+1]
				}
			}
		}
		if strings.Contains(d.view(), "↑ top: g") { // the end, and not found
			break
		}
		d.press("j")
	}
	d.t.Fatalf("no line holds %q after %q:\n%s", text, after, d.view())
	return "", ""
}

// A system admin's Usage screen starts with every organization; o picks
// one (an unknown slug is answered in the form), and an empty slug goes
// back to all of them.
func TestConsoleSysAdminUsage(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.tab("Usage")
	d.want("Every organization", "[this month]", "Top organizations", "o another organization")

	d.press("o")
	d.want("Usage of another organization", "Organization")
	d.typ("nosuch")
	d.press("enter")
	d.want("Usage of another organization", `organization "nosuch" not found`)

	for range len("nosuch") {
		d.press("backspace")
	}
	d.typ("physics")
	d.press("enter")
	d.want("Organization physics", "Top users")
	d.wantNot("Usage of another organization", "Top organizations")
	d.press("b")
	d.scrollTo("", "By user")

	d.press("o", "esc")
	d.want("Organization physics")
	d.press("o")
	for range len("physics") {
		d.press("backspace")
	}
	d.press("enter")
	d.want("Every organization", "Top organizations")
}

// usageOrg is physics with its admin and a member whose assistant was
// used on the last 90 days, every day, with latency and a key.
func usageOrg(t *testing.T) (e *env, admin, member service.Actor) {
	t.Helper()
	e = newEnv(t)
	e.createOrg("physics", "Physics")
	admin = e.actor(e.createUser("physics", "prof@uni.example", "admin", ""))
	member = e.actor(e.createUser("physics", "ann@uni.example", "member", ""))
	e.enableProvider("physics", "default", "openai", "gpt-a")
	tutor := e.createAssistant(member, service.AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-a"})
	key, err := e.svc.CreateAPIKey(e.ctx, member, "", "ann's laptop", true, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var events []store.UsageEvent
	now := time.Now()
	for d := range 90 {
		for i := range d%5 + 1 {
			events = append(events, store.UsageEvent{OrganizationID: member.OrgID, AssistantID: tutor.ID, UserID: member.UserID,
				APIKeyID: key.ID, Status: "ok", HTTPStatus: 200, PromptTokens: int64(100 * (d%7 + 1)), CompletionTokens: 50,
				LatencyMS: int64(200 + 300*i), CreatedAt: now.AddDate(0, 0, -d)})
		}
	}
	if err := e.st.InTx(e.ctx, func(tx *store.Tx) error { return tx.InsertUsage(e.ctx, events) }); err != nil {
		t.Fatal(err)
	}
	return e, admin, member
}

// Every role's usage screen, at every range (0 days of usage in last
// month's first days, 1 day this month on the 1st, 90 days), with both
// charts and every grouping, fits a terminal of 60 columns: no line is
// wider, the screen is no taller, and scrolling reaches the end.
func TestConsoleUsageFits60Columns(t *testing.T) {
	e, admin, member := usageOrg(t)
	for _, who := range []struct {
		name  string
		actor service.Actor
		tab   string
	}{{"system admin", e.root(), "Usage"}, {"org admin", admin, "Usage"}, {"member", member, "My usage"}} {
		for _, size := range []struct{ w, h int }{{60, 24}, {60, 40}} {
			d := e.console(who.actor)
			d.send(tea.WindowSizeMsg{Width: size.w, Height: size.h})
			d.tab(who.tab)
			for r := range service.UsageRanges {
				for _, chart := range []string{"Tokens", "Requests"} {
					d.want("t:", " per ")
					if !strings.Contains(d.view(), chart+" per") {
						d.press("c")
					}
					d.want(chart + " per")
					d.fitsAll(size.w, size.h)
					// Scroll to the end, checking every screenful.
					for range 60 {
						d.press("pgdown")
						d.fitsAll(size.w, size.h)
					}
					d.want("total")
					d.press("g")
				}
				if r < len(service.UsageRanges)-1 {
					d.press("t")
				}
			}
			for range 5 {
				d.press("b")
				d.fitsAll(size.w, size.h)
			}
			d.press("?") // every key, in columns that fit
			d.want("range back", "tokens/requests")
			d.fits(size.w, size.h)
			d.press("?")
			if t.Failed() {
				t.Fatalf("%s at %dx%d", who.name, size.w, size.h)
			}
		}
	}
}

// The range switch: t goes forward through 7, 30, 90 days, this month and
// last month, T back; the dates and the chart follow. 90 days at 60
// columns draw two days a column.
func TestConsoleUsageRangesAndChart(t *testing.T) {
	e, admin, _ := usageOrg(t)
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 60, Height: 40})
	d.tab("Usage")
	d.want("[this month]")
	d.press("t")
	d.want("[last month]", "-01 to ")
	d.press("t")
	d.want("[7d]", "(7 days)", "Tokens per day")
	d.press("t", "t")
	d.want("[90d]", "(90 days)", "Tokens per 2 days")
	d.press("c")
	d.want("Requests per 2 days", "(c: tokens)")
	d.press("T")
	d.want("[30d]", "(30 days)", "Requests per day")
	// The figures: requests, latency percentiles, the top assistant and key.
	d.want("Requests", "p50", "p95", "Top assistants", "Tutor (#", "Top API keys", "ann's laptop (#")
	if row, _ := d.line("Tutor (#"); !strings.Contains(row, "ms") && !strings.Contains(row, " s") {
		t.Errorf("top assistant without its p95: %q", row)
	}
	// The chart's bars are there, and the axis has the first and last day.
	today := time.Now().UTC().Format(time.DateOnly)
	if !strings.Contains(d.view(), "█") || !strings.Contains(d.view(), today) {
		t.Errorf("chart of 30 days:\n%s", d.view())
	}
}

// The member's screen is their own: a personal budget line, no list of
// users; the admin's names the org's budget.
func TestConsoleUsageBudgetLines(t *testing.T) {
	e, admin, member := usageOrg(t)
	d := e.console(member)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 40})
	d.tab("My usage")
	d.want("Your assistants", "Budget", "user_tokens_per_month is unlimited")
	d.wantNot("Top users")
	if _, err := e.svc.UpdateLimits(e.ctx, admin, "physics", func(l *config.Limits) { l.TokensPerMonth = 10 }); err != nil {
		t.Fatal(err)
	}
	d = e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 40})
	d.tab("Usage")
	d.want("Budget", "of 10 tokens", "spent: requests are refused until", "raise tokens_per_month on the Limits screen")
	for _, l := range strings.Split(d.view(), "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Fatalf("a line of %d cells: %q", ansi.StringWidth(l), l)
		}
	}
}
