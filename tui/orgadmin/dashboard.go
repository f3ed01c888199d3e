package orgadmin

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

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
}

func (m *Dashboard) Title() string       { return "Dashboard" }
func (m *Dashboard) SetSize(w, h int)    { m.width = w }
func (m *Dashboard) Capturing() bool     { return false }
func (m *Dashboard) Keys() []key.Binding { return []key.Binding{tui.KeyRefresh} }

func (m *Dashboard) Init() tea.Cmd {
	slug, a := m.slug, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		d, err := m.c.Svc.Dashboard(ctx, a, slug)
		return dashboardMsg{slug, d, err}
	})
}

func (m *Dashboard) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		return m, m.Init()
	case dashboardMsg:
		if msg.slug == m.slug {
			m.err = msg.err
			if msg.err == nil {
				m.d = &msg.d
			}
		}
	case tea.KeyMsg:
		if key.Matches(msg, tui.KeyRefresh) {
			return m, m.Init()
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
	for _, p := range d.Providers {
		state := st.Muted.Render("disabled")
		switch {
		case p.Enabled && !p.Configured:
			state = st.Warning.Render("enabled, incomplete (base URL or API key missing)")
		case p.Enabled:
			state = st.Success.Render("enabled")
		}
		check := st.Muted.Render("not tested")
		if c := p.LastCheck; c != nil && c.OK {
			check = st.Success.Render(fmt.Sprintf("test ok %s (%d models)", tui.Ago(c.At), len(c.Models)))
		} else if c != nil {
			check = st.Error.Render("test failed " + tui.Ago(c.At) + ": " + safetext.Sanitize(c.Error))
		}
		row(safetext.Sanitize(p.Name), state+st.Muted.Render(fmt.Sprintf(" · default %s · %d models · ", safetext.Sanitize(orDash(p.DefaultModel)), p.Models))+check)
	}
	if kb := d.KnowledgeBase; kb != nil {
		check := st.Muted.Render("not tested")
		if c := kb.LastCheck; c != nil && c.OK {
			check = st.Success.Render("test ok " + tui.Ago(c.At))
		} else if c != nil {
			check = st.Error.Render("test failed " + tui.Ago(c.At) + ": " + safetext.Sanitize(c.Error))
		}
		token := tui.YesNo(kb.HasToken, "token set", "no token")
		row("knowledge base", safetext.Sanitize(kb.URL)+st.Muted.Render(" · "+token+" · ")+check)
	} else {
		row("knowledge base", st.Muted.Render("none (assistants answer without retrieval)"))
	}
	return b.String()
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
