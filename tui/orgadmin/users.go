package orgadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/plural"
	"lamb/service"
	"lamb/tui"
)

type usersMode int

const (
	usersListing usersMode = iota
	usersForm
	usersConfirming
	usersNotice
	usersKeys
	usersDetail // a long result of an import: its one-time passwords, or its bad rows
)

// Users lists users (all orgs for a system admin, one org for its admin)
// and changes them.
type Users struct {
	c       *tui.Common
	list    *tui.List
	mode    usersMode
	form    *tui.Form
	submit  func() tea.Cmd // what saving the open form does
	confirm *tui.Confirm
	action  func(ctx context.Context) (text, notice string, err error) // what the confirmation does
	notice  *tui.Notice
	keys    *SSHKeys
	detail  *tui.Detail
	// detailBack is the mode esc on the detail returns to: the import
	// form to fix its rows, or the list.
	detailBack usersMode
	importArea *tui.TextArea // the pasted list of the import form
	quiet      int           // show accounts unused for this many days; 0: every account
	width      int
	height     int
}

// NewUsers returns the users screen.
func NewUsers(c *tui.Common) *Users {
	m := &Users{c: c}
	// A narrow terminal takes room from the right first (the org's slug,
	// then the name) and leaves the email the most; Status stays next to
	// the name.
	cols := []tui.Column{{Title: "Email", Width: 28, Flex: true, Min: 20}, {Title: "Name", Width: 18, Flex: true}, {Title: "Status", Width: 8}}
	if c.Actor.Role == service.RoleSystemAdmin {
		cols = append(cols, tui.Column{Title: "Org", Width: 12, Min: 7})
	}
	cols = append(cols, tui.Column{Title: "Role", Width: 8}, tui.Column{Title: "Last seen", Width: 10})
	m.list = tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.ListUsers(ctx, c.Actor, service.UserQuery{Query: q, QuietDays: m.quiet}, off, lim)
		if err != nil {
			return tui.Page{}, err
		}
		var out tui.Page
		out.Total = p.Total
		for _, u := range p.Items {
			role := u.Role
			if u.SystemAdmin {
				role = "sysadmin" // as narrow as admin and member: the email keeps the room
			}
			row := []string{u.Email, u.Name, tui.YesNo(u.Enabled, "enabled", "disabled")}
			if c.Actor.Role == service.RoleSystemAdmin {
				row = append(row, u.OrgSlug)
			}
			row = append(row, role, tui.Ago(u.LastSeenAt))
			out.Rows = append(out.Rows, row)
			out.Items = append(out.Items, u)
		}
		return out, nil
	})
	m.list.Empty = "no users yet: press n to create one"

	return m
}

type userDoneMsg struct {
	owner  *Users
	text   string
	notice string // shown in a box (a one-time password)
	err    error
}

func (m *Users) Title() string { return "Users" }
func (m *Users) Init() tea.Cmd { return m.list.Load() }

func (m *Users) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.SetSize(w, h)
	if m.form != nil {
		m.form.SetWidth(w)
	}
	if m.keys != nil {
		m.keys.SetSize(w, h)
	}
	if m.detail != nil {
		m.detail.SetSize(w, h)
	}
	if m.list != nil && m.importArea != nil {
		m.importArea.SetRows(max(h-12, 4))
	}
}

func (m *Users) Capturing() bool {
	switch m.mode {
	case usersForm:
		return true
	case usersKeys:
		return m.keys.Capturing()
	case usersListing:
		return m.list.Filtering()
	}
	return false
}

// Modal is true while a question or a notice is open, or in the SSH keys
// view's.
func (m *Users) Modal() bool {
	switch m.mode {
	case usersConfirming, usersNotice, usersDetail:
		return true
	case usersKeys:
		return m.keys.Modal()
	}
	return false
}

var (
	keyNew      = tui.Bind("n", "new user")
	keyEnable   = tui.Bind("e", "enable/disable")
	keyRole     = tui.Bind("a", "admin/member")
	keySysAdmin = tui.Bind("S", "system admin on/off")
	keyPassword = tui.Bind("p", "reset password")
	keySetPass  = tui.Bind("P", "set a password")
	keySSH      = tui.Bind("enter", "ssh keys")
	keyDelete   = tui.Bind("d", "delete")
	keyImport   = tui.Bind("i", "import a list")
	keyQuiet    = tui.Bind("u", "unused for 30/90/180 days")
)

