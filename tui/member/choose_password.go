package member

import (
	"context"
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

// ChoosePassword is the only screen of a session opened with a one-time
// password: the user chooses their own before anything else.
type ChoosePassword struct {
	c    *tui.Common
	form *tui.Form
}

// PasswordChosenMsg says the user chose their password: the session goes
// on to its console.
type PasswordChosenMsg struct{}

type choseMsg struct {
	owner *ChoosePassword
	err   error
}

// NewChoosePassword returns the screen.
func NewChoosePassword(c *tui.Common) *ChoosePassword {
	m := &ChoosePassword{c: c}
	m.form = tui.NewForm(c, "Choose your password",
		tui.NewField(tui.PasswordField, "new_password", "New password", fmt.Sprintf("%d+ characters", service.MinPasswordLength)),
		tui.NewField(tui.PasswordField, "repeat", "Repeat", "the new password again"))
	m.form.Intro = "Your one-time password is used up: choose your own to go on. ctrl+s saves."
	return m
}

func (m *ChoosePassword) Title() string       { return "Choose your password" }
func (m *ChoosePassword) Init() tea.Cmd       { return nil }
func (m *ChoosePassword) SetSize(w, h int)    { m.form.SetWidth(w) }
func (m *ChoosePassword) Keys() []key.Binding { return tui.FormKeys }
func (m *ChoosePassword) Capturing() bool     { return true }
func (m *ChoosePassword) View() string        { return m.form.View() }

func (m *ChoosePassword) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case choseMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			m.form.SetError(msg.err)
			return m, nil
		}
		return m, func() tea.Msg { return PasswordChosenMsg{} }
	case tea.KeyMsg:
		submit, _, cmd := m.form.Update(msg) // esc has nowhere else to go
		switch {
		case submit && m.form.Value("new_password") != m.form.Value("repeat"):
			m.form.SetError(&service.InvalidError{Field: "repeat", Message: "doesn't match the new password"})
		case submit:
			next, a := m.form.Value("new_password"), m.c.Actor
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				return choseMsg{owner: m, err: m.c.Svc.ChangePassword(ctx, a, "", next)}
			})
		}
		return m, cmd
	}
	_, _, cmd := m.form.Update(msg)
	return m, cmd
}
