package orgadmin

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Limits shows an org's limits beside the ceiling the platform set, edits
// the limits (within the ceiling) and, for system admins, the ceiling.
type Limits struct {
	c       *tui.Common
	slug    string
	limits  *config.Limits
	ceiling config.Limits
	form    *tui.Form
	editing bool
	ceil    bool // the form edits the ceiling
	alerts  *service.AlertsView
	alertsF bool // the form edits the budget alerts
	err     error
	width   int
}

// NewLimits returns the limits screen of org slug.
func NewLimits(c *tui.Common, slug string) *Limits { return &Limits{c: c, slug: slug} }

type limitsMsg struct {
	owner           *Limits
	limits, ceiling config.Limits
	alerts          *service.AlertsView // with a load
	saved           bool                // the result of a save, not of a load
	err             error
}

// alertsMsg is the result of saving the budget alerts.
type alertsMsg struct {
	owner  *Limits
	alerts service.AlertsView
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
		if err != nil {
			return limitsMsg{owner: m, err: err}
		}
		al, err := m.c.Svc.BudgetAlerts(ctx, a, slug)
		return limitsMsg{owner: m, limits: d.Limits, ceiling: d.Ceiling, alerts: &al, err: err}
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

var (
	keyEditLimits  = tui.Bind("e", "edit limits")
	keyEditCeiling = tui.Bind("c", "edit the ceiling (system admins)")
	keyEditAlerts  = tui.Bind("a", "edit budget alerts")
)

// setsCeiling: the ceiling is the platform's, set by system admins (the
// service enforces it; the screen only offers it to them).
func (m *Limits) setsCeiling() bool {
	return m.c.Actor.Role == service.RoleSystemAdmin || m.c.Actor.ActingSystemAdmin
}

func (m *Limits) Keys() []key.Binding {
	if m.editing {
		return tui.FormKeys
	}
	if m.setsCeiling() {
		return []key.Binding{keyEditLimits, keyEditAlerts, keyEditCeiling, tui.KeyRefresh}
	}
	return []key.Binding{keyEditLimits, keyEditAlerts, tui.KeyRefresh}
}

func limitValues(l config.Limits) map[string]int64 {
	return map[string]int64{
		"tokens_per_month": l.TokensPerMonth, "requests_per_minute": l.RequestsPerMinute,
		"user_tokens_per_month": l.UserTokensPerMonth, "max_users": l.MaxUsers,
		"max_assistants": l.MaxAssistants, "max_assistants_per_user": l.MaxAssistantsPerUser,
	}
}

func (m *Limits) build(l config.Limits, ceiling bool) {
	values, top := limitValues(l), limitValues(m.ceiling)
	var fields []*tui.Field
	for _, f := range limitFields {
		hint := f.hint + "; -1 unlimited, 0 none"
		if c := top[f.key]; !ceiling && c != config.Unlimited {
			hint = fmt.Sprintf("%s; at most %d (the ceiling)", f.hint, c)
		}
		fields = append(fields, tui.NewField(tui.TextField, f.key, f.label, "-1 = unlimited").
			WithValue(strconv.FormatInt(values[f.key], 10)).WithHint(hint))
	}
	title, intro := "Limits of "+m.slug, "-1 means unlimited, 0 allows nothing. ctrl+s saves, esc leaves without saving."
	if ceiling {
		title = "Ceiling of " + m.slug
		intro = "The most this organization's admins may set. Limits above a lowered ceiling come down to it. ctrl+s saves, esc leaves."
	}
	m.form = tui.NewForm(m.c, title, fields...)
	m.form.Intro = intro
	m.form.SetWidth(m.width)
	m.editing, m.ceil, m.alertsF = true, ceiling, false
}

// buildAlerts opens the form of the budget alerts. The webhook shows
// masked; left so, it keeps the stored URL.
func (m *Limits) buildAlerts(v service.AlertsView) {
	levels := "none"
	if len(v.Thresholds) > 0 {
		parts := make([]string, len(v.Thresholds))
		for i, t := range v.Thresholds {
			parts[i] = strconv.Itoa(t)
		}
		levels = strings.Join(parts, ", ")
	}
	if v.Default {
		levels = "default"
	}
	m.form = tui.NewForm(m.c, "Budget alerts of "+m.slug,
		tui.NewField(tui.TextField, "thresholds", "Thresholds", "80, 100").WithValue(levels).
			WithHint("percents of tokens_per_month and of each user's user_tokens_per_month, increasing (1-1000, at most 10); none, or default (80, 100)"),
		tui.NewField(tui.TextField, "webhook_url", "Webhook URL", "https://…").WithValue(v.WebhookURL).
			WithHint("each alert is POSTed here as JSON; left masked it keeps the stored URL; empty removes it"),
	)
	m.form.Intro = "A threshold crossed is recorded once a month: audited, on the dashboard, in whoami, and sent to the webhook. ctrl+s saves, esc leaves."
	m.form.SetWidth(m.width)
	m.editing, m.ceil, m.alertsF = true, false, true
}

// parseAlerts reads the alerts form.
func (m *Limits) parseAlerts() (service.AlertsInput, error) {
	var in service.AlertsInput
	switch v := strings.ToLower(strings.TrimSpace(m.form.Value("thresholds"))); v {
	case "default":
		in.DefaultThresholds = true
	case "none", "":
		in.Thresholds = &[]int{}
	default:
		var list []int
		for _, part := range strings.Split(v, ",") {
			p := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), "%"))
			n, err := strconv.Atoi(p)
			if err != nil {
				return in, &service.InvalidError{Field: "thresholds", Message: fmt.Sprintf("%q is not a whole number; give percents like 50, 80, 100, or none, or default", p)}
			}
			list = append(list, n)
		}
		in.Thresholds = &list
	}
	u := strings.TrimSpace(m.form.Value("webhook_url"))
	in.WebhookURL = &u
	return in, nil
}

