package orgadmin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Dashboard shows an org at a glance: people, assistants, keys, tokens this
// month against the limit, requests today, provider status and signup.
type Dashboard struct {
	c     *tui.Common
	slug  string
	d     *service.Dashboard
	err   error
	width int
}

// NewDashboard returns the dashboard of org slug.
func NewDashboard(c *tui.Common, slug string) *Dashboard { return &Dashboard{c: c, slug: slug} }

type dashboardMsg struct {
	slug string
	d    service.Dashboard
	err  error
	// tested: the answer of a connection test (t), which says how it went.
	tested bool
	failed []string // what failed the test
}

var keyTestConnections = tui.Bind("t", "test knowledge base & providers")

func (m *Dashboard) Title() string    { return "Dashboard" }
func (m *Dashboard) SetSize(w, h int) { m.width = w }
func (m *Dashboard) Capturing() bool  { return false }
func (m *Dashboard) Keys() []key.Binding {
	return []key.Binding{keyTestConnections, tui.KeyRefresh}
}

func (m *Dashboard) Init() tea.Cmd {
	slug, a := m.slug, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		d, err := m.c.Svc.Dashboard(ctx, a, slug)
		return dashboardMsg{slug: slug, d: d, err: err}
	})
}

// testConnections tests the knowledge base and the enabled providers of
// the active setup at once, then reloads the dashboard, which shows the
// results the service remembered.
func (m *Dashboard) testConnections() tea.Cmd {
	d := m.d
	if d == nil {
		return nil
	}
	var names []string
	for _, p := range d.Providers {
		if p.Enabled && p.Configured {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 && d.KnowledgeBase == nil {
		return tui.Error(fmt.Errorf("setup %s has no knowledge base and no enabled provider to test; set them up on the Providers screen", d.ActiveSetup))
	}
	slug, setup, a, kb := m.slug, d.ActiveSetup, m.c.Actor, d.KnowledgeBase != nil
	return m.c.Do(func(ctx context.Context) tea.Msg {
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed []string
			errs   []error
		)
		note := func(name string, c service.ProviderCheck, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if !c.OK {
				failed = append(failed, name)
			}
		}
		for _, name := range names {
			wg.Go(func() {
				c, err := m.c.Svc.TestProvider(ctx, a, slug, setup, name)
				note(name, c, err)
			})
		}
		if kb {
			wg.Go(func() {
				c, err := m.c.Svc.TestKnowledgeBase(ctx, a, slug, setup)
				note("knowledge base", c, err)
			})
		}
		wg.Wait()
		d, err := m.c.Svc.Dashboard(ctx, a, slug)
		if len(errs) > 0 {
			err = errs[0]
		}
		sort.Strings(failed)
		return dashboardMsg{slug: slug, d: d, err: err, tested: true, failed: failed}
	})
}

func (m *Dashboard) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		return m, m.Init()
	case dashboardMsg:
		if msg.slug != m.slug {
			return m, nil
		}
		if msg.tested && msg.err != nil { // the dashboard stays; the status says why
			return m, tui.Error(msg.err)
		}
		m.err = msg.err
		if msg.err == nil {
			m.d = &msg.d
		}
		switch {
		case !msg.tested:
		case len(msg.failed) > 0:
			return m, tui.Error(fmt.Errorf("test failed: %s; the reason is on its line", strings.Join(msg.failed, ", ")))
		default:
			return m, tui.Status("connections tested: all answered")
		}
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, tui.KeyRefresh):
			return m, m.Init()
		case key.Matches(msg, keyTestConnections):
			return m, m.testConnections()
		}
	}
	return m, nil
}

