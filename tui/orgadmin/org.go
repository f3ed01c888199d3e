// Package orgadmin holds the screens of an organization's admin: the
// organization itself, its users and its audit log.
package orgadmin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

type orgMode int

const (
	orgViewing orgMode = iota
	orgRenaming
	orgEditingConfig
	orgAddingAdmin
	orgConfirmRemoveAdmin
	orgConfirmSuspend
	orgLimits // the limits, in a sub-view
)

// Org shows one organization: its name, status, counts, limits, admins and
// config, and edits them.
type Org struct {
	c        *tui.Common
	slug     string
	embedded bool // inside the system admin's org list: esc goes back
	detail   *service.OrgDetail
	err      error
	mode     orgMode
	admin    int // selected admin
	// What the open confirmation names: the admin to remove, or whether
	// to suspend (else resume). A reload under the dialog changes neither.
	removing   string
	suspending bool
	form       *tui.Form
	confirm    *tui.Confirm
	editor     textarea.Model
	limits     *Limits
	edErr      string
	width      int
	height     int
}

// NewOrg returns the screen of org slug. embedded marks it as a detail view
// that esc leaves (BackMsg).
func NewOrg(c *tui.Common, slug string, embedded bool) *Org {
	return &Org{c: c, slug: slug, embedded: embedded}
}

// BackMsg asks the parent to close an embedded org view.
type BackMsg struct{}

type orgLoadedMsg struct {
	slug   string
	detail service.OrgDetail
	err    error
}

type orgSavedMsg struct {
	slug string
	text string
	err  error
}

type configLoadedMsg struct {
	slug string
	cfg  *config.Org
	err  error
}

func (m *Org) Title() string { return "Organization" }

func (m *Org) Init() tea.Cmd { return m.load() }

func (m *Org) load() tea.Cmd {
	slug, a := m.slug, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		d, err := m.c.Svc.GetOrg(ctx, a, slug)
		return orgLoadedMsg{slug, d, err}
	})
}

func (m *Org) SetSize(w, h int) {
	m.width, m.height = w, h
	if m.form != nil {
		m.form.SetWidth(w)
	}
	if m.mode == orgEditingConfig {
		m.editor.SetWidth(max(w-4, 20))
		m.editor.SetHeight(max(h-4, 5))
	}
	if m.limits != nil {
		m.limits.SetSize(w, h)
	}
}

func (m *Org) Capturing() bool {
	return m.mode == orgRenaming || m.mode == orgEditingConfig || m.mode == orgAddingAdmin ||
		(m.mode == orgLimits && m.limits.Capturing())
}

// Modal is true while a removal or a suspension is being confirmed.
func (m *Org) Modal() bool { return m.mode == orgConfirmRemoveAdmin || m.mode == orgConfirmSuspend }

var (
	keyRename  = tui.Bind("e", "rename")
	keyConfig  = tui.Bind("c", "edit config")
	keyAdd     = tui.Bind("a", "add admin")
	keyRemove  = tui.Bind("x", "remove admin")
	keySuspend = tui.Bind("s", "suspend/resume")
	keyLimits  = tui.Bind("l", "limits")
)

func (m *Org) Keys() []key.Binding {
	switch m.mode {
	case orgRenaming, orgAddingAdmin:
		return tui.FormKeys
	case orgEditingConfig:
		return []key.Binding{tui.Bind("ctrl+s", "validate and save"), tui.Bind("esc", "cancel")}
	case orgConfirmRemoveAdmin, orgConfirmSuspend:
		return m.confirm.Keys()
	case orgLimits:
		if m.limits.Capturing() {
			return m.limits.Keys()
		}
		return append(m.limits.Keys(), tui.Bind("esc", "back to "+safetext.Sanitize(m.slug)))
	}
	ks := []key.Binding{keyRename, keyLimits, keyConfig, keyAdd, keyRemove, tui.KeyUp, tui.KeyDown}
	if m.c.Actor.Role == service.RoleSystemAdmin && m.detail != nil && !m.detail.IsSystem {
		ks = append(ks, keySuspend)
	}
	ks = append(ks, tui.KeyRefresh)
	if m.embedded {
		ks = append(ks, tui.KeyBack)
	}
	return ks
}

