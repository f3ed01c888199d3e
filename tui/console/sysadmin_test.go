package console

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/service"
)

// oneTimePW finds the one-time password in a notice ("…password: PW It works…"
// once the notice is flattened).
var oneTimePW = regexp.MustCompile(`(?i)one-time password:\s+(\S+)\s+It works for one sign-in`)

func (d *driver) oneTimePassword() string {
	d.t.Helper()
	m := oneTimePW.FindStringSubmatch(d.flat())
	if m == nil {
		d.t.Fatalf("no one-time password on the screen:\n%s", d.view())
	}
	return m[1]
}

// signInWorks checks email and password through the service with a fresh
// key, as the sign-in screen would.
func (e *env) signInWorks(email, password string) service.Actor {
	e.t.Helper()
	line, _ := newKey(e.t)
	a, err := e.svc.SignIn(e.ctx, service.SignInInput{Key: line, Email: email, Password: password})
	if err != nil {
		e.t.Fatalf("sign in as %s: %v", email, err)
	}
	return a
}

func TestConsoleSysAdminCreatesOrg(t *testing.T) {
	e := newEnv(t)
	d := e.console(e.root())
	d.want("lamb · lamb · root@uni.example (system admin)", "1 Organizations", "2 Users", "3 System", "4 Usage", "5 Audit", "m My account")
	if row := d.selected(); !strings.Contains(row, "lamb") || !strings.Contains(row, "LAMB (system)") {
		t.Fatalf("first row is %q, want the system org lamb", row)
	}
	d.want("1–1 of 1")

	d.press("n")
	d.want("New organization", "Slug", "Admin email", "Copy system providers")

	// An empty slug is refused next to the Slug field; nothing is created.
	d.press("ctrl+s")
	slug, under := d.field("Slug")
	if !strings.Contains(slug, "▸") {
		t.Errorf("focus is not on the Slug field after its error: %q", slug)
	}
	if !strings.Contains(under, "↳ must be 2-40 characters") {
		t.Fatalf("no slug error under the Slug field; line after it is %q:\n%s", under, d.view())
	}
	if p, err := e.svc.ListOrgs(e.ctx, e.root(), "", 0, 10); err != nil || p.Total != 1 {
		t.Fatalf("orgs after a refused create: %+v, %v", p, err)
	}

	d.typ("physics")
	d.press("tab")
	d.typ("Department of Physics")
	d.press("tab")
	d.typ("prof@uni.example")
	d.press("tab")
	d.typ("Prof Ada")
	d.press("ctrl+s")

	d.want("Organization created", "prof@uni.example", "created physics")
	pw := d.oneTimePassword()
	d.press("enter")
	d.wantNot("Organization created")
	d.want("Department of Physics", "1–2 of 2")
	if !d.hasRow("physics") {
		t.Fatalf("no physics row:\n%s", d.view())
	}

	org, err := e.svc.GetOrg(e.ctx, e.root(), "physics")
	if err != nil {
		t.Fatal(err)
	}
	if org.Name != "Department of Physics" || len(org.Admins) != 1 || org.Admins[0].Email != "prof@uni.example" || org.Admins[0].Name != "Prof Ada" {
		t.Fatalf("created org: %+v", org)
	}
	// The password shown once is the admin's.
	a := e.signInWorks("prof@uni.example", pw)
	if a.Role != service.RoleOrgAdmin || a.OrgSlug != "physics" {
		t.Fatalf("the new admin signs in as %v", a)
	}
}