// quietSteps are what u goes through: every account, then those unused
// for 30, 90 and 180 days.
var quietSteps = []int{0, 30, 90, 180}

// nextQuiet shows the accounts unused for the next number of days.
func (m *Users) nextQuiet() tea.Cmd {
	for i, q := range quietSteps {
		if q == m.quiet {
			m.quiet = quietSteps[(i+1)%len(quietSteps)]
			break
		}
	}
	m.list.Note, m.list.Empty = "", "no users yet: press n to create one"
	if m.quiet > 0 {
		m.list.Note = fmt.Sprintf("unused for %d days", m.quiet)
		m.list.Empty = fmt.Sprintf("no account is unused for %d days: u shows the next step, then every account", m.quiet)
	}
	return m.list.Reset()
}

func (m *Users) Keys() []key.Binding {
	switch m.mode {
	case usersForm:
		return tui.FormKeys
	case usersConfirming:
		return m.confirm.Keys()
	case usersNotice:
		return []key.Binding{tui.Bind("enter", "close")}
	case usersKeys:
		return m.keys.Keys()
	case usersDetail:
		return tui.DetailKeys
	}
	if m.list.Filtering() {
		return m.list.Keys()
	}
	ks := []key.Binding{keyNew, keyImport, keyEnable, keyRole}
	if m.c.Actor.Role == service.RoleSystemAdmin {
		ks = append(ks, keySysAdmin)
	}
	return append(append(ks, keyPassword, keySetPass, keySSH, keyDelete, keyQuiet), m.list.Keys()...)
}