func (m *Org) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	if m.mode == orgLimits {
		if km, ok := msg.(tea.KeyMsg); ok && km.String() == "esc" && !m.limits.Capturing() {
			m.mode = orgViewing
			return m, m.load()
		}
		_, cmd := m.limits.Update(msg)
		return m, cmd
	}
	switch msg := msg.(type) {
	case tui.ShownMsg:
		if m.mode == orgViewing {
			return m, m.load()
		}
		return m, nil
	case orgLoadedMsg:
		if msg.slug != m.slug {
			return m, nil
		}
		m.err = msg.err
		if msg.err == nil {
			d := msg.detail
			m.detail = &d
			m.admin = min(m.admin, max(len(d.Admins)-1, 0))
		}
		return m, nil
	case orgSavedMsg:
		if msg.slug != m.slug {
			return m, nil
		}
		if msg.err != nil {
			switch m.mode {
			case orgEditingConfig:
				m.edErr = tui.ErrorText(msg.err)
				return m, nil
			case orgRenaming, orgAddingAdmin:
				m.form.SetError(msg.err)
				return m, nil
			}
			m.mode = orgViewing
			return m, tui.Error(msg.err)
		}
		m.mode = orgViewing
		return m, tea.Batch(tui.Status(msg.text), m.load())
	case configLoadedMsg:
		if msg.slug != m.slug {
			return m, nil
		}
		if msg.err != nil {
			m.mode = orgViewing
			return m, tui.Error(msg.err)
		}
		// Model names and URLs may hold C1 or bidi characters, which
		// encoding/json leaves raw; as JSON escapes they are shown, and
		// saving keeps them as they were.
		m.editor.SetValue(safetext.SanitizeLines(string(msg.cfg.JSON())))
		for m.editor.Line() > 0 {
			m.editor.CursorUp()
		}
		m.editor.CursorStart()
		return m, m.editor.Focus()
	case tea.KeyMsg:
		return m.key(msg)
	}
	if m.mode == orgEditingConfig {
		var cmd tea.Cmd
		m.editor, cmd = m.editor.Update(msg)
		return m, cmd
	}
	if m.form != nil && (m.mode == orgRenaming || m.mode == orgAddingAdmin) {
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Org) key(msg tea.KeyMsg) (tui.Screen, tea.Cmd) {
	switch m.mode {
	case orgRenaming, orgAddingAdmin:
		submit, cancel, cmd := m.form.Update(msg)
		switch {
		case cancel:
			m.mode = orgViewing
		case submit && m.mode == orgRenaming:
			// Read the form now: the command runs on another goroutine,
			// and by then the form may be another one.
			name, a, slug := m.form.Value("name"), m.c.Actor, m.slug
			return m, m.save("renamed", func(ctx context.Context) error {
				return m.c.Svc.RenameOrg(ctx, a, slug, name)
			})
		case submit:
			// AddOrgAdmin promotes users of this org only: SetUserRole
			// would let a system admin promote a user of another org
			// from this org's screen.
			email, a, slug := m.form.Value("email"), m.c.Actor, m.slug
			return m, m.save(email+" is now an admin", func(ctx context.Context) error {
				_, err := m.c.Svc.AddOrgAdmin(ctx, a, slug, email)
				return err
			})
		}
		return m, cmd
	case orgEditingConfig:
		switch msg.String() {
		case "esc":
			m.mode = orgViewing
			m.editor.Blur()
			return m, tui.Status("config edit cancelled; nothing saved")
		case "ctrl+s":
			cfg, err := config.ParseOrg([]byte(m.editor.Value()))
			if err != nil {
				m.edErr = err.Error()
				return m, nil
			}
			a, slug := m.c.Actor, m.slug
			return m, m.save("", func(ctx context.Context) error {
				changed, err := m.c.Svc.SetOrgConfig(ctx, a, slug, cfg, false)
				if err == nil && len(changed) == 0 {
					return nil
				}
				return err
			})
		}
		m.edErr = ""
		var cmd tea.Cmd
		m.editor, cmd = m.editor.Update(msg)
		return m, cmd
	case orgConfirmRemoveAdmin, orgConfirmSuspend:
		choice := m.confirm.Update(msg)
		mode := m.mode
		switch choice {
		case "":
			return m, nil
		case "esc":
			m.mode = orgViewing
			return m, nil
		}
		m.mode = orgViewing
		a, slug := m.c.Actor, m.slug
		if mode == orgConfirmSuspend {
			suspend := m.suspending
			verb := map[bool]string{true: "suspended", false: "resumed"}[suspend]
			return m, m.save(slug+" "+verb, func(ctx context.Context) error {
				_, err := m.c.Svc.SetOrgSuspended(ctx, a, slug, suspend)
				return err
			})
		}
		email := m.removing
		return m, m.save(email+" is now a member", func(ctx context.Context) error {
			_, err := m.c.Svc.SetUserRole(ctx, a, email, "member")
			return err
		})
	}

	switch {
	case key.Matches(msg, tui.KeyBack) && m.embedded:
		return m, func() tea.Msg { return BackMsg{} }
	case key.Matches(msg, tui.KeyRefresh):
		return m, m.load()
	}
	if m.detail == nil {
		return m, nil
	}
	switch {
	case key.Matches(msg, tui.KeyUp):
		m.admin = max(m.admin-1, 0)
	case key.Matches(msg, tui.KeyDown):
		m.admin = min(m.admin+1, max(len(m.detail.Admins)-1, 0))
	case key.Matches(msg, keyLimits):
		m.limits = NewLimits(m.c, m.slug)
		m.limits.SetSize(m.width, m.height)
		m.mode = orgLimits
		return m, m.limits.Init()
	case key.Matches(msg, keyRename):
		m.form = tui.NewForm(m.c, "Rename "+m.slug, tui.NewField(tui.TextField, "name", "Name", "display name").WithValue(m.detail.Name))
		m.form.SetWidth(m.width)
		m.mode = orgRenaming
	case key.Matches(msg, keyAdd):
		m.form = tui.NewForm(m.c, "Add an admin to "+m.slug,
			tui.NewField(tui.TextField, "email", "Email", "a user of this organization").
				WithHint("The user must already belong to "+m.slug+"; create them on the Users screen first."))
		m.form.SetWidth(m.width)
		m.mode = orgAddingAdmin
	case key.Matches(msg, keyRemove):
		if len(m.detail.Admins) == 0 {
			return m, tui.Status("this organization has no admins to remove")
		}
		a := m.detail.Admins[m.admin]
		m.removing = a.Email
		m.confirm = tui.NewConfirm(m.c, "Remove admin "+a.Email+"?",
			a.Email+" stays a member of "+m.slug+" but loses admin rights. The last enabled admin can't be removed.")
		m.mode = orgConfirmRemoveAdmin
	case key.Matches(msg, keySuspend) && m.c.Actor.Role == service.RoleSystemAdmin && !m.detail.IsSystem:
		m.suspending = m.detail.Status == "active"
		if m.suspending {
			m.confirm = tui.NewConfirm(m.c, "Suspend "+m.slug+"?",
				fmt.Sprintf("Its %d users can't sign in and its API keys stop working until it is resumed. Nothing is deleted.", m.detail.Users))
		} else {
			m.confirm = tui.NewConfirm(m.c, "Resume "+m.slug+"?", "Its users can sign in again and its API keys work again.")
		}
		m.mode = orgConfirmSuspend
	case key.Matches(msg, keyConfig):
		m.editor = textarea.New()
		m.editor.ShowLineNumbers = true
		m.editor.CharLimit = 1 << 20
		m.editor.SetWidth(max(m.width-4, 20))
		m.editor.SetHeight(max(m.height-4, 5))
		m.edErr = ""
		m.mode = orgEditingConfig
		slug, a := m.slug, m.c.Actor
		return m, m.c.Do(func(ctx context.Context) tea.Msg {
			cfg, err := m.c.Svc.OrgConfig(ctx, a, slug, false)
			return configLoadedMsg{slug, cfg, err}
		})
	}
	return m, nil
}

