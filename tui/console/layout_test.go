package console

import (
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/service"
	"lamb/tui"
)

// sizes are the terminals the console is tried at.
var sizes = []struct{ w, h int }{{80, 24}, {100, 30}, {120, 40}}

// fitsAll is fits with the help line too: no line of the screen is wider
// than the terminal.
func (d *driver) fitsAll(w, h int) {
	d.t.Helper()
	d.fits(w, h)
	lines := strings.Split(d.view(), "\n")
	if last := lines[len(lines)-1]; ansi.StringWidth(last) > w {
		d.t.Fatalf("the help line is %d cells in a terminal of %d: %q", ansi.StringWidth(last), w, last)
	}
}

// At 80 columns the users table gives the email the room and takes it from
// the org's slug and the role: an address of 25 characters shows whole.
func TestConsoleUsersEmailKeepsItsRoomAt80Columns(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ana.garcia@phys.uni.edu", "admin", "") // 23 characters
	e.createUser("physics", "benedikt.s@chem.uni.edu", "member", "")
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Users")
	for _, email := range []string{"ana.garcia@phys.uni.edu", "benedikt.s@chem.uni.edu", "root@uni.example"} {
		if row := d.row(email); !strings.Contains(row, email) {
			t.Fatalf("row of %s cuts the email: %q", email, row)
		}
	}
	head, _ := d.line("Email")
	for _, col := range []string{"Name", "Status", "Org", "Role", "Last seen"} {
		if !strings.Contains(head, col) {
			t.Errorf("header %q lacks %s", head, col)
		}
	}
	if row := d.row("root@uni.example"); !strings.Contains(row, "sysadmin") || !strings.Contains(row, "lamb") {
		t.Errorf("root's row %q lacks the org or the role", row)
	}
	d.fits(80, 24)
}

// The full help fits the terminal: on the Providers screen, with its many
// keys, the columns get taller instead of the last ones being cut.
func TestConsoleFullHelpFitsTheTerminal(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	for _, sz := range sizes {
		d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		d.tab("Providers")
		d.press("?")
		for _, k := range []string{"test connection", "query knowledge base", "refresh", "next screen", "my account", "help", "quit"} {
			d.want(k)
		}
		if lines := strings.Split(d.view(), "\n"); strings.Contains(strings.Join(lines[2:], "\n"), "…") { // the tab bar may scroll
			t.Errorf("%dx%d: the help is cut:\n%s", sz.w, sz.h, d.view())
		}
		d.fitsAll(sz.w, sz.h)
		d.press("?")
		d.wantNot("query knowledge base")
	}
}

// Every screen has a key: 1-9 and 0 for the first ten, m for My account in
// every role's console. An org admin has eleven screens.
func TestConsoleEveryScreenHasAKey(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	member := e.createUser("physics", "ann@uni.example", "member", "")
	d := e.console(e.actor(fp))
	d.press("0")
	if got := d.activeTab(); got != "Audit" {
		t.Fatalf("0 opened %q, want Audit", got)
	}
	d.want("0 Audit")
	d.press("m")
	if got := d.activeTab(); got != "My account" {
		t.Fatalf("m opened %q, want My account", got)
	}
	d.want("m My account")
	d.press("1")
	if got := d.activeTab(); got != "Dashboard" {
		t.Fatalf("1 opened %q", got)
	}
	d.want("1-9 0 go to screen", "m my account")

	for _, a := range []service.Actor{e.root(), e.actor(member)} {
		d := e.console(a)
		d.press("m")
		if got := d.activeTab(); got != "My account" {
			t.Fatalf("%s: m opened %q", a.Email, got)
		}
		d.press("0") // fewer than ten screens: 0 is nobody's
		if got := d.activeTab(); got != "My account" {
			t.Fatalf("%s: 0 moved to %q", a.Email, got)
		}
	}
}

// A form's hint and a field's error wrap under the field instead of being
// cut at the edge of an 80-column terminal.
func TestConsoleFormHintsWrap(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Signup")
	d.press("k")
	d.want("Set the signup key",
		"Hard to guess: at least 16 characters, 8 of them different. Keys are unique across the platform; g (generate) makes a strong one.")
	d.fits(80, 24)
	d.typ("short")
	d.press("enter")
	d.want("want 16-64 characters of A-Z, a-z, 0-9, - and _, not starting or ending with - or _")
	d.fits(80, 24)
}

// A long result wraps on the status line (taking lines from the screen
// above it) instead of being cut.
func TestConsoleLongStatusWraps(t *testing.T) {
	e := newEnv(t)
	d := e.console(e.root())
	long := "provider openai of setup default: the provider did not answer at http://127.0.0.1:9/v1 " +
		"(connection refused): check the base URL and that the provider is running, then test again"
	for _, sz := range sizes {
		d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		d.send(tui.StatusMsg{Err: errors.New(long)})
		d.wantWhole("✗ " + long)
		d.fits(sz.w, sz.h)
		d.want("1 Organizations") // the frame stays
	}
}

// The reason a session ended stays on the terminal after it closes: it is
// wrapped to the terminal's width, not cut by it.
func TestConsoleSessionEndedWraps(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "ada@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	if _, err := e.svc.SetUserEnabled(e.ctx, e.root(), "prof@uni.example", false); err != nil {
		t.Fatal(err)
	}
	d.press("r")
	d.want("Session ended: your account was disabled; ask an admin of your organization to enable it, then connect again")
	for _, l := range strings.Split(d.view(), "\n") {
		if ansi.StringWidth(l) > 80 {
			t.Fatalf("a line of %d cells: %q", ansi.StringWidth(l), l)
		}
	}
}

