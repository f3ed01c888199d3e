// Package sysadmin holds the system admin's screens: organizations across
// the platform and the system organization's sync.
package sysadmin

import (
	"context"
	"fmt"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/plural"
	"lamb/service"
	"lamb/tui"
	"lamb/tui/orgadmin"
)

type orgsMode int

const (
	orgsListing orgsMode = iota
	orgsCreating
	orgsDetail
	orgsConfirmDelete
	orgsNotice
)

// Orgs lists every organization, creates, opens, deletes, and opens one
// with its admin screens.
type Orgs struct {
	c       *tui.Common
	list    *tui.List
	mode    orgsMode
	form    *tui.Form
	detail  *orgadmin.Org
	confirm *tui.Confirm
	target  string
	notice  *tui.Notice
	width   int
	height  int
}

// OpenOrgMsg asks the console to open an org with its admin screens.
type OpenOrgMsg struct{ Actor service.Actor }

type orgsDoneMsg struct {
	owner  *Orgs
	text   string
	notice string
	err    error
}

// openedMsg is the result of OpenAsOrgAdmin; the screen turns it into an
// OpenOrgMsg for the console, which sits above the shell.
type openedMsg struct {
	owner *Orgs
	actor service.Actor
}

type deletePreviewMsg struct {
	owner  *Orgs
	detail service.OrgDetail
	err    error
}

// NewOrgs returns the organizations screen.
func NewOrgs(c *tui.Common) *Orgs {
	m := &Orgs{c: c}
	m.list = tui.NewList(c, []tui.Column{
		{Title: "Slug", Width: 16}, {Title: "Name", Width: 20, Flex: true}, {Title: "Status", Width: 9},
		{Title: "Users", Width: 7}, {Title: "Assistants", Width: 10}, {Title: "Signup", Width: 8},
	}, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.ListOrgs(ctx, c.Actor, q, off, lim)
		if err != nil {
			return tui.Page{}, err
		}
		out := tui.Page{Total: p.Total}
		for _, o := range p.Items {
			name := o.Name
			if o.IsSystem {
				name += " (system)"
			}
			out.Rows = append(out.Rows, []string{o.Slug, name, o.Status, fmt.Sprint(o.Users), fmt.Sprint(o.Assistants), tui.YesNo(o.SignupEnabled, "on", "off")})
			out.Items = append(out.Items, o)
		}
		return out, nil
	})
	return m
}

func (m *Orgs) Title() string { return "Organizations" }
func (m *Orgs) Init() tea.Cmd { return m.list.Load() }

func (m *Orgs) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.SetSize(w, h)
	if m.form != nil {
		m.form.SetWidth(w)
	}
	if m.detail != nil {
		m.detail.SetSize(w, h)
	}
}

func (m *Orgs) Capturing() bool {
	switch m.mode {
	case orgsCreating:
		return true
	case orgsDetail:
		return m.detail.Capturing()
	case orgsListing:
		return m.list.Filtering()
	}
	return false
}

// Modal is true while a deletion is being confirmed, a notice is open, or
// the org's detail view shows a question.
func (m *Orgs) Modal() bool {
	switch m.mode {
	case orgsConfirmDelete, orgsNotice:
		return true
	case orgsDetail:
		return m.detail.Modal()
	}
	return false
}

var (
	keyNewOrg  = tui.Bind("n", "new org")
	keyOpenAs  = tui.Bind("o", "open as org admin")
	keyDelete  = tui.Bind("d", "delete")
	keyDetails = tui.Bind("enter", "details")
)

func (m *Orgs) Keys() []key.Binding {
	switch m.mode {
	case orgsCreating:
		return tui.FormKeys
	case orgsDetail:
		return m.detail.Keys()
	case orgsConfirmDelete:
		return m.confirm.Keys()
	case orgsNotice:
		return []key.Binding{tui.Bind("enter", "close")}
	}
	if m.list.Filtering() {
		return m.list.Keys()
	}
	return append([]key.Binding{keyDetails, keyNewOrg, keyOpenAs, keyDelete}, m.list.Keys()...)
}