func TestConsoleCreateOrgErrors(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())

	// esc leaves the form and creates nothing.
	d.press("n")
	d.typ("chem")
	d.press("esc")
	d.wantNot("New organization")
	d.want("1–2 of 2")
	if _, err := e.svc.GetOrg(e.ctx, e.root(), "chem"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("chem after esc: %v", err)
	}

	// A taken slug is refused and the form stays, with what was typed.
	d.press("n")
	d.typ("physics")
	d.press("tab")
	d.typ("Physics again")
	d.press("ctrl+s")
	d.want("New organization", `an organization "physics" already exists`, "Physics again")

	// A bad admin email is shown next to the Admin email field.
	d.press("esc", "n")
	d.typ("chem")
	d.press("tab")
	d.typ("Chemistry")
	d.press("tab")
	d.typ("not-an-email")
	d.press("ctrl+s")
	if _, under := d.field("Admin email"); !strings.Contains(under, "↳") || !strings.Contains(under, "not an email address") {
		t.Fatalf("no error under Admin email; line after it is %q:\n%s", under, d.view())
	}
	if _, err := e.svc.GetOrg(e.ctx, e.root(), "chem"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("chem after a refused create: %v", err)
	}
}

func TestConsoleCreateOrgAdminNameError(t *testing.T) {
	e := newEnv(t)
	d := e.console(e.root())
	d.press("n")
	d.typ("chem")
	d.press("tab")
	d.typ("Chemistry")
	d.press("tab")
	d.typ("new@uni.example") // a new user needs a name
	d.press("ctrl+s")
	if _, under := d.field("Admin name"); !strings.Contains(under, "↳ is required for a new user") {
		if _, underName := d.field("Name"); strings.Contains(underName, "is required for a new user") {
			t.Fatal(`BUG: tui/form.go Form.SetError matches a field when the error's field ends in "."+key, so the service's "admin.name" error lands on the org's "name" field (Name) instead of "admin_name" (Admin name)`)
		}
		t.Fatalf("no error under Admin name; line after it is %q:\n%s", under, d.view())
	}
}

func TestConsoleOrgFilter(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 35; i++ {
		e.createOrg(fmt.Sprintf("org-%02d", i), fmt.Sprintf("Org number %d", i))
	}
	e.createOrg("physics", "Physics")
	e.createOrg("geophysics", "Geophysics")
	e.createOrg("astro", "Astrophysics Lab") // matches by name
	d := e.console(e.root())
	// 40 rows in a body of 35 lines: one page of 32 rows.
	d.want("1–32 of 39")

	d.press("/")
	d.typ("phy")
	d.want("1–3 of 3", "/phy", "astro", "geophysics", "physics", "Astrophysics Lab")
	d.wantNot("org-", "LAMB")

	// enter keeps the filter; esc in the list clears it.
	d.press("enter")
	d.want("1–3 of 3", "filter: phy")
	d.press("esc")
	d.want("1–32 of 39", "org-01", "LAMB")
	d.wantNot("filter: phy")

	// esc while typing clears it too.
	d.press("/")
	d.typ("zzz")
	d.want(`nothing matches "zzz"`)
	d.press("esc")
	d.want("1–32 of 39")

	// Paging: the next page holds the rest.
	d.press("pgdown")
	d.want("33–39 of 39", "physics")
	d.wantNot("org-01")
}