func (m *Users) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	if done, ok := msg.(userDoneMsg); ok && done.owner == m {
		return m.done(done)
	}
	if done, ok := msg.(usersImportedMsg); ok && done.owner == m {
		return m.imported(done)
	}
	if m.mode == usersDetail {
		if m.detail.Update(msg) {
			m.mode = m.detailBack
			if m.mode == usersListing {
				return m, m.list.Load()
			}
		}
		return m, nil
	}
	if m.mode == usersKeys {
		var cmd tea.Cmd
		back := false
		back, cmd = m.keys.Update(msg)
		if back {
			m.mode = usersListing
			return m, tea.Batch(cmd, m.list.Load())
		}
		return m, cmd
	}
	if _, isKey := msg.(tea.KeyMsg); !isKey || m.mode == usersListing {
		if used, cmd := m.list.Update(msg); used {
			return m, cmd
		}
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if m.mode == usersForm {
			_, _, cmd := m.form.Update(msg)
			return m, cmd
		}
		return m, nil
	}
	switch m.mode {
	case usersForm:
		submit, cancel, cmd := m.form.Update(km)
		if cancel {
			m.mode = usersListing
			return m, nil
		}
		if submit {
			return m, m.submit()
		}
		return m, cmd
	case usersConfirming:
		switch m.confirm.Update(km) {
		case "esc":
			m.mode = usersListing
		case "y":
			m.mode = usersListing
			return m, m.run(m.action)
		}
		return m, nil
	case usersNotice:
		if km.String() == "enter" || km.String() == "esc" {
			m.mode = usersListing
		}
		return m, nil
	}
	if key.Matches(km, keyNew) {
		return m, m.newForm()
	}
	if key.Matches(km, keyImport) {
		return m, m.importForm()
	}
	if key.Matches(km, keyQuiet) {
		return m, m.nextQuiet()
	}
	u, ok := m.list.Selected().(service.User)
	if !ok {
		return m, nil
	}
	a := m.c.Actor
	switch {
	case key.Matches(km, keyEnable) && !u.Enabled: // enabling takes nothing away: no question
		return m, m.run(func(ctx context.Context) (string, string, error) {
			_, err := m.c.Svc.SetUserEnabled(ctx, a, u.Email, true)
			return u.Email + " enabled", "", err
		})
	case key.Matches(km, keyEnable):
		m.ask("Disable "+u.Email+"?",
			"They can't sign in, their open console sessions end at their next action, and their personal API keys and assistants stop answering until they are enabled again. Nothing is deleted.",
			func(ctx context.Context) (string, string, error) {
				_, err := m.c.Svc.SetUserEnabled(ctx, a, u.Email, false)
				return u.Email + " disabled", "", err
			})
	case key.Matches(km, keyRole):
		role := map[bool]string{true: "member", false: "admin"}[u.Role == "admin"]
		body := u.Email + " can manage the users, providers, limits, signup and API keys of " + u.OrgSlug + "."
		if role == "member" {
			body = u.Email + " keeps their account and assistants but can no longer manage " + u.OrgSlug + ". The last enabled admin can't be made a member."
		}
		m.ask("Make "+u.Email+" "+map[bool]string{true: "an admin", false: "a member"}[role == "admin"]+"?", body,
			func(ctx context.Context) (string, string, error) {
				_, err := m.c.Svc.SetUserRole(ctx, a, u.Email, role)
				return u.Email + " is now " + role, "", err
			})
	case key.Matches(km, keySysAdmin) && a.Role == service.RoleSystemAdmin:
		on := !u.SystemAdmin
		m.ask(fmt.Sprintf("%s system admin rights of %s?", map[bool]string{true: "Grant", false: "Remove"}[on], u.Email),
			map[bool]string{true: "A system admin can manage every organization of the platform.", false: u.Email + " keeps their account in lamb as an admin of org lamb."}[on],
			func(ctx context.Context) (string, string, error) {
				_, err := m.c.Svc.SetSystemAdmin(ctx, a, u.Email, on)
				return u.Email + map[bool]string{true: " is now a system admin", false: " is no longer a system admin"}[on], "", err
			})
	case key.Matches(km, keySetPass):
		m.passwordForm(u)
	case key.Matches(km, keyPassword):
		m.ask("Reset the password of "+u.Email+"?",
			"A one-time password is generated and shown once; their current password stops working.",
			func(ctx context.Context) (string, string, error) {
				pw, err := m.c.Svc.ResetPassword(ctx, a, u.Email, "")
				return "Password of " + u.Email + " reset", oneTimeNotice(pw), err
			})
	case key.Matches(km, keyDelete):
		m.ask("Delete "+u.Email+"?",
			"Their SSH keys, assistants and personal API keys are deleted too. Usage history stays. This can't be undone.",
			func(ctx context.Context) (string, string, error) {
				return u.Email + " deleted", "", m.c.Svc.DeleteUser(ctx, a, u.Email)
			})
	case key.Matches(km, keySSH):
		m.keys = NewSSHKeys(m.c, u.Email)
		m.keys.SetSize(m.width, m.height)
		m.mode = usersKeys
		return m, m.keys.Init()
	}
	return m, nil
}

func (m *Users) ask(title, body string, fn func(ctx context.Context) (string, string, error)) {
	m.confirm = tui.NewConfirm(m.c, title, body)
	m.action = fn
	m.mode = usersConfirming
}

func (m *Users) run(fn func(ctx context.Context) (text, notice string, err error)) tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg {
		text, notice, err := fn(ctx)
		return userDoneMsg{owner: m, text: text, notice: notice, err: err}
	})
}

// oneTimeNotice is the text around a generated password.
func oneTimeNotice(pw string) string {
	return "One-time password: " + pw + "\n\n" + fmt.Sprintf("It works for one sign-in within %d days, and that session chooses a new password first. ",
		int(service.OneTimePasswordValidity.Hours()/24)) + "Hand it over in person or through a channel you trust; it is not shown again."
}

func (m *Users) done(msg userDoneMsg) (tui.Screen, tea.Cmd) {
	if msg.err != nil {
		if m.mode == usersForm {
			m.form.SetError(msg.err)
			return m, nil
		}
		return m, tui.Error(msg.err)
	}
	if msg.notice != "" {
		m.notice = tui.NewNotice(m.c, msg.text, msg.notice)
		m.mode = usersNotice
		return m, tea.Batch(tui.Status(msg.text), m.list.Load())
	}
	if m.mode == usersForm {
		m.mode = usersListing
	}
	return m, tea.Batch(tui.Status(msg.text), m.list.Load())
}