// A result belongs to the screen that asked for it: one that arrives after
// the user moved on waits there instead of showing on another screen, and
// a screen's result is gone once the user leaves it.
func TestConsoleStatusStaysWithItsScreen(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.tab("Signup")
	d.hold(func() { d.press("e") }) // enabling signup, slowly
	d.tab("Users")
	d.release()
	d.wantNot("signup enabled")
	d.tab("Signup")
	d.want("✓ signup enabled")
	d.tab("Users")
	d.wantNot("signup enabled")
	d.tab("Signup")
	d.wantNot("signup enabled") // read once: leaving cleared it
}

// v on the Signup screen shows the key and the link and says so; v again
// hides them and says that too.
func TestConsoleRevealSaysWhatItDid(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	if _, err := e.svc.SetSignupEnabled(e.ctx, admin, "physics", true); err != nil {
		t.Fatal(err)
	}
	info, err := e.svc.SignupInfo(e.ctx, admin, "physics", true)
	if err != nil {
		t.Fatal(err)
	}
	d := e.console(admin)
	d.tab("Signup")
	d.want("v reveal key")
	d.wantNot(info.Key)
	d.press("v")
	d.want(info.Key, "key and link shown", "v hides them", "v hide key")
	d.press("v")
	d.wantNot(info.Key)
	d.want("key hidden; v shows it again", "v reveal key")
}

// The sign-in form fits its box at every size: a long email is cut at its
// field's edge instead of wrapping the box's lines.
func TestConsoleSignInBoxFits(t *testing.T) {
	e := newEnv(t)
	line, _ := newKey(t)
	email := "someone.with.a.really.long.email.address@department.university.example.org"
	for _, sz := range sizes {
		d := newDriver(t, New(e.common(service.Actor{}), false, line))
		d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
		d.typ(email)
		d.press("enter")
		d.typ("wrong-password")
		d.press("enter")
		d.want("email or password is not right")
		l, _ := d.line("Email")
		if !strings.Contains(l, "someone.with.a.really") {
			t.Errorf("%dx%d: the email is not on its field's line: %q\n%s", sz.w, sz.h, l, d.view())
		}
		d.fits(sz.w, sz.h)
		// Every line of the box has its right border in the same column.
		col := -1
		for _, l := range strings.Split(d.view(), "\n") {
			if i := strings.LastIndex(l, "│"); i >= 0 {
				w := ansi.StringWidth(l[:i])
				if col >= 0 && w != col {
					t.Fatalf("%dx%d: the box's lines are ragged:\n%s", sz.w, sz.h, d.view())
				}
				col = w
			}
		}
	}
}

// enter on an audit row shows every field of the event, long ones wrapped,
// which the table cuts at 80 columns; esc goes back to the table.
func TestConsoleAuditRowInFull(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	long := "a.very.long.address.for.the.audit.detail@students.university.example"
	if _, err := e.svc.CreateUser(e.ctx, admin, service.CreateUserInput{OrgSlug: "physics", Email: long, Name: "Long Name", Role: "member", Password: "long-enough-pw"}); err != nil {
		t.Fatal(err)
	}
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Audit")
	d.want("enter show in full")
	d.selectRow("user.create")
	d.press("enter")
	d.want("Audit event", "When", "Actor", "prof@uni.example", "Action", "user.create", "Target", "role", "member")
	d.wantWhole(long)
	d.fits(80, 24)
	d.wantNot("Last seen") // the table is gone
	d.press("esc")
	d.want("When", "Actor", "Action", "Target")
	if !d.hasRow(strings.Fields(d.selected())[0]) {
		t.Fatalf("back in the table, no row is selected:\n%s", d.view())
	}
}

// Every screen of every role fits 80×24, 100×30 and 120×40: no line is
// wider than the terminal (Limits' explanations wrap, an SSH key's details
// go under its fingerprint).
func TestConsoleEveryScreenFits(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Department of Physics")
	adminFP := e.createUser("physics", "prof.verylongname@physics.university.example", "admin", "")
	memberFP := e.createUser("physics", "student.with.a.long.address@students.university.example", "member", "")
	for _, fp := range []string{e.rootFP, adminFP, memberFP} {
		a := e.actor(fp)
		d := e.console(a)
		for _, sz := range sizes {
			d.send(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "m"} {
				d.press(k)
				if strings.Contains(d.view(), "loading…") {
					t.Fatalf("%s, key %s: still loading:\n%s", a.Email, k, d.view())
				}
				d.fits(sz.w, sz.h)
			}
		}
	}
}

// A failed provider test explains itself at length: at 80 columns the
// explanation wraps, on the status line and under the providers.
func TestConsoleProviderTestErrorWraps(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.enableProvider("physics", "default", "openai", "gpt-a") // nothing listens there
	d := e.console(e.actor(fp))
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Providers")
	d.press("t")
	d.want("could not connect")
	d.fits(80, 24)
	flat := d.flat()
	if i := strings.Index(flat, "last test of openai:"); i < 0 || !strings.Contains(flat[i:], "provider is running") {
		t.Fatalf("the last test's explanation is cut:\n%s", d.view())
	}
	if i := strings.Index(flat, "✗"); i < 0 || !strings.Contains(flat[i:], "provider is running") {
		t.Fatalf("the status line's explanation is cut:\n%s", d.view())
	}
}
