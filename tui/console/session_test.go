package console

import (
	"testing"

	"lamb/service"
)

// A console resolves its actor once, when the session starts, and may stay
// open for days. An admin who is disabled, demoted or whose key is removed
// must lose the console at their next action, not keep acting with the
// role they had: each action is checked first, and a failed check ends the
// session with the reason instead of doing anything.
func TestConsoleStaleAdminSessionCantAct(t *testing.T) {
	changes := map[string]struct {
		change func(e *env, fp string)
		reason string
	}{
		"disabled": {func(e *env, _ string) {
			if _, err := e.svc.SetUserEnabled(e.ctx, e.root(), "prof@uni.example", false); err != nil {
				t.Fatal(err)
			}
		}, "Session ended: your account was disabled"},
		"demoted": {func(e *env, _ string) {
			if _, err := e.svc.SetUserRole(e.ctx, e.root(), "prof@uni.example", "member"); err != nil {
				t.Fatal(err)
			}
		}, "Session ended: your account changed since you signed in"},
		"key removed": {func(e *env, fp string) {
			if err := e.svc.RemoveSSHKey(e.ctx, e.root(), fp); err != nil {
				t.Fatal(err)
			}
		}, "Session ended: your account changed since you signed in"},
	}
	for name, c := range changes {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.createOrg("physics", "Physics")
			fp := e.createUser("physics", "prof@uni.example", "admin", "")
			e.createUser("physics", "ada@uni.example", "admin", "")
			e.createUser("physics", "ann@uni.example", "member", "")
			d := e.console(e.actor(fp))
			d.tab("Users")
			d.selectRow("ann@uni.example")
			d.press("d")
			d.want("Delete ann@uni.example?")

			c.change(e, fp)
			d.press("y")
			d.want(c.reason)
			if !d.quit {
				t.Fatal("the session goes on")
			}
			if _, err := e.svc.GetUser(e.ctx, e.root(), "ann@uni.example"); err != nil {
				t.Fatalf("ann after the stale admin's delete: %v", err)
			}
			// Nothing else is drawn or done: the reason stays on the terminal.
			d.wantNot("Users", "ann@uni.example")
			d.press("r")
			d.want(c.reason)
		})
	}
}

// A system admin working in an org as its admin loses that when they stop
// being a system admin.
func TestConsoleStaleSystemAdminInOrgCantAct(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ann@uni.example", "member", "")
	fp := e.createUser("lamb", "ops@uni.example", "member", "")
	if _, err := e.svc.SetSystemAdmin(e.ctx, e.root(), "ops@uni.example", true); err != nil {
		t.Fatal(err)
	}
	d := e.console(e.actor(fp))
	d.selectRow("physics")
	d.press("o")
	d.want("Working in physics")
	d.tab("Users")
	d.want("ann@uni.example")

	if _, err := e.svc.SetSystemAdmin(e.ctx, e.root(), "ops@uni.example", false); err != nil {
		t.Fatal(err)
	}
	d.press("r")
	d.want("Session ended")
	if !d.quit {
		t.Fatal("the session goes on")
	}
}

// The sign-in screen has no actor to check: signing in still works.
func TestConsoleSignInIsNotChecked(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ann@uni.example", "member", "ann-password")
	line, _ := newKey(t)
	d := newDriver(t, New(e.common(service.Actor{}), false, line))
	d.typ("ann@uni.example")
	d.press("enter")
	d.typ("ann-password")
	d.press("enter")
	d.want("lamb · physics · ann@uni.example (member)")
	d.wantNot("Session ended")
}

// ctrl+b moves the cursor in a text field; it leaves an org opened as its
// admin only when no field has the keyboard.
func TestConsoleCtrlBLeavesOnlyOutsideForms(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("o")
	d.tab("Users")
	d.press("n")
	d.typ("ab")
	d.press("ctrl+b")
	d.want("Working in physics", "New user")
	d.press("esc", "ctrl+b")
	d.want("back in the system console", "1 Organizations")
	d.wantNot("Working in physics")
}

// What was done in the org shows when the system console comes back.
func TestConsoleCtrlBRefreshesTheSystemConsole(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("o")
	d.want("Working in physics")
	e.createOrg("newco", "New Co") // e.g. made in another session meanwhile
	d.press("ctrl+b")
	d.want("1 Organizations", "1–3 of 3")
	if !d.hasRow("newco") {
		t.Fatalf("the list was not refreshed:\n%s", d.view())
	}
}

// A result goes to the shell whose screen asked for it. A password reset
// answered after the system admin opened an org must still show its
// one-time password in the system console, not vanish in the org's shell.
func TestConsoleResultReachesItsShell(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "carl@uni.example", "member", "")
	d := e.console(e.root())
	d.tab("Users")
	d.selectRow("carl@uni.example")
	d.press("p")
	d.want("Reset the password of carl@uni.example?")
	d.hold(func() { d.press("y") }) // the reset is in flight…
	d.tab("Organizations")
	d.selectRow("physics")
	d.press("o") // …when physics opens on top
	d.want("Working in physics")
	d.release()
	d.want("Working in physics")

	d.press("ctrl+b")
	d.tab("Users")
	d.want("Password of carl@uni.example reset")
	pw := d.oneTimePassword()
	e.signInWorks("carl@uni.example", pw)
}