func (m *Dashboard) View() string {
	st := m.c.Styles
	if m.err != nil {
		return " " + st.Error.Render(tui.ErrorText(m.err)) + "\n " + st.Muted.Render("r to retry")
	}
	d := m.d
	if d == nil {
		return st.Muted.Render(" loading…")
	}
	var b strings.Builder
	row := func(label, value string) {
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-18s", label)) + " " + value + "\n")
	}
	b.WriteString(" " + st.Title.Render(safetext.Sanitize(d.Org.Name)) + st.Muted.Render(safetext.Sanitize("  ("+d.Org.Slug+", "+d.Org.Status+")")) + "\n\n")
	for _, l := range m.alertBanner(d.Alerts) {
		b.WriteString(l + "\n")
	}
	row("Users", fmt.Sprintf("%d  %s", d.Users, st.Muted.Render(fmt.Sprintf("%d enabled · %d disabled · %d %s", d.EnabledUsers, d.DisabledUsers, d.Admins, tui.YesNo(d.Admins == 1, "admin", "admins")))))
	row("Assistants", fmt.Sprint(d.Assistants))
	row("API keys", fmt.Sprint(d.APIKeys))
	row("Signup", tui.YesNo(d.Org.SignupEnabled, st.Success.Render("enabled"), st.Muted.Render("disabled")))
	row("Requests today", fmt.Sprint(d.RequestsToday))
	b.WriteString("\n " + st.Title.Render("Tokens this month") + "\n")
	b.WriteString(" " + Bar(m.c, d.TokensThisMonth, d.TokenLimit, min(max(m.width-30, 10), 50)) + "\n")
	b.WriteString("\n " + st.Title.Render("Providers of setup "+safetext.Sanitize(d.ActiveSetup)) + "\n")
	if len(d.Providers) == 0 {
		b.WriteString(" " + st.Warning.Render("no provider configured: assistants can't answer until one is (Providers screen)") + "\n")
	}
	// A test result goes on its own lines under its row, wrapped: the
	// reason a test failed is what the admin needs to read.
	check := func(c *service.ProviderCheck, ok string) {
		text, style := "not tested yet: t tests it", st.Muted
		switch {
		case c != nil && c.OK:
			text, style = "test ok "+tui.Ago(c.At)+ok, st.Success
		case c != nil:
			text, style = "test failed "+tui.Ago(c.At)+": "+safetext.Sanitize(c.Error), st.Error
		}
		for _, l := range strings.Split(ansi.Wrap(text, max(m.width-22, 20), " "), "\n") {
			b.WriteString(" " + strings.Repeat(" ", 19) + style.Render(l) + "\n")
		}
	}
	for _, p := range d.Providers {
		state := st.Muted.Render("disabled")
		switch {
		case p.Enabled && !p.Configured:
			state = st.Warning.Render("enabled, incomplete (base URL or API key missing)")
		case p.Enabled:
			state = st.Success.Render("enabled")
		}
		row(safetext.Sanitize(p.Name), state+st.Muted.Render(fmt.Sprintf(" · default %s · %s", safetext.Sanitize(orDash(p.DefaultModel)), plural.N(p.Models, "model", "models"))))
		if p.Enabled {
			ok := ""
			if p.LastCheck != nil {
				ok = " (" + plural.N(len(p.LastCheck.Models), "model", "models") + " listed)"
			}
			check(p.LastCheck, ok)
		}
	}
	if kb := d.KnowledgeBase; kb != nil {
		token := tui.YesNo(kb.HasToken, "token set", "no token")
		row("knowledge base", ansi.Truncate(safetext.Sanitize(kb.URL), max(m.width-36, 20), "…")+st.Muted.Render(" · "+token))
		check(kb.LastCheck, "")
	} else {
		row("knowledge base", st.Muted.Render("none (assistants answer without retrieval)"))
	}
	return b.String()
}

// alertBanner is this month's budget alerts, wrapped to the screen: the
// org's budget's highest threshold crossed, in full, and the users whose
// budgets crossed one, named (a few) with their highest.
func (m *Dashboard) alertBanner(alerts []service.BudgetAlert) []string {
	st := m.c.Styles
	var org *service.BudgetAlert
	users := map[string]int{}
	var names []string
	for i, a := range alerts {
		switch a.Scope {
		case service.ScopeOrg:
			if org == nil || a.Threshold > org.Threshold {
				org = &alerts[i]
			}
		default:
			if _, ok := users[a.User]; !ok {
				names = append(names, a.User)
			}
			users[a.User] = max(users[a.User], a.Threshold)
		}
	}
	width := max(m.width-4, 20)
	var out []string
	add := func(text string, severe bool) {
		style := st.Warning
		if severe {
			style = st.Error
		}
		for i, l := range tui.Wrap(safetext.Sanitize(text), width) {
			mark := "  "
			if i == 0 {
				mark = "! "
			}
			out = append(out, " "+style.Render(mark+l))
		}
	}
	if org != nil {
		add(org.Message, org.Used >= org.Limit)
	}
	if len(names) > 0 {
		sort.SliceStable(names, func(i, j int) bool { return users[names[i]] > users[names[j]] })
		const shown = 3
		var parts []string
		for _, n := range names[:min(len(names), shown)] {
			parts = append(parts, fmt.Sprintf("%s (%d%%)", n, users[n])) // unbroken when wrapped
		}
		text := fmt.Sprintf("%s passed an alert on their monthly budget: %s", plural.N(len(names), "user", "users"), strings.Join(parts, ", "))
		if len(names) > shown {
			text += fmt.Sprintf(" and %d more", len(names)-shown)
		}
		add(text+"; the Audit screen has each (budget.alert), and Limits sets user_tokens_per_month", users[names[0]] >= 100)
	}
	if len(out) > 0 {
		out = append(out, "")
	}
	return out
}

// Bar draws used against a limit: "████░░░░ 1,200 / 10,000 (12%)".
func Bar(c *tui.Common, used, limit int64, width int) string {
	st := c.Styles
	if limit < 0 {
		return fmt.Sprintf("%s tokens %s", thousands(used), st.Muted.Render("(no monthly limit)"))
	}
	frac := 1.0
	if limit > 0 {
		frac = min(float64(used)/float64(limit), 1)
	}
	filled := int(frac * float64(width))
	style := st.Success
	switch {
	case frac >= 1:
		style = st.Error
	case frac >= 0.8:
		style = st.Warning
	}
	return style.Render(strings.Repeat("█", filled)) + st.Muted.Render(strings.Repeat("░", width-filled)) +
		fmt.Sprintf(" %s / %s (%d%%)", thousands(used), thousands(limit), int(frac*100))
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
