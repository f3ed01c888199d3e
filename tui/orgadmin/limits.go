package orgadmin

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Limits edits an org's limits.
type Limits struct {
	c       *tui.Common
	slug    string
	limits  *config.Limits
	form    *tui.Form
	editing bool
	err     error
	width   int
}

// NewLimits returns the limits screen of org slug.
func NewLimits(c *tui.Common, slug string) *Limits { return &Limits{c: c, slug: slug} }

type limitsMsg struct {
	owner  *Limits
	limits config.Limits
	saved  bool // the result of a save, not of a load
	err    error
}

var limitFields = []struct{ key, label, hint string }{
	{"tokens_per_month", "Tokens per month", "prompt + completion tokens of the whole organization, per calendar month (UTC)"},
	{"requests_per_minute", "Requests per minute", "completion requests of the whole organization"},
	{"user_tokens_per_month", "Tokens per user/month", "per assistant owner, per calendar month"},
	{"max_users", "Max users", "accounts in the organization (signup and admin-created)"},
	{"max_assistants", "Max assistants", "assistants in the organization"},
	{"max_assistants_per_user", "Assistants per user", "assistants one user may own"},
}

func (m *Limits) Title() string { return "Limits" }

func (m *Limits) Init() tea.Cmd {
	a, slug := m.c.Actor, m.slug
	return m.c.Do(func(ctx context.Context) tea.Msg {
		d, err := m.c.Svc.GetOrg(ctx, a, slug)
		return limitsMsg{owner: m, limits: d.Limits, err: err}
	})
}

func (m *Limits) SetSize(w, h int) {
	m.width = w
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

// Capturing is true while the limits are edited.
func (m *Limits) Capturing() bool { return m.editing }

var keyEditLimits = tui.Bind("e", "edit limits")

func (m *Limits) Keys() []key.Binding {
	if m.editing {
		return tui.FormKeys
	}
	return []key.Binding{keyEditLimits, tui.KeyRefresh}
}

func (m *Limits) build(l config.Limits) {
	values := map[string]int64{
		"tokens_per_month": l.TokensPerMonth, "requests_per_minute": l.RequestsPerMinute,
		"user_tokens_per_month": l.UserTokensPerMonth, "max_users": l.MaxUsers,
		"max_assistants": l.MaxAssistants, "max_assistants_per_user": l.MaxAssistantsPerUser,
	}
	var fields []*tui.Field
	for _, f := range limitFields {
		fields = append(fields, tui.NewField(tui.TextField, f.key, f.label, "-1 = unlimited").
			WithValue(strconv.FormatInt(values[f.key], 10)).WithHint(f.hint+"; -1 unlimited, 0 none"))
	}
	m.form = tui.NewForm(m.c, "Limits of "+m.slug, fields...)
	m.form.Intro = "-1 means unlimited, 0 allows nothing. ctrl+s saves, esc leaves without saving."
	m.form.SetWidth(m.width)
}

func (m *Limits) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case limitsMsg:
		if msg.owner != m {
			return m, nil
		}
		l := msg.limits
		if !msg.saved {
			// A load, maybe started before the form opened: it updates
			// what the screen shows and leaves the form alone.
			m.err = msg.err
			if msg.err == nil {
				m.limits = &l
			}
			return m, nil
		}
		if msg.err != nil {
			if m.editing {
				m.form.SetError(msg.err)
				return m, nil
			}
			return m, tui.Error(msg.err)
		}
		m.limits, m.editing, m.err = &l, false, nil
		return m, tui.Status("limits saved")
	case tui.ShownMsg:
		if !m.editing {
			return m, m.Init()
		}
		return m, nil
	case tea.KeyMsg:
		if !m.editing {
			switch {
			case key.Matches(msg, keyEditLimits) && m.limits != nil:
				m.build(*m.limits)
				m.editing = true
			case key.Matches(msg, tui.KeyRefresh):
				return m, m.Init()
			}
			return m, nil
		}
		submit, cancel, cmd := m.form.Update(msg)
		if cancel {
			m.editing = false
			return m, tui.Status("limits not changed")
		}
		if submit {
			l, err := m.parse()
			if err != nil {
				m.form.SetError(err)
				return m, nil
			}
			a, slug := m.c.Actor, m.slug
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				err := m.c.Svc.SetLimits(ctx, a, slug, l)
				return limitsMsg{owner: m, limits: l, saved: true, err: err}
			})
		}
		return m, cmd
	}
	if m.editing {
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Limits) parse() (config.Limits, error) {
	v := map[string]int64{}
	for _, f := range limitFields {
		s := strings.ReplaceAll(strings.TrimSpace(m.form.Value(f.key)), ",", "")
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return config.Limits{}, &service.InvalidError{Field: f.key, Message: fmt.Sprintf("%q is not a whole number (-1 = unlimited)", s)}
		}
		v[f.key] = n
	}
	return config.Limits{
		TokensPerMonth: v["tokens_per_month"], RequestsPerMinute: v["requests_per_minute"],
		UserTokensPerMonth: v["user_tokens_per_month"], MaxUsers: v["max_users"],
		MaxAssistants: v["max_assistants"], MaxAssistantsPerUser: v["max_assistants_per_user"],
	}, nil
}

func (m *Limits) View() string {
	st := m.c.Styles
	if m.editing {
		return m.form.View()
	}
	if m.limits == nil {
		if m.err != nil {
			return " " + st.Error.Render(tui.ErrorText(m.err))
		}
		return st.Muted.Render(" loading…")
	}
	l := m.limits
	values := map[string]int64{
		"tokens_per_month": l.TokensPerMonth, "requests_per_minute": l.RequestsPerMinute,
		"user_tokens_per_month": l.UserTokensPerMonth, "max_users": l.MaxUsers,
		"max_assistants": l.MaxAssistants, "max_assistants_per_user": l.MaxAssistantsPerUser,
	}
	var b strings.Builder
	b.WriteString(" " + st.Title.Render("Limits of "+safetext.Sanitize(m.slug)) + st.Muted.Render("  (e to edit)") + "\n\n")
	for _, f := range limitFields {
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-24s", f.label)) + " " + fmt.Sprintf("%-12s", limit(values[f.key])) + " " + st.Muted.Render(f.hint) + "\n")
	}
	return b.String()
}