func TestConsoleDeleteOrg(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "ann@uni.example", "member", "")
	e.createOrg("chem", "Chemistry")
	e.createUser("chem", "carl@uni.example", "member", "")
	d := e.console(e.root())

	d.selectRow("physics")
	d.press("d")
	d.want("Delete organization physics?", "physics (Physics) with 2 users (1 admin), 0 assistants",
		"D delete the org and its users", "M delete the org, move its users to lamb (disabled)", "esc cancel")

	d.press("esc")
	d.want("nothing deleted")
	if _, err := e.svc.GetOrg(e.ctx, e.root(), "physics"); err != nil {
		t.Fatalf("physics after esc: %v", err)
	}

	d.selectRow("physics")
	d.press("d", "M")
	d.want("deleted physics: 0 users deleted, 2 moved to lamb")
	if _, err := e.svc.GetOrg(e.ctx, e.root(), "physics"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("physics after delete: %v", err)
	}
	users, err := e.svc.ListUsers(e.ctx, e.root(), service.UserQuery{Org: "lamb"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]bool{}
	for _, u := range users.Items {
		if u.Email == "prof@uni.example" || u.Email == "ann@uni.example" {
			if u.Enabled || u.OrgSlug != "lamb" {
				t.Errorf("moved user %+v: want disabled in lamb", u)
			}
			moved[u.Email] = true
		}
	}
	if len(moved) != 2 {
		t.Fatalf("users of lamb after the move: %+v", users.Items)
	}
	if d.hasRow("physics") {
		t.Fatalf("physics is still listed:\n%s", d.view())
	}

	// D deletes the users with the org.
	d.selectRow("chem")
	d.press("d")
	d.want("Delete organization chem?", "with 1 user (")
	d.press("D")
	d.want("deleted chem: 1 user deleted, 0 moved to lamb")
	if _, err := e.svc.GetUser(e.ctx, e.root(), "carl@uni.example"); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("carl after delete: %v", err)
	}

	// The system org can't be deleted: no confirmation, a message.
	d.selectRow("lamb")
	d.press("d")
	d.want("the system organization lamb can't be deleted")
	d.wantNot("Delete organization")
	if _, err := e.svc.GetOrg(e.ctx, e.root(), "lamb"); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleOrgDetailAndConfig(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.root())

	d.selectRow("physics")
	d.press("enter")
	d.want("Physics  (physics)", "Status", "active", "Limits", "Tokens/month", "unlimited", "Admins", "prof@uni.example")
	if l, _ := d.line("Max users"); !strings.Contains(l, "unlimited") {
		t.Fatalf("max users line %q", l)
	}

	// Invalid JSON: an error, nothing saved, the editor stays.
	d.press("c")
	d.want("Config of physics", `"limits"`, `"max_users": -1`)
	d.typ("x")
	d.press("ctrl+s")
	d.want("Config of physics", "✗")
	cfg, err := e.svc.OrgConfig(e.ctx, e.root(), "physics", false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxUsers != -1 {
		t.Fatalf("max users after invalid JSON: %d", cfg.Limits.MaxUsers)
	}
	d.press("esc")
	d.want("nothing saved", "Admins")

	// Valid JSON the service refuses: its error, nothing saved.
	d.press("c", "ctrl+end", "up", "end")
	d.typ(`, "limits": {"max_users": -7}`)
	d.press("ctrl+s")
	d.want("Config of physics", "max_users", "must be -1 (unlimited) or 0 or more")
	if cfg, _ := e.svc.OrgConfig(e.ctx, e.root(), "physics", false); cfg.Limits.MaxUsers != -1 {
		t.Fatalf("max users after a refused config: %d", cfg.Limits.MaxUsers)
	}
	d.press("esc")

	// A valid change is saved. The later "limits" key wins in JSON.
	d.press("c", "ctrl+end", "up", "end")
	d.typ(`, "limits": {"max_users": 5}`)
	d.press("ctrl+s")
	d.want("config saved")
	d.wantNot("Config of physics")
	if l, _ := d.line("Max users"); !strings.Contains(l, "5") {
		t.Fatalf("max users line after save: %q", l)
	}
	cfg, err = e.svc.OrgConfig(e.ctx, e.root(), "physics", false)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.MaxUsers != 5 || cfg.Limits.TokensPerMonth != -1 {
		t.Fatalf("limits after save: %+v", cfg.Limits)
	}

	// esc goes back to the list.
	d.press("esc")
	d.want("1–2 of 2", "LAMB (system)")
}

func TestConsoleSuspendOrg(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("enter", "s")
	d.want("Suspend physics?")
	d.press("y")
	d.want("physics suspended")
	if o, err := e.svc.GetOrg(e.ctx, e.root(), "physics"); err != nil || o.Status != "suspended" {
		t.Fatalf("physics: %+v, %v", o, err)
	}
	if l, _ := d.line("Status"); !strings.Contains(l, "suspended") {
		t.Fatalf("status line %q", l)
	}
	d.press("s")
	d.want("Resume physics?")
	d.press("esc")
	if o, _ := e.svc.GetOrg(e.ctx, e.root(), "physics"); o.Status != "suspended" {
		t.Fatalf("esc resumed physics")
	}
}

