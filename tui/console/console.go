// Package console is the root of an SSH session's TUI: the sign-in screen
// for an unknown key, then the console of the actor's role. A system admin
// can open any org with its admin screens and come back.
package console

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
	"lamb/tui/member"
	"lamb/tui/orgadmin"
	"lamb/tui/sysadmin"
)

// Model is the session's root model.
type Model struct {
	c      *tui.Common
	signIn *tui.SignIn
	shells []*tui.Shell // the first is the actor's own console; more are orgs opened as admin
}

// New returns the root model. signedIn says whether c.Actor is known; if
// not, the sign-in screen comes first for keyLine.
func New(c *tui.Common, signedIn bool, keyLine string) *Model {
	m := &Model{c: c}
	if signedIn {
		m.shells = []*tui.Shell{shellFor(c)}
	} else {
		m.signIn = tui.NewSignIn(c, keyLine)
	}
	return m
}

var keyLeave = key.NewBinding(key.WithKeys("ctrl+b"), key.WithHelp("ctrl+b", "back to system console"))

// shellFor builds the screens of the actor's role; a session opened with
// a one-time password gets only the screen that chooses a password.
func shellFor(c *tui.Common) *tui.Shell {
	if c.Actor.MustChoosePassword {
		return tui.NewShell(c, member.NewChoosePassword(c))
	}
	switch c.Actor.Role {
	case service.RoleSystemAdmin:
		return tui.NewShell(c, sysadmin.NewOrgs(c), orgadmin.NewUsers(c), sysadmin.NewSystem(c), member.NewUsage(c, true),
			orgadmin.NewAudit(c), member.NewAccount(c))
	case service.RoleOrgAdmin:
		slug := c.Actor.OrgSlug
		s := tui.NewShell(c,
			orgadmin.NewDashboard(c, slug), orgadmin.NewUsers(c), orgadmin.NewSignup(c, slug),
			orgadmin.NewProviders(c, slug), orgadmin.NewLimits(c, slug), member.NewAssistants(c, true),
			member.NewAPIKeys(c, true), member.NewUsage(c, true), orgadmin.NewOrg(c, slug, false),
			orgadmin.NewAudit(c), member.NewAccount(c))
		if c.Actor.ActingSystemAdmin {
			s.Banner = "Working in " + c.Actor.OrgSlug + " as its admin (audited) · ctrl+b: back to the system console"
			s.Extra = []key.Binding{keyLeave}
		}
		return s
	}
	return tui.NewShell(c, member.NewAssistants(c, false), member.NewAPIKeys(c, false), member.NewUsage(c, false), member.NewAccount(c))
}

// Init starts the first screen.
func (m *Model) Init() tea.Cmd {
	if m.signIn != nil {
		return m.signIn.Init()
	}
	return m.top().Init()
}

func (m *Model) top() *tui.Shell { return m.shells[len(m.shells)-1] }

// Update routes to the sign-in screen or the top console.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if ws, ok := msg.(tea.WindowSizeMsg); ok {
		m.c.Width, m.c.Height = ws.Width, ws.Height
	}
	if m.signIn != nil {
		if in, ok := msg.(tui.SignedInMsg); ok {
			m.c.Actor = in.Actor
			m.signIn = nil
			m.shells = []*tui.Shell{shellFor(m.c)}
			sh := m.top()
			sh.Update(tea.WindowSizeMsg{Width: m.c.Width, Height: m.c.Height})
			return m, tea.Batch(sh.Init(), tui.Status("signed in; this SSH key is now linked to "+in.Actor.Email))
		}
		var cmd tea.Cmd
		m.signIn, cmd = m.signIn.Update(msg)
		return m, cmd
	}
	switch msg := msg.(type) {
	case member.PasswordChosenMsg:
		m.c.Actor.MustChoosePassword = false
		m.shells = []*tui.Shell{shellFor(m.c)}
		sh := m.top()
		sh.Update(tea.WindowSizeMsg{Width: m.c.Width, Height: m.c.Height})
		return m, tea.Batch(sh.Init(), tui.Status("password saved; welcome"))
	case sysadmin.OpenOrgMsg:
		sub := m.c.Sub(msg.Actor)
		sh := shellFor(sub)
		m.shells = append(m.shells, sh)
		sh.Update(tea.WindowSizeMsg{Width: m.c.Width, Height: m.c.Height})
		return m, sh.Init()
	case tea.KeyMsg:
		// ctrl+b moves the cursor in a text field: a screen that takes
		// text keeps it.
		if key.Matches(msg, keyLeave) && len(m.shells) > 1 && !m.top().Capturing() {
			m.shells = m.shells[:len(m.shells)-1]
			// What was done in the org may show here (counts, users,
			// audit): the screen coming back refreshes.
			_, cmd := m.top().Update(tui.ShownMsg{})
			return m, tea.Batch(cmd, tui.Status("back in the system console"))
		}
	case tea.WindowSizeMsg:
		for _, sh := range m.shells {
			sh.Update(msg)
		}
		return m, nil
	case spinner.TickMsg:
		// Each shell's spinner keeps ticking while its calls run, also
		// under another shell, so that it still turns when shown again.
		var cmds []tea.Cmd
		for _, sh := range m.shells {
			_, cmd := sh.Update(msg)
			cmds = append(cmds, cmd)
		}
		return m, tea.Batch(cmds...)
	}
	// A result goes to the shell whose screen asked for it, which may be
	// under the top one (a list still loading when an org was opened).
	if owner, ok := tui.ResultOwner(msg); ok {
		for _, sh := range m.shells {
			if sh.Common() == owner {
				_, cmd := sh.Update(msg)
				return m, cmd
			}
		}
	}
	_, cmd := m.top().Update(msg)
	return m, cmd
}

// View draws the sign-in screen or the top console.
func (m *Model) View() string {
	if m.signIn != nil {
		return m.signIn.View()
	}
	return m.top().View()
}
