package tui

import (
	"context"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"lamb/service"
)

// SignIn is the screen an SSH key that no account has yet sees: email and
// password link the key to the account; the first-run claim code makes it
// the system admin.
type SignIn struct {
	c         *Common
	keyLine   string
	claim     bool
	claimOpen bool // the server is unclaimed: offer the claim code
	form      *Form
	busy      bool
}

// SignedInMsg says the key is now linked to an account.
type SignedInMsg struct{ Actor service.Actor }

type signInFailedMsg struct{ err error }

// NewSignIn returns the sign-in screen for the session's public key.
func NewSignIn(c *Common, keyLine string) *SignIn {
	m := &SignIn{c: c, keyLine: keyLine}
	m.reset()
	return m
}

func (m *SignIn) reset() {
	if m.claim {
		m.form = NewForm(m.c, "Claim this lamb server",
			NewField(TextField, "code", "Claim code", "XXXXX-XXXXX, printed in the server's log"),
			NewField(TextField, "email", "Your email", "name@example.org"),
			NewField(TextField, "name", "Your name", "full name"))
		m.form.Intro = "The first key that enters the claim code becomes the system admin."
	} else {
		m.form = NewForm(m.c, "Sign in to lamb",
			NewField(TextField, "email", "Email", "name@example.org"),
			NewField(PasswordField, "password", "Password", ""))
		m.form.Intro = "This SSH key is not linked to an account yet. Sign in once and it will be."
	}
	m.form.SetWidth(m.boxWidth() - 2)
}

// boxWidth is the width of the box the form sits in (its border aside);
// the form fits inside its padding.
func (m *SignIn) boxWidth() int { return max(min(m.c.Width-4, 86), 40) }

type claimOpenMsg bool

// Init asks whether the server can still be claimed.
func (m *SignIn) Init() tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg { return claimOpenMsg(m.c.Svc.ClaimOpen(ctx)) })
}

// Update handles keys and the result of a sign-in.
func (m *SignIn) Update(msg tea.Msg) (*SignIn, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.Width, m.c.Height = msg.Width, msg.Height
		m.form.SetWidth(m.boxWidth() - 2)
		return m, nil
	case resultMsg:
		msg.c.pending--
		return m.Update(msg.msg)
	case claimOpenMsg:
		m.claimOpen = bool(msg)
		return m, nil
	case SignedInMsg:
		// Results of service calls arrive wrapped; hand this one up to the
		// console, which swaps this screen for the user's console.
		return m, func() tea.Msg { return msg }
	case signInFailedMsg:
		m.busy = false
		m.form.SetError(msg.err)
		m.form.Clear("password")
		return m, nil
	case tea.KeyMsg:
		switch msg.String() {
		case "ctrl+c":
			return m, tea.Quit
		case "ctrl+o":
			if !m.claimOpen && !m.claim {
				return m, nil
			}
			m.claim = !m.claim
			m.reset()
			return m, nil
		}
		if m.busy {
			return m, nil
		}
		submit, cancel, cmd := m.form.Update(msg)
		if cancel {
			return m, tea.Quit
		}
		if submit {
			m.busy = true
			return m, m.submit()
		}
		return m, cmd
	}
	_, _, cmd := m.form.Update(msg)
	return m, cmd
}

func (m *SignIn) submit() tea.Cmd {
	claim, key := m.claim, m.keyLine
	email, password := m.form.Value("email"), m.form.Value("password")
	code, name := m.form.Value("code"), m.form.Value("name")
	return m.c.Do(func(ctx context.Context) tea.Msg {
		var a service.Actor
		var err error
		if claim {
			a, err = m.c.Svc.Claim(ctx, code, key, email, name)
		} else {
			a, err = m.c.Svc.SignIn(ctx, service.SignInInput{Key: key, Email: email, Password: password, RemoteAddr: m.c.RemoteAddr})
		}
		if err != nil {
			return signInFailedMsg{err}
		}
		return SignedInMsg{Actor: a}
	})
}

// View draws the form in the middle of the screen.
func (m *SignIn) View() string {
	st := m.c.Styles
	other := ""
	switch {
	case m.claim:
		other = "ctrl+o: back to email and password   "
	case m.claimOpen:
		other = "ctrl+o: first run? claim the server with its code   "
	}
	status := ""
	if m.busy {
		status = st.Muted.Render("checking…")
	}
	keys := strings.Join(Wrap("enter: next / sign in   "+other+"esc: leave", m.boxWidth()-2), "\n")
	body := st.Brand.Render("lamb") + "\n\n" + m.form.View() + "\n" + status + "\n" + st.Muted.Render(keys)
	box := st.Box.Width(m.boxWidth()).Render(body)
	return lipgloss.Place(max(m.c.Width, 1), max(m.c.Height, 1), lipgloss.Center, lipgloss.Center, box)
}