func TestConsoleUsersAllOrgs(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "ann@uni.example", "member", "")
	e.createOrg("chem", "Chemistry")
	e.createUser("chem", "carl@uni.example", "member", "")
	d := e.console(e.root())

	d.tab("Users")
	d.want("Email", "Org", "Role", "ann@uni.example", "carl@uni.example", "prof@uni.example", "root@uni.example", "1–4 of 4")
	if l, _ := d.line("carl@uni.example"); !strings.Contains(l, "chem") || !strings.Contains(l, "member") {
		t.Fatalf("carl's row %q", l)
	}
	if l := d.row("root@uni.example"); !strings.Contains(l, "lamb") || !strings.Contains(l, "sysadmin") {
		t.Fatalf("root's row %q", l)
	}

	// The filter looks through every org.
	d.press("/")
	d.typ("carl")
	d.want("1–1 of 1", "carl@uni.example")
	if d.hasRow("ann@uni.example") || d.hasRow("root@uni.example") {
		t.Fatalf("the filter left other users:\n%s", d.view())
	}
	d.press("esc")
	d.want("1–4 of 4")

	// e asks before it disables the selected user; esc keeps them.
	d.selectRow("ann@uni.example")
	d.press("e")
	d.want("Disable ann@uni.example?")
	d.press("esc")
	if !e.user("ann@uni.example").Enabled {
		t.Fatal("esc disabled ann")
	}
	d.press("e", "y")
	d.want("ann@uni.example disabled")
	if e.user("ann@uni.example").Enabled {
		t.Fatal("ann is still enabled")
	}
	if l, _ := d.line("ann@uni.example"); !strings.Contains(l, "disabled") {
		t.Fatalf("ann's row %q", l)
	}

	// The last enabled admin of an org can't be disabled: the service says
	// why on the status line.
	d.selectRow("prof@uni.example")
	d.press("e", "y")
	d.want("last enabled admin of physics")
	if !e.user("prof@uni.example").Enabled {
		t.Fatal("prof was disabled")
	}

	// p asks, y resets and shows the one-time password once.
	d.selectRow("carl@uni.example")
	d.press("p")
	d.want("Reset the password of carl@uni.example?")
	d.press("y")
	d.want("Password of carl@uni.example reset")
	pw := d.oneTimePassword()
	e.signInWorks("carl@uni.example", pw)
	d.press("enter")
	d.wantNot("One-time password")
	d.want("1–4 of 4")
}

func TestConsoleOpenAsOrgAdmin(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "prof@uni.example", "admin", "")
	e.createOrg("chem", "Chemistry")
	e.createUser("chem", "carl@uni.example", "member", "")
	d := e.console(e.root())

	d.selectRow("physics")
	d.press("o")
	d.want("Working in physics", "lamb · physics · root@uni.example (org admin)")
	d.wantNot("Organizations", "System")
	d.tab("Organization")
	d.want("Working in physics", "Physics  (physics)", "prof@uni.example")

	// Its Users screen holds physics only.
	d.tab("Users")
	d.want("prof@uni.example", "1–1 of 1")
	if d.hasRow("carl@uni.example") || d.hasRow("root@uni.example") {
		t.Fatalf("users of other orgs in physics:\n%s", d.view())
	}

	d.press("ctrl+b")
	d.want("1 Organizations", "back in the system console", "LAMB (system)")
	d.wantNot("Working in physics")
}

func TestConsoleSystemScreen(t *testing.T) {
	e := newEnv(t)
	d := e.console(e.root())
	d.tab("System")
	d.want("System organization lamb", "Managed by .env", "no system-org variable is set")
	// The service of this test has no environment to re-read: the
	// service's refusal is on the status line.
	d.press("s")
	d.want("✗ this server was started without an environment to sync from")
}