func (m *Orgs) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case orgsDoneMsg:
		if msg.owner != m {
			return m, nil
		}
		return m.done(msg)
	case deletePreviewMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			return m, tui.Error(msg.err)
		}
		d := msg.detail
		m.target = d.Slug
		m.confirm = tui.NewConfirm(m.c, "Delete organization "+d.Slug+"?",
			fmt.Sprintf("Lost for good: %s (%s) with %s (%s), %s, %s, its usage history and audit log.\n\nWhat happens to its users?",
				d.Slug, d.Name, plural.N(d.Counts.Users, "user", "users"), plural.N(d.Counts.Admins, "admin", "admins"),
				plural.N(d.Counts.Assistants, "assistant", "assistants"), plural.N(d.Counts.APIKeys, "API key", "API keys")),
			tui.Option{Key: "D", Label: "delete the org and its users"},
			tui.Option{Key: "M", Label: "delete the org, move its users to lamb (disabled)"})
		m.mode = orgsConfirmDelete
		return m, nil
	case openedMsg:
		if msg.owner != m {
			return m, nil
		}
		return m, func() tea.Msg { return OpenOrgMsg{Actor: msg.actor} }
	case orgadmin.BackMsg:
		m.mode = orgsListing
		m.detail = nil
		return m, m.list.Load()
	}
	if m.mode == orgsDetail {
		var cmd tea.Cmd
		var s tui.Screen
		s, cmd = m.detail.Update(msg)
		m.detail = s.(*orgadmin.Org)
		return m, cmd
	}
	if _, isKey := msg.(tea.KeyMsg); !isKey || m.mode == orgsListing {
		if used, cmd := m.list.Update(msg); used {
			return m, cmd
		}
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if m.mode == orgsCreating {
			_, _, cmd := m.form.Update(msg)
			return m, cmd
		}
		return m, nil
	}
	switch m.mode {
	case orgsCreating:
		submit, cancel, cmd := m.form.Update(km)
		if cancel {
			m.mode = orgsListing
			return m, nil
		}
		if submit {
			return m, m.create()
		}
		return m, cmd
	case orgsConfirmDelete:
		choice := m.confirm.Update(km)
		switch choice {
		case "esc":
			m.mode = orgsListing
			return m, tui.Status("nothing deleted")
		case "D", "M":
			m.mode = orgsListing
			fate := service.DeleteUsers
			if choice == "M" {
				fate = service.MoveUsersToSystem
			}
			slug, a := m.target, m.c.Actor
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				res, err := m.c.Svc.DeleteOrg(ctx, a, slug, fate)
				text := fmt.Sprintf("deleted %s: %s deleted, %d moved to lamb, %s", slug, plural.N(res.UsersDeleted, "user", "users"),
					res.UsersMoved, plural.N(res.Assistants, "assistant", "assistants"))
				return orgsDoneMsg{owner: m, text: text, err: err}
			})
		}
		return m, nil
	case orgsNotice:
		if km.String() == "enter" || km.String() == "esc" {
			m.mode = orgsListing
		}
		return m, nil
	}
	if key.Matches(km, keyNewOrg) {
		m.newForm()
		return m, nil
	}
	o, ok := m.list.Selected().(service.Org)
	if !ok {
		return m, nil
	}
	switch {
	case key.Matches(km, keyDetails):
		m.detail = orgadmin.NewOrg(m.c, o.Slug, true)
		m.detail.SetSize(m.width, m.height)
		m.mode = orgsDetail
		return m, m.detail.Init()
	case key.Matches(km, keyDelete):
		if o.IsSystem {
			return m, tui.Error(fmt.Errorf("the system organization %s can't be deleted", o.Slug))
		}
		a := m.c.Actor
		return m, m.c.Do(func(ctx context.Context) tea.Msg {
			d, err := m.c.Svc.GetOrg(ctx, a, o.Slug)
			return deletePreviewMsg{m, d, err}
		})
	case key.Matches(km, keyOpenAs):
		a := m.c.Actor
		return m, m.c.Do(func(ctx context.Context) tea.Msg {
			as, err := m.c.Svc.OpenAsOrgAdmin(ctx, a, o.Slug)
			if err != nil {
				return orgsDoneMsg{owner: m, err: err}
			}
			return openedMsg{m, as}
		})
	}
	return m, nil
}

