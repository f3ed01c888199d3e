// Package member holds the screens every signed-in user has for their own
// account.
package member

import (
	"context"
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
	"lamb/tui/orgadmin"
)

// Account shows who you are, your SSH keys, and changes your password.
type Account struct {
	c        *tui.Common
	id       *service.Identity
	err      error
	keys     *orgadmin.SSHKeys
	form     *tui.Form
	changing bool
	width    int
}

// NewAccount returns the account screen.
func NewAccount(c *tui.Common) *Account {
	k := orgadmin.NewSSHKeys(c, "")
	k.Standalone = true
	return &Account{c: c, keys: k}
}

type identityMsg struct {
	id  service.Identity
	err error
}

type passwordDoneMsg struct{ err error }

func (m *Account) Title() string { return "My account" }

func (m *Account) Init() tea.Cmd {
	a := m.c.Actor
	return tea.Batch(m.c.Do(func(ctx context.Context) tea.Msg {
		id, err := m.c.Svc.Whoami(ctx, a)
		return identityMsg{id, err}
	}), m.keys.Init())
}

func (m *Account) SetSize(w, h int) {
	m.width = w
	m.keys.SetSize(w, h)
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Account) Capturing() bool { return m.changing || m.keys.Capturing() }

// Modal is true while a key's removal is being confirmed.
func (m *Account) Modal() bool { return m.keys.Modal() }

// JumpKey opens the account with m in every role's console.
func (m *Account) JumpKey() string { return "m" }

var keyPassword = tui.Bind("p", "change password")

func (m *Account) Keys() []key.Binding {
	if m.changing {
		return tui.FormKeys
	}
	if m.keys.Capturing() || m.keys.Modal() {
		return m.keys.Keys() // the form's or the question's keys only
	}
	return append([]key.Binding{keyPassword}, m.keys.Keys()...)
}

func (m *Account) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		if m.changing {
			return m, nil
		}
		return m, m.Init()
	case identityMsg:
		m.err = msg.err
		if msg.err == nil {
			m.id = &msg.id
		}
		return m, nil
	case passwordDoneMsg:
		if msg.err != nil {
			m.form.SetError(msg.err)
			return m, nil
		}
		m.changing = false
		return m, tui.Status("password changed")
	case tea.KeyMsg:
		if m.changing {
			submit, cancel, cmd := m.form.Update(msg)
			switch {
			case cancel:
				m.changing = false
			case submit && m.form.Value("new_password") != m.form.Value("repeat"):
				m.form.SetError(&service.InvalidError{Field: "repeat", Message: "doesn't match the new password"})
			case submit:
				old, next, a := m.form.Value("old_password"), m.form.Value("new_password"), m.c.Actor
				return m, m.c.Do(func(ctx context.Context) tea.Msg {
					return passwordDoneMsg{m.c.Svc.ChangePassword(ctx, a, old, next)}
				})
			}
			return m, cmd
		}
		if !m.keys.Capturing() && !m.keys.Modal() && key.Matches(msg, keyPassword) {
			m.form = tui.NewForm(m.c, "Change your password",
				tui.NewField(tui.PasswordField, "old_password", "Current password", "empty if you never had one"),
				tui.NewField(tui.PasswordField, "new_password", "New password", fmt.Sprintf("%d+ characters", service.MinPasswordLength)),
				tui.NewField(tui.PasswordField, "repeat", "Repeat", "the new password again"))
			m.form.SetWidth(m.width)
			m.changing = true
			return m, nil
		}
	}
	if m.changing {
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	}
	_, cmd := m.keys.Update(msg)
	return m, cmd
}

func (m *Account) View() string {
	st := m.c.Styles
	if m.changing {
		return m.form.View()
	}
	out := ""
	switch {
	case m.err != nil:
		out = " " + st.Error.Render(tui.ErrorText(m.err)) + "\n"
	case m.id == nil:
		out = st.Muted.Render(" loading…") + "\n"
	default:
		row := func(l, v string) string { return " " + st.Label.Render(fmt.Sprintf("%-14s", l)) + " " + v + "\n" }
		id := m.id
		out = " " + st.Title.Render(safetext.Sanitize(id.Name)) + "\n\n" +
			row("Email", safetext.Sanitize(id.Email)) + row("Organization", safetext.Sanitize(id.OrgName)+st.Muted.Render(" ("+safetext.Sanitize(id.OrgSlug)+")")) +
			row("Role", id.Role) + row("Signed in with", safetext.Sanitize(id.Via))
	}
	return out + "\n" + m.keys.View()
}