func (m *Users) newForm() tea.Cmd {
	fields := []*tui.Field{}
	if m.c.Actor.Role == service.RoleSystemAdmin {
		fields = append(fields, m.orgPicker())
	}
	fields = append(fields,
		tui.NewField(tui.TextField, "email", "Email", "name@example.org"),
		tui.NewField(tui.TextField, "name", "Name", "full name"),
		tui.Choice("role", "Role", "member", "admin"),
		tui.NewField(tui.PasswordField, "password", "Password", "optional (8+ characters)").
			WithHint("Leave empty with no SSH key to get a one-time password to hand over."),
		tui.NewField(tui.TextField, "ssh_key", "SSH public key", "optional: ssh-ed25519 AAAA… user@host"),
	)
	m.form = tui.NewForm(m.c, "New user", fields...)
	m.form.SetWidth(m.width)
	m.submit = m.create
	m.mode = usersForm
	return m.form.Init()
}

// passwordForm sets a password an admin chose for u (p generates one).
func (m *Users) passwordForm(u service.User) {
	m.form = tui.NewForm(m.c, "Set the password of "+u.Email,
		tui.NewField(tui.PasswordField, "password", "New password", "8+ characters"),
		tui.NewField(tui.PasswordField, "repeat", "Repeat", "the same again"))
	m.form.Intro = "Their current password stops working. Tell them through a channel you trust."
	m.form.SetWidth(m.width)
	a, email := m.c.Actor, u.Email
	m.submit = func() tea.Cmd {
		pw := m.form.Value("password")
		if pw != m.form.Value("repeat") {
			m.form.SetError(&service.InvalidError{Field: "repeat", Message: "doesn't match the new password"})
			return nil
		}
		return m.c.Do(func(ctx context.Context) tea.Msg {
			_, err := m.c.Svc.ResetPassword(ctx, a, email, pw)
			return userDoneMsg{owner: m, text: "password of " + email + " set", err: err}
		})
	}
	m.mode = usersForm
}

func (m *Users) create() tea.Cmd {
	in := service.CreateUserInput{
		OrgSlug: m.form.Value("org"), Email: m.form.Value("email"), Name: m.form.Value("name"),
		Role: m.form.Value("role"), Password: m.form.Value("password"), SSHKey: m.form.Value("ssh_key"),
	}
	if m.c.Actor.Role == service.RoleSystemAdmin && in.OrgSlug == "" {
		m.form.SetError(&service.InvalidError{Field: "org", Message: "choose the organization: type part of its slug or name, or ←/→"})
		return nil
	}
	if in.OrgSlug == "" {
		in.OrgSlug = m.c.Actor.OrgSlug
	}
	a := m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		res, err := m.c.Svc.CreateUser(ctx, a, in)
		msg := userDoneMsg{owner: m, err: err, text: "created " + res.User.Email}
		if err == nil && res.Password != "" {
			msg.text = "Created " + res.User.Email
			msg.notice = oneTimeNotice(res.Password)
		}
		return msg
	})
}

func (m *Users) View() string {
	switch m.mode {
	case usersForm:
		return m.form.View()
	case usersConfirming:
		return m.confirm.View()
	case usersNotice:
		return m.notice.View()
	case usersKeys:
		return m.keys.View()
	case usersDetail:
		return m.detail.View()
	}
	return m.list.View()
}

// usersImportedMsg is what an import of a pasted list did.
type usersImportedMsg struct {
	owner *Users
	res   service.UserImportResult
	err   error
}

// importForm asks for a list of users to paste: CSV with a header row,
// or JSON lines, as `user import` takes.
func (m *Users) importForm() tea.Cmd {
	var fields []*tui.Field
	if m.c.Actor.Role == service.RoleSystemAdmin {
		fields = append(fields, m.orgPicker())
	}
	m.importArea = tui.NewTextArea(m.c, "email,name,role,ssh_key\nana@uni.example,Ana Ruiz,member,\nbo@uni.example,Bo Li,admin,ssh-ed25519 AAAA… bo@laptop", "", 2_000_000)
	m.importArea.Empty = "paste the list here"
	m.importArea.SetRows(max(m.height-12, 4))
	fields = append(fields, tui.NewWidgetField("users", "Users", m.importArea).
		WithHint("CSV with a header row (email, name, and optionally role and ssh_key), or JSON lines; up to 10,000"))
	m.form = tui.NewForm(m.c, "Import users", fields...)
	m.form.Intro = "Paste a list · ctrl+s imports it, all or nothing · esc cancels. Users without an SSH key get a one-time password, shown once."
	m.form.SetWidth(m.width)
	m.form.SetHeight(m.height)
	m.submit = m.importList
	m.mode = usersForm
	return m.form.Init()
}