func (m *Orgs) newForm() {
	m.form = tui.NewForm(m.c, "New organization",
		tui.NewField(tui.TextField, "slug", "Slug", "e.g. physics-dept").WithHint("2-40 characters of a-z, 0-9 and -; used in commands and URLs."),
		tui.NewField(tui.TextField, "name", "Name", "e.g. Department of Physics"),
		tui.NewField(tui.TextField, "email", "Admin email", "optional: an existing user of lamb, or a new one").
			WithHint("An existing user of lamb is moved into the new org as its admin."),
		tui.NewField(tui.TextField, "admin_name", "Admin name", "for a new admin"),
		tui.NewField(tui.TextField, "ssh_key", "Admin SSH key", "optional: ssh-ed25519 AAAA…"),
		tui.NewField(tui.PasswordField, "password", "Admin password", "optional; empty with no key → one-time password"),
		tui.NewField(tui.TextField, "signup_key", "Signup key", "optional, 16-64 of A-Z a-z 0-9 - _, 8+ different"),
		tui.NewField(tui.ToggleField, "copy", "Copy system providers", "").
			WithHint("Copies lamb's provider settings, API key included (audited). Off: the org starts with none."),
	)
	m.form.Intro = "Org, admin and role assignment are saved together, or not at all."
	m.form.SetWidth(m.width)
	m.mode = orgsCreating
}

func (m *Orgs) create() tea.Cmd {
	in := service.CreateOrgInput{
		Slug: m.form.Value("slug"), Name: m.form.Value("name"),
		SignupKey: m.form.Value("signup_key"), CopySystemProviders: m.form.Bool("copy"),
	}
	if email := m.form.Value("email"); email != "" {
		in.Admin = &service.NewAdmin{Email: email, Name: m.form.Value("admin_name"),
			SSHKey: m.form.Value("ssh_key"), Password: m.form.Value("password")}
	}
	a := m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		res, err := m.c.Svc.CreateOrg(ctx, a, in)
		msg := orgsDoneMsg{owner: m, err: err, text: "created " + res.Org.Slug}
		if err == nil && res.AdminPassword != "" {
			msg.notice = fmt.Sprintf("Admin %s was created with the one-time password:\n\n    %s\n\nIt works for one sign-in within %d days, and that session chooses a new password first. "+
				"Hand it over in person or through a channel you trust; it is not shown again.", res.Admin.Email, res.AdminPassword, int(service.OneTimePasswordValidity.Hours()/24))
		}
		return msg
	})
}

func (m *Orgs) done(msg orgsDoneMsg) (tui.Screen, tea.Cmd) {
	if msg.err != nil {
		if m.mode == orgsCreating {
			m.form.SetError(msg.err)
			return m, nil
		}
		return m, tui.Error(msg.err)
	}
	m.mode = orgsListing
	if msg.notice != "" {
		m.notice = tui.NewNotice(m.c, "Organization created", msg.notice)
		m.mode = orgsNotice
	}
	return m, tea.Batch(tui.Status(msg.text), m.list.Load())
}

func (m *Orgs) View() string {
	switch m.mode {
	case orgsCreating:
		return m.form.View()
	case orgsDetail:
		return m.detail.View()
	case orgsConfirmDelete:
		return m.confirm.View()
	case orgsNotice:
		return m.notice.View()
	}
	return m.list.View()
}
