package orgadmin

import (
	"context"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// SSHKeys lists one user's SSH keys and adds or removes them. With email ""
// it manages the signed-in user's own keys.
type SSHKeys struct {
	c        *tui.Common
	email    string
	keys     []service.SSHKey
	cursor   int
	err      error
	loaded   bool
	adding   bool
	form     *tui.Form
	confirm  *tui.Confirm
	removing string // the fingerprint the open confirmation names
	password bool   // the account has a password to sign in with
	width    int
	// Standalone is true on a screen of its own (no esc back).
	Standalone bool
}

// NewSSHKeys returns the SSH key manager of a user ("" = yourself).
func NewSSHKeys(c *tui.Common, email string) *SSHKeys { return &SSHKeys{c: c, email: email} }

type keysLoadedMsg struct {
	owner       *SSHKeys
	keys        []service.SSHKey
	hasPassword bool // the account can sign in with a password too
	err         error
}

type keyDoneMsg struct {
	owner *SSHKeys
	text  string
	err   error
}

// Init loads the keys.
func (m *SSHKeys) Init() tea.Cmd {
	a, email := m.c.Actor, m.email
	return m.c.Do(func(ctx context.Context) tea.Msg {
		ks, err := m.c.Svc.ListSSHKeys(ctx, a, email)
		if err != nil {
			return keysLoadedMsg{owner: m, err: err}
		}
		// Whether a password is there to fall back on decides what
		// removing the last key means.
		var hasPassword bool
		if email == "" {
			id, err := m.c.Svc.Whoami(ctx, a)
			hasPassword = err == nil && id.HasPassword
		} else {
			u, err := m.c.Svc.GetUser(ctx, a, email)
			hasPassword = err == nil && u.HasPassword
		}
		return keysLoadedMsg{owner: m, keys: ks, hasPassword: hasPassword}
	})
}

// SetSize sets the width.
func (m *SSHKeys) SetSize(w, h int) {
	m.width = w
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

// Capturing is true while the add form has focus.
func (m *SSHKeys) Capturing() bool { return m.adding }

// Modal is true while the removal is being confirmed.
func (m *SSHKeys) Modal() bool { return m.confirm != nil }

var (
	keyAddKey    = tui.Bind("a", "add key")
	keyRemoveKey = tui.Bind("x", "remove key")
)

// Keys for the help line.
func (m *SSHKeys) Keys() []key.Binding {
	switch {
	case m.adding:
		return tui.FormKeys
	case m.confirm != nil:
		return m.confirm.Keys()
	}
	ks := []key.Binding{keyAddKey, keyRemoveKey, tui.KeyUp, tui.KeyDown}
	if !m.Standalone {
		ks = append(ks, tui.KeyBack)
	}
	return ks
}

// Update handles msg; back reports esc (leave the key view).
func (m *SSHKeys) Update(msg tea.Msg) (back bool, cmd tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		return false, m.Init() // keys may have been added or removed elsewhere
	case keysLoadedMsg:
		if msg.owner == m {
			m.loaded, m.err, m.keys, m.password = true, msg.err, msg.keys, msg.hasPassword
			m.cursor = min(m.cursor, max(len(m.keys)-1, 0))
		}
		return false, nil
	case keyDoneMsg:
		if msg.owner != m {
			return false, nil
		}
		if msg.err != nil {
			if m.adding {
				m.form.SetError(msg.err)
				return false, nil
			}
			return false, tui.Error(msg.err)
		}
		m.adding = false
		return false, tea.Batch(tui.Status(msg.text), m.Init())
	case tea.KeyMsg:
		return m.key(msg)
	}
	if m.adding {
		_, _, cmd := m.form.Update(msg)
		return false, cmd
	}
	return false, nil
}

func (m *SSHKeys) key(msg tea.KeyMsg) (bool, tea.Cmd) {
	a := m.c.Actor
	if m.adding {
		submit, cancel, cmd := m.form.Update(msg)
		if cancel {
			m.adding = false
		}
		if submit {
			line, email := m.form.Value("ssh_key"), m.email
			return false, m.c.Do(func(ctx context.Context) tea.Msg {
				k, err := m.c.Svc.AddSSHKey(ctx, a, email, line)
				return keyDoneMsg{m, "added " + k.Fingerprint, err}
			})
		}
		return false, cmd
	}
	if m.confirm != nil {
		switch m.confirm.Update(msg) {
		case "esc":
			m.confirm = nil
		case "y":
			// The key the question named, not the one under the cursor
			// now: the list may have reloaded under the dialog.
			m.confirm = nil
			fp := m.removing
			return false, m.c.Do(func(ctx context.Context) tea.Msg {
				return keyDoneMsg{m, "removed " + fp, m.c.Svc.RemoveSSHKey(ctx, a, fp)}
			})
		}
		return false, nil
	}
	switch {
	case key.Matches(msg, tui.KeyBack) && !m.Standalone:
		return true, nil
	case key.Matches(msg, tui.KeyUp):
		m.cursor = max(m.cursor-1, 0)
	case key.Matches(msg, tui.KeyDown):
		m.cursor = min(m.cursor+1, max(len(m.keys)-1, 0))
	case key.Matches(msg, keyAddKey):
		m.form = tui.NewForm(m.c, "Add an SSH key",
			tui.NewField(tui.TextField, "ssh_key", "Public key", "ssh-ed25519 AAAA… user@host").
				WithHint("Paste one line of a .pub file (cat ~/.ssh/id_ed25519.pub)."))
		m.form.SetWidth(m.width)
		m.adding = true
	case key.Matches(msg, keyRemoveKey) && len(m.keys) > 0:
		k := m.keys[m.cursor]
		own := m.email == "" || strings.EqualFold(m.email, a.Email)
		if own && len(m.keys) == 1 && !m.password {
			// The service refuses it too; say why before asking.
			return false, tui.Error(&service.InvalidError{Message: "this is your only SSH key and your account has no password: " +
				"removing it would lock you out. Add another key first (a), or choose a password (p), then remove this one."})
		}
		m.removing = k.Fingerprint
		m.confirm = tui.NewConfirm(m.c, "Remove "+k.Fingerprint+"?", m.removalText(k, own))
	}
	return false, nil
}

// removalText says what removing k means for signing in: only the way
// back that the account really has (other keys, a password) is offered.
func (m *SSHKeys) removalText(k service.SSHKey, own bool) string {
	others := len(m.keys) - 1
	switch {
	case k.Fingerprint == m.c.Actor.Via && others > 0 && m.password:
		return "This is the key you are signed in with: this session ends when it is removed. Sign in again with one of your other keys, or with your email and password from a new key."
	case k.Fingerprint == m.c.Actor.Via && others > 0:
		return "This is the key you are signed in with: this session ends when it is removed. Sign in again with one of your other keys."
	case k.Fingerprint == m.c.Actor.Via:
		return "This is your only key and the one you are signed in with: this session ends when it is removed. Next time, sign in with your email and password; that links the new key."
	case own && others > 0:
		return "Whoever holds this key can no longer sign in with it. Your other keys keep working."
	case own:
		return "This is your only key: from now on you sign in with your email and password, which links the key you use."
	case others > 0:
		return "Whoever holds this key can no longer sign in with it. Their other keys keep working."
	case m.password:
		return "This is the only key of " + m.email + ": they sign in next with their email and password, which links a new key."
	}
	return "This is the only key of " + m.email + " and they have no password: they can't sign in until you add a key for them (a) or give them a one-time password (p on the Users list)."
}

// View draws the keys.
func (m *SSHKeys) View() string {
	st := m.c.Styles
	if m.adding {
		return m.form.View()
	}
	if m.confirm != nil {
		return m.confirm.View()
	}
	who := m.email
	if who == "" {
		who = "your account"
	}
	out := " " + st.Title.Render("SSH keys of "+safetext.Sanitize(who)) + "\n\n"
	switch {
	case m.err != nil:
		return out + " " + st.Error.Render(tui.ErrorText(m.err))
	case !m.loaded:
		return out + st.Muted.Render(" loading…")
	case len(m.keys) == 0:
		return out + st.Muted.Render(" no keys: press a to add one")
	}
	for i, k := range m.keys {
		// Comments come from whoever added the key (signup, sign-in):
		// drawn, never obeyed.
		fp := safetext.Sanitize(k.Fingerprint)
		line := fp
		if k.Fingerprint == m.c.Actor.Via {
			line += st.Success.Render("  (this session)")
		}
		note := safetext.Sanitize(k.Comment)
		if note == "" { // keys linked at sign-in carry no comment
			note = "added " + k.CreatedAt.Format("2006-01-02")
		}
		details := safetext.Sanitize(k.Type) + "  " + st.Muted.Render("last used "+tui.Ago(k.LastUsedAt)) + "  " + st.Muted.Render(note)
		if i == m.cursor {
			line = st.Selected.Render(fp) + line[len(fp):]
		}
		// On a narrow terminal the details go under the fingerprint
		// rather than past the edge.
		if m.width > 0 && lipgloss.Width(" "+line+"  "+details) > m.width {
			out += " " + line + "\n" + "   " + tui.Truncate(details, m.width-3) + "\n"
			continue
		}
		out += " " + line + "  " + details + "\n"
	}
	return out
}
