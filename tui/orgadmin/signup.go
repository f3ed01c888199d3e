package orgadmin

import (
	"context"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// Signup turns an org's self-service signup on and off and manages its key.
type Signup struct {
	c       *tui.Common
	slug    string
	info    *service.Signup
	err     error
	form    *tui.Form
	confirm *tui.Confirm
	off     bool // the open confirmation turns signup off (else: new key)
	width   int
}

// NewSignup returns the signup screen of org slug.
func NewSignup(c *tui.Common, slug string) *Signup { return &Signup{c: c, slug: slug} }

type signupMsg struct {
	owner *Signup
	info  service.Signup
	text  string
	err   error
}

var (
	keyToggle = tui.Bind("e", "enable/disable")
	keyReveal = tui.Bind("v", "reveal key")
	keyHide   = tui.Bind("v", "hide key")
	keySetKey = tui.Bind("k", "set key")
	keyRotate = tui.Bind("g", "generate new key")
)

func (m *Signup) Title() string { return "Signup" }

func (m *Signup) Init() tea.Cmd { return m.call("", false) }

func (m *Signup) call(done string, reveal bool) tea.Cmd {
	a, slug := m.c.Actor, m.slug
	return m.c.Do(func(ctx context.Context) tea.Msg {
		info, err := m.c.Svc.SignupInfo(ctx, a, slug, reveal)
		return signupMsg{m, info, done, err}
	})
}

func (m *Signup) SetSize(w, h int) {
	m.width = w
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Signup) Capturing() bool { return m.form != nil }
func (m *Signup) Modal() bool     { return m.confirm != nil }

func (m *Signup) Keys() []key.Binding {
	switch {
	case m.form != nil:
		return tui.FormKeys
	case m.confirm != nil:
		return m.confirm.Keys()
	}
	reveal := keyReveal
	if m.info != nil && m.info.Key != "" {
		reveal = keyHide
	}
	return []key.Binding{keyToggle, reveal, keySetKey, keyRotate, tui.KeyRefresh}
}

func (m *Signup) run(fn func(ctx context.Context) (service.Signup, error), done string) tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg {
		info, err := fn(ctx)
		return signupMsg{m, info, done, err}
	})
}

func (m *Signup) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	a, slug := m.c.Actor, m.slug
	switch msg := msg.(type) {
	case tui.ShownMsg:
		if m.form == nil && m.confirm == nil {
			return m, m.Init()
		}
		return m, nil
	case signupMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			if m.form != nil {
				m.form.SetError(msg.err)
				return m, nil
			}
			m.err = msg.err
			return m, tui.Error(msg.err)
		}
		m.err, m.form = nil, nil
		m.info = &msg.info
		if msg.text != "" {
			return m, tui.Status(msg.text)
		}
		return m, nil
	case tea.KeyMsg:
		if m.form != nil {
			submit, cancel, cmd := m.form.Update(msg)
			switch {
			case cancel:
				m.form = nil
			case submit:
				k := strings.TrimSpace(m.form.Value("signup_key"))
				return m, m.run(func(ctx context.Context) (service.Signup, error) {
					return m.c.Svc.SetSignupKey(ctx, a, slug, k)
				}, "signup key set")
			}
			return m, cmd
		}
		if m.confirm != nil {
			switch m.confirm.Update(msg) {
			case "esc":
				m.confirm = nil
			case "y":
				m.confirm = nil
				if m.off {
					return m, m.run(func(ctx context.Context) (service.Signup, error) {
						return m.c.Svc.SetSignupEnabled(ctx, a, slug, false)
					}, "signup disabled")
				}
				return m, m.run(func(ctx context.Context) (service.Signup, error) {
					return m.c.Svc.RotateSignupKey(ctx, a, slug)
				}, "new signup key generated; the old one no longer works")
			}
			return m, nil
		}
		switch {
		case key.Matches(msg, tui.KeyRefresh):
			return m, m.Init()
		case key.Matches(msg, keyReveal) && m.info != nil && m.info.Key != "":
			m.info.Key, m.info.URL = "", ""
			return m, tui.Status("key hidden; v shows it again")
		case key.Matches(msg, keyReveal) && m.info != nil && !m.info.HasKey:
			return m, tui.Status("there is no key to show yet: e enables signup and generates one, k sets one")
		case key.Matches(msg, keyReveal):
			return m, m.call("key and link shown (revealing is audited); v hides them", true)
		case key.Matches(msg, keyToggle) && m.info != nil && !m.info.Enabled:
			return m, m.run(func(ctx context.Context) (service.Signup, error) {
				return m.c.Svc.SetSignupEnabled(ctx, a, slug, true)
			}, "signup enabled")
		case key.Matches(msg, keyToggle) && m.info != nil:
			m.off = true
			m.confirm = tui.NewConfirm(m.c, "Turn signup off for "+slug+"?",
				"The signup form and link stop working until signup is turned on again; the key is kept. Accounts made so far stay.")
			return m, nil
		case key.Matches(msg, keySetKey):
			m.form = tui.NewForm(m.c, "Set the signup key",
				tui.NewField(tui.TextField, "signup_key", "Signup key", "16-64 of A-Z a-z 0-9 - _, 8+ different, no runs like 1234").
					WithHint("Hard to guess: at least 16 characters, 8 of them different. Keys are unique across the platform; g (generate) makes a strong one."))
			m.form.SetWidth(m.width)
			return m, nil
		case key.Matches(msg, keyRotate):
			m.off = false
			m.confirm = tui.NewConfirm(m.c, "Generate a new signup key?",
				"The current key and the links that carry it stop working at once; hand out the new link.")
			return m, nil
		}
	}
	if m.form != nil {
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Signup) View() string {
	st := m.c.Styles
	if m.form != nil {
		return m.form.View()
	}
	if m.confirm != nil {
		return m.confirm.View()
	}
	if m.info == nil {
		if m.err != nil {
			return " " + st.Error.Render(tui.ErrorText(m.err))
		}
		return st.Muted.Render(" loading…")
	}
	i := m.info
	var b strings.Builder
	b.WriteString(" " + st.Title.Render("Self-service signup") + "\n")
	b.WriteString(st.Muted.PaddingLeft(1).Width(max(m.width-1, 20)).Render("People who have the key (or the link) can create an account in this organization as members.") + "\n\n")
	row := func(l, v string) { b.WriteString(" " + st.Label.Render(pad(l, 12)) + " " + v + "\n") }
	row("Status", tui.YesNo(i.Enabled, st.Success.Render("enabled"), st.Muted.Render("disabled")))
	switch {
	case i.Key != "":
		row("Key", safetext.Sanitize(i.Key))
		row("Link", safetext.Sanitize(i.URL))
	case i.HasKey:
		row("Key", st.Muted.Render("•••••••• (v reveals it)"))
	default:
		row("Key", st.Muted.Render("none yet (enabling signup generates one)"))
	}
	if i.Managed != "" {
		row("", st.Warning.Render("the key is managed by .env ("+safetext.Sanitize(i.Managed)+")"))
	}
	if i.Enabled && i.Key != "" {
		b.WriteString("\n " + st.Muted.Render("Hand out the link; the form works in any browser and phone.") + "\n")
	}
	return b.String()
}

func pad(s string, w int) string {
	for len(s) < w {
		s += " "
	}
	return s
}