func (m *Org) save(done string, fn func(ctx context.Context) error) tea.Cmd {
	slug := m.slug
	if done == "" {
		done = "config saved"
	}
	return m.c.Do(func(ctx context.Context) tea.Msg {
		return orgSavedMsg{slug, done, fn(ctx)}
	})
}

func (m *Org) View() string {
	st := m.c.Styles
	switch m.mode {
	case orgRenaming, orgAddingAdmin:
		return m.form.View()
	case orgEditingConfig:
		head := " " + st.Title.Render("Config of "+safetext.Sanitize(m.slug)) + "  " + st.Muted.Render("secrets are masked; leave them as they are to keep them")
		if m.edErr != "" {
			head += "\n " + st.Error.Render("✗ "+safetext.Sanitize(m.edErr))
		} else {
			head += "\n"
		}
		return head + "\n" + m.editor.View()
	case orgConfirmRemoveAdmin, orgConfirmSuspend:
		return m.confirm.View()
	case orgLimits:
		return m.limits.View()
	}
	if m.err != nil {
		return " " + st.Error.Render(tui.ErrorText(m.err)) + "\n " + st.Muted.Render("r to retry")
	}
	d := m.detail
	if d == nil {
		return st.Muted.Render(" loading…")
	}
	var b strings.Builder
	row := func(label, value string) {
		b.WriteString(" " + st.Label.Render(fmt.Sprintf("%-16s", label)) + " " + value + "\n")
	}
	status := st.Success.Render(safetext.Sanitize(d.Status))
	if d.Status != "active" {
		status = st.Warning.Render(safetext.Sanitize(d.Status))
	}
	title := safetext.Sanitize(d.Name) + st.Muted.Render("  ("+safetext.Sanitize(d.Slug)+")")
	if d.IsSystem {
		title += st.Muted.Render("  system organization")
	}
	b.WriteString(" " + st.Title.Render(title) + "\n\n")
	row("Status", status)
	row("Users", fmt.Sprint(d.Users))
	row("Assistants", fmt.Sprint(d.Assistants))
	row("Signup", tui.YesNo(d.SignupEnabled, "enabled", "disabled"))
	row("Active setup", safetext.Sanitize(d.Setup))
	row("Created", d.CreatedAt.Format("2006-01-02 15:04"))
	b.WriteString("\n " + st.Title.Render("Limits") + "\n")
	l := d.Limits
	row("Tokens/month", limit(l.TokensPerMonth))
	row("Requests/min", limit(l.RequestsPerMinute))
	row("Max users", limit(l.MaxUsers))
	row("Max assistants", limit(l.MaxAssistants)+st.Muted.Render("  ("+limit(l.MaxAssistantsPerUser)+" per user)"))
	b.WriteString("\n " + st.Title.Render("Admins") + "\n")
	var after strings.Builder
	if len(d.Managed) > 0 {
		after.WriteString("\n " + st.Title.Render("Managed by .env") + st.Muted.Render("  (read-only here; change the variable and sync)") + "\n")
		fields := make([]string, 0, len(d.Managed))
		for f := range d.Managed {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			after.WriteString(" " + st.Muted.Render(safetext.Sanitize(fmt.Sprintf("%-48s %s", f, d.Managed[f]))) + "\n")
		}
	}
	if len(d.Admins) == 0 {
		b.WriteString(" " + st.Warning.Render("no admins yet: press a to make a user of this organization its admin") + "\n")
	}
	// The admins get the lines left over, at least 3; a longer list
	// scrolls with the cursor.
	room := max(m.height-lines(b.String())-lines(after.String()), 3)
	from, to := 0, len(d.Admins)
	if to > room {
		shown := room - 1 // a line says where in the list the window is
		from = min(max(m.admin-shown/2, 0), len(d.Admins)-shown)
		to = from + shown
	}
	for i := from; i < to; i++ {
		a := d.Admins[i]
		line := safetext.Sanitize(fmt.Sprintf("%-36s %-24s %s", a.Email, a.Name, tui.YesNo(a.Enabled, "enabled", "disabled")))
		if i == m.admin {
			b.WriteString(" " + st.Selected.Render(line) + "\n")
		} else {
			b.WriteString(" " + line + "\n")
		}
	}
	if to-from < len(d.Admins) {
		b.WriteString(" " + st.Muted.Render(fmt.Sprintf("%d–%d of %d admins (↑/↓)", from+1, to, len(d.Admins))) + "\n")
	}
	return b.String() + after.String()
}

// lines counts the lines of text that ends in a newline.
func lines(text string) int { return strings.Count(text, "\n") }

func limit(v int64) string {
	if v == config.Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(v)
}