// orgPicker is the organization field of a system admin's forms.
func (m *Users) orgPicker() *tui.Field {
	a, svc := m.c.Actor, m.c.Svc
	return tui.Pick("org", "Organization", "type part of its slug or name", func(ctx context.Context, q string) ([]tui.PickOption, error) {
		p, err := svc.ListOrgs(ctx, a, q, 0, 50)
		if err != nil {
			return nil, err
		}
		opts := make([]tui.PickOption, 0, len(p.Items))
		for _, o := range p.Items {
			opts = append(opts, tui.PickOption{Value: o.Slug, Label: o.Name})
		}
		return opts, nil
	})
}

func (m *Users) importList() tea.Cmd {
	in := service.UserImportInput{OrgSlug: m.form.Value("org"), Data: []byte(m.form.Value("users"))}
	if m.c.Actor.Role == service.RoleSystemAdmin && in.OrgSlug == "" {
		m.form.SetError(&service.InvalidError{Field: "org", Message: "choose the organization: type part of its slug or name, or ←/→"})
		return nil
	}
	if in.OrgSlug == "" {
		in.OrgSlug = m.c.Actor.OrgSlug
	}
	a := m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		res, err := m.c.Svc.ImportUsers(ctx, a, in)
		return usersImportedMsg{owner: m, res: res, err: err}
	})
}

// imported shows what an import did: its one-time passwords (the only
// time they are shown), or every bad row, with the list kept in the form
// to fix.
func (m *Users) imported(msg usersImportedMsg) (tui.Screen, tea.Cmd) {
	var rows service.RowErrors
	switch {
	case errors.As(msg.err, &rows):
		lines := make([]string, 0, len(rows))
		for _, r := range rows {
			lines = append(lines, r.String())
		}
		m.form.SetError(nil)
		m.detail = tui.NewDetail(m.c, fmt.Sprintf("Nothing imported: %s to fix (esc: back to the list)", plural.N(len(rows), "problem", "problems")),
			"Rows", strings.Join(lines, "\n"))
		m.detail.SetSize(m.width, m.height)
		m.detailBack, m.mode = usersForm, usersDetail
		return m, tui.Error(fmt.Errorf("nothing imported: fix the rows named and import again"))
	case msg.err != nil:
		m.form.SetError(msg.err)
		return m, nil
	}
	res := msg.res
	keys := len(res.Users) - res.Passwords()
	fields := []string{"Organization", res.Org, "Users", fmt.Sprintf("%d (%d with an SSH key)", len(res.Users), keys)}
	if n := res.Passwords(); n > 0 {
		var b strings.Builder
		b.WriteString("email,name,one_time_password\n")
		for _, u := range res.Users {
			if u.OneTimePassword != "" {
				fmt.Fprintf(&b, "%s,%s,%s\n", u.Email, csvField(u.Name), u.OneTimePassword)
			}
		}
		fields = append(fields, "One-time passwords", strings.TrimSuffix(b.String(), "\n"),
			"Shown once", fmt.Sprintf("Copy them now and hand each over privately: each works for one sign-in within %d days, "+
				"and that session chooses a password first. They are not shown again.", int(service.OneTimePasswordValidity.Hours()/24)))
	}
	m.detail = tui.NewDetail(m.c, fmt.Sprintf("Imported %s into %s", plural.N(len(res.Users), "user", "users"), res.Org), fields...)
	m.detail.SetSize(m.width, m.height)
	m.detailBack, m.mode = usersListing, usersDetail
	return m, tui.Status(fmt.Sprintf("imported %s into %s", plural.N(len(res.Users), "user", "users"), res.Org))
}

// csvField quotes a CSV value that needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}