func TestConsoleResize(t *testing.T) {
	e := newEnv(t)
	for i := 1; i <= 30; i++ {
		e.createOrg(fmt.Sprintf("org-%02d", i), fmt.Sprintf("Org number %d", i))
	}
	d := e.console(e.root())
	d.want("1–31 of 31")

	// Every line fits a small terminal, and the screen is no taller. (The
	// help line is left out: bubbles' help adds an item past its width when
	// the ellipsis doesn't fit, and the renderer cuts it.)
	fits := func(w, h int) {
		t.Helper()
		lines := strings.Split(d.view(), "\n")
		if len(lines) > h {
			t.Fatalf("%d lines in a terminal of %d:\n%s", len(lines), h, d.view())
		}
		for _, l := range lines[:len(lines)-1] {
			if n := ansi.StringWidth(l); n > w {
				t.Fatalf("a line of %d cells in a terminal of %d: %q", n, w, l)
			}
		}
	}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	fits(80, 24)
	d.want("1 Organizations", "lamb", "enter details")

	// The table still shows where it is and the selected row after
	// shrinking: its page must fit the new height.
	footer := regexp.MustCompile(`\d+–\d+ of 31`)
	if !footer.MatchString(d.view()) {
		t.Fatal("BUG: tui/list.go List.SetSize changes the page size but keeps the page fetched for the old height, " +
			"and tui/shell.go fit() cuts the body to the new height: after the terminal shrinks the footer (\"1–31 of 31\") " +
			"and the rows below the fold, including a selected one, are cut off until the next load")
	}
	for range 25 {
		d.press("down")
	}
	if d.selected() == "" {
		t.Fatalf("the selected row is off the screen:\n%s", d.view())
	}

	d.send(tea.WindowSizeMsg{Width: 140, Height: 50})
	fits(140, 50)
	d.want("1 Organizations")
}

// A system admin's new user goes into an organization picked from the list:
// typing narrows it down, ←/→ choose, and nothing is picked by default.
func TestConsoleNewUserPicksTheOrganization(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Department of Physics")
	e.createOrg("philosophy", "Philosophy")
	e.createOrg("chemistry", "Chemistry")
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Users")
	d.press("n")
	d.want("New user", "Organization", "←/→ to go through 4")
	d.fits(80, 24)

	// Nothing chosen: saving says so next to the field.
	d.press("tab")
	d.typ("new@uni.example")
	d.press("tab")
	d.typ("New Person")
	d.press("ctrl+s")
	if _, under := d.field("Organization"); !strings.Contains(under, "choose the organization") {
		t.Fatalf("no error under Organization:\n%s", d.view())
	}

	// "ph" matches two; → goes to the second; the name shows beside it.
	d.typ("ph")
	d.want("→ philosophy", "(1 of 2, ←/→)")
	d.press("right")
	d.want("→ physics", "Department of Physics", "(2 of 2, ←/→)")
	d.fits(80, 24)
	d.press("tab")
	if l, _ := d.field("Organization"); !strings.Contains(l, "physics") || !strings.Contains(l, "Department of Physics") {
		t.Fatalf("the picked org is not shown: %q", l)
	}
	d.press("ctrl+s")
	d.want("Created new@uni.example", "One-time password")
	if u := e.user("new@uni.example"); u.OrgSlug != "physics" {
		t.Fatalf("the user went into %s", u.OrgSlug)
	}
	d.press("enter")

	// A name that matches nothing says so, and saving names the org.
	d.press("n")
	d.typ("zoology")
	d.want(`nothing matches "zoology"`)
	d.press("tab")
	d.typ("zed@uni.example")
	d.press("tab")
	d.typ("Zed")
	d.press("ctrl+s")
	d.want(`organization "zoology" not found`)
}