// alertsError puts an error about one threshold (alerts.thresholds[1])
// on the thresholds field.
func alertsError(err error) error {
	var ie *service.InvalidError
	if errors.As(err, &ie) && strings.HasPrefix(ie.Field, "alerts.thresholds[") {
		return &service.InvalidError{Field: "thresholds", Message: strings.TrimPrefix(ie.Field, "alerts.") + ": " + ie.Message}
	}
	return err
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
				m.limits, m.ceiling, m.alerts = &l, msg.ceiling, msg.alerts
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
		saved := "limits saved"
		if m.ceil {
			saved = "ceiling saved; limits above it came down to it"
		}
		m.limits, m.ceiling, m.editing, m.err = &l, msg.ceiling, false, nil
		return m, tui.Status(saved)
	case alertsMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			if m.editing && m.alertsF {
				m.form.SetError(alertsError(msg.err))
				return m, nil
			}
			return m, tui.Error(msg.err)
		}
		m.alerts, m.editing, m.alertsF = &msg.alerts, false, false
		return m, tui.Status("budget alerts saved")
	case tui.ShownMsg:
		if !m.editing {
			return m, m.Init()
		}
		return m, nil
	case tea.KeyMsg:
		if !m.editing {
			switch {
			case key.Matches(msg, keyEditLimits) && m.limits != nil:
				m.build(*m.limits, false)
			case key.Matches(msg, keyEditCeiling) && m.limits != nil && m.setsCeiling():
				m.build(m.ceiling, true)
			case key.Matches(msg, keyEditAlerts) && m.alerts != nil:
				m.buildAlerts(*m.alerts)
			case key.Matches(msg, tui.KeyRefresh):
				return m, m.Init()
			}
			return m, nil
		}
		submit, cancel, cmd := m.form.Update(msg)
		if cancel {
			m.editing = false
			if m.alertsF {
				m.alertsF = false
				return m, tui.Status("budget alerts not changed")
			}
			return m, tui.Status("limits not changed")
		}
		if submit && m.alertsF {
			in, err := m.parseAlerts()
			if err != nil {
				m.form.SetError(err)
				return m, nil
			}
			a, slug := m.c.Actor, m.slug
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				v, err := m.c.Svc.SetAlerts(ctx, a, slug, in)
				return alertsMsg{owner: m, alerts: v, err: err}
			})
		}
		if submit {
			l, err := m.parse()
			if err != nil {
				m.form.SetError(err)
				return m, nil
			}
			a, slug, ceiling := m.c.Actor, m.slug, m.ceiling
			if m.ceil {
				return m, m.c.Do(func(ctx context.Context) tea.Msg {
					c, limits, err := m.c.Svc.UpdateCeiling(ctx, a, slug, func(cur *config.Limits) { *cur = l })
					return limitsMsg{owner: m, limits: limits, ceiling: c, saved: true, err: err}
				})
			}
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				err := m.c.Svc.SetLimits(ctx, a, slug, l)
				return limitsMsg{owner: m, limits: l, ceiling: ceiling, saved: true, err: err}
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
	values, top := limitValues(*m.limits), limitValues(m.ceiling)
	edit := "  (e to edit)"
	if m.setsCeiling() {
		edit = "  (e to edit, c for the ceiling)"
	}
	var b strings.Builder
	b.WriteString(" " + st.Title.Render("Limits of "+safetext.Sanitize(m.slug)) + st.Muted.Render(edit) + "\n\n")
	b.WriteString(" " + st.Muted.Render(fmt.Sprintf("%-24s %-12s %-12s", "", "limit", "ceiling")) + "\n")
	// What each limit means goes beside it, wrapped to the room left; on
	// a terminal too narrow for that, the edit form still says it.
	const hintColumn = 1 + 24 + 1 + 12 + 1 + 12 + 1
	for _, f := range limitFields {
		var hint []string
		if room := m.width - hintColumn - 1; room >= 20 {
			hint = tui.Wrap(f.hint, room)
		}
		first := ""
		if len(hint) > 0 {
			first = " " + st.Muted.Render(hint[0])
		}
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-24s", f.label)) + " " + fmt.Sprintf("%-12s %-12s", limit(values[f.key]), limit(top[f.key])) +
			first + "\n")
		for _, l := range hint[min(1, len(hint)):] {
			b.WriteString(strings.Repeat(" ", hintColumn) + st.Muted.Render(l) + "\n")
		}
	}
	if v := m.alerts; v != nil {
		levels := "none: alerts are off"
		if len(v.Thresholds) > 0 {
			parts := make([]string, len(v.Thresholds))
			for i, t := range v.Thresholds {
				parts[i] = fmt.Sprintf("%d%%", t)
			}
			levels = strings.Join(parts, ", ") + " of the monthly budgets"
			if v.Default {
				levels += " (the defaults)"
			}
		}
		hook := "none"
		if v.WebhookURL != "" {
			hook = v.WebhookURL
		}
		// Two lines, so that they show on a 24-line terminal too.
		room := max(m.width-27, 10)
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-24s", "Budget alerts (a)")) + " " + ansi.Truncate(safetext.Sanitize(levels), room, "…") + "\n")
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-24s", "Alert webhook")) + " " + ansi.Truncate(safetext.Sanitize(hook), room, "…") + "\n")
	}
	return b.String()
}
