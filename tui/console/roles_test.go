package console

import (
	"errors"
	"strings"
	"testing"

	"lamb/service"
)

func TestConsoleOrgAdmin(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "ann@uni.example", "member", "")
	e.createOrg("chem", "Chemistry")
	e.createUser("chem", "carl@uni.example", "member", "")
	d := e.console(e.actor(fp))

	d.want("lamb · physics · prof@uni.example (org admin)")
	d.wantNot("Organizations", "System", "Working in")
	d.tab("Organization")
	d.want("Physics  (physics)", "Admins", "prof@uni.example")

	// Users: this org only, without an Org column.
	d.tab("Users")
	d.want("ann@uni.example", "prof@uni.example", "1–2 of 2")
	d.wantNot("carl@uni.example", "root@uni.example", " Org ")

	// The org admin creates a member; the one-time password is shown once.
	d.press("n")
	d.want("New user", "Email")
	d.wantNot("slug, e.g. lamb") // no org field: the org is their own
	d.typ("bob@uni.example")
	d.press("tab")
	d.typ("Bob")
	d.press("ctrl+s")
	pw := d.oneTimePassword()
	d.press("enter")
	d.want("bob@uni.example", "1–3 of 3")
	if u := e.user("bob@uni.example"); u.OrgSlug != "physics" || u.Role != "member" {
		t.Fatalf("bob: %+v", u)
	}
	e.signInWorks("bob@uni.example", pw)

	// Audit: this org's events only.
	d.tab("Audit")
	d.want("user.create", "bob@uni.example")
	d.wantNot("carl@uni.example")

	// ctrl+b means nothing here; q quits.
	d.press("ctrl+b")
	d.want("user.create")
	if d.activeTab() != "Audit" {
		t.Fatalf("ctrl+b left the Audit screen for %q", d.activeTab())
	}
	d.tab("My account")
	d.want("SSH keys of your account")
	d.press("q")
	if !d.quit {
		t.Fatal("q did not quit")
	}
}

func TestConsoleMember(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "ann@uni.example", "member", "first-password")
	d := e.console(e.actor(fp))
	d.tab("My account")

	d.want("lamb · physics · ann@uni.example (member)", "My account", "User ann", "Email", "ann@uni.example",
		"Organization", "Physics (physics)", "SSH keys of your account", fp, "(this session)")
	d.wantNot("Users", "Audit", "Organizations")

	// A repeat that doesn't match is refused under Repeat; nothing is sent.
	d.press("p")
	d.want("Change your password", "Current password", "New password", "Repeat")
	d.typ("first-password")
	d.press("tab")
	d.typ("second-password")
	d.press("tab")
	d.typ("second-passwort")
	d.press("enter")
	if _, under := d.field("Repeat"); !strings.Contains(under, "↳ doesn't match the new password") {
		t.Fatalf("no error under Repeat; line after it is %q:\n%s", under, d.view())
	}

	// A wrong current password: the service's error under Current password.
	d.press("esc")
	d.want("SSH keys of your account")
	d.press("p")
	d.typ("not-my-password")
	d.press("tab")
	d.typ("second-password")
	d.press("tab")
	d.typ("second-password")
	d.press("ctrl+s")
	if _, under := d.field("Current password"); !strings.Contains(under, "↳ is not your current password") {
		t.Fatalf("no error under Current password; line after it is %q:\n%s", under, d.view())
	}

	// Too short a new password: under New password.
	d.press("esc", "p")
	d.typ("first-password")
	d.press("tab")
	d.typ("short")
	d.press("tab")
	d.typ("short")
	d.press("ctrl+s")
	if _, under := d.field("New password"); !strings.Contains(under, "↳ must be at least 8 characters") {
		t.Fatalf("no error under New password; line after it is %q:\n%s", under, d.view())
	}

	d.press("esc", "p")
	d.typ("first-password")
	d.press("tab")
	d.typ("second-password")
	d.press("tab")
	d.typ("second-password")
	d.press("enter")
	d.want("password changed", "SSH keys of your account")
	d.wantNot("Change your password")

	e.signInWorks("ann@uni.example", "second-password")
	line, _ := newKey(t)
	if _, err := e.svc.SignIn(e.ctx, service.SignInInput{Key: line, Email: "ann@uni.example", Password: "first-password"}); !errors.Is(err, service.ErrBadCredentials) {
		t.Fatalf("old password after the change: %v", err)
	}
}

func TestConsoleMemberSSHKeys(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "ann@uni.example", "member", "first-password")
	d := e.console(e.actor(fp))
	d.tab("My account")

	line, fp2 := newKey(t)
	d.press("a")
	d.want("Add an SSH key", "Public key")
	d.typ(line)
	d.press("enter")
	d.want("added "+fp2, fp2, fp)
	a := e.actor(fp2)
	if a.Email != "ann@uni.example" {
		t.Fatalf("the added key signs in as %v", a)
	}

	// Removing the session's own key warns about it.
	d.press("home")
	for range 3 {
		if strings.Contains(d.selected(), fp) {
			break
		}
		d.press("down")
	}
	d.press("x")
	d.want("This is the key you are signed in with: this session ends when it is removed",
		"one of your other keys, or with your email and password")
	d.press("esc")
	d.want(fp, fp2)
}

func TestConsoleSignIn(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ann@uni.example", "member", "ann-password")
	e.createUser("physics", "ben@uni.example", "member", "ben-password")

	signIn := func(keyLine string) *driver {
		t.Helper()
		return newDriver(t, New(e.common(service.Actor{}), false, keyLine))
	}

	// An unknown email answers as a wrong password does.
	line0, _ := newKey(t)
	d := signIn(line0)
	d.want("Sign in to lamb", "This SSH key is not linked to an account yet")
	d.typ("nobody@uni.example")
	d.press("enter")
	d.typ("whatever-password")
	d.press("enter")
	d.want("✗ email or password is not right")

	// Five wrong passwords, then the right one is throttled too.
	line, fp := newKey(t)
	d = signIn(line)
	d.typ("ann@uni.example")
	d.press("enter")
	for i := range 5 {
		d.typ("wrong-password")
		d.press("enter")
		d.want("email or password is not right")
		d.wantNot("too many sign-in attempts")
		if i == 0 {
			d.want("Sign in to lamb")
		}
	}
	d.typ("ann-password") // right, but too late
	d.press("enter")
	d.want("too many sign-in attempts")
	if _, err := e.svc.ActorForSSHKey(e.ctx, fp); !errors.Is(err, service.ErrNotFound) {
		t.Fatalf("key after failed sign-ins: %v", err)
	}

	// The right password links the key and opens the user's console.
	line2, fp2 := newKey(t)
	d = signIn(line2)
	d.typ("ben@uni.example")
	d.press("enter")
	d.typ("ben-password")
	d.press("enter")
	a, err := e.svc.ActorForSSHKey(e.ctx, fp2)
	if err != nil || a.Email != "ben@uni.example" {
		t.Fatalf("key after sign-in: %v, %v", a, err)
	}
	d.want("lamb · physics · ben@uni.example (member)", "My account", "this SSH key is now linked to ben@uni.example")
	d.wantNot("Sign in to lamb")
}

func TestConsoleSignInClaimAndLeave(t *testing.T) {
	e := newEnv(t)
	line, _ := newKey(t)
	// A claimed server doesn't offer the claim code.
	d := newDriver(t, New(e.common(service.Actor{}), false, line))
	d.wantNot("claim the server")
	d.press("ctrl+o")
	d.wantNot("Claim this lamb server")
	// An unclaimed one does (the setting holds the sealed code).
	if err := e.st.SetSetting(e.ctx, "claim_code", "x"); err != nil {
		t.Fatal(err)
	}
	d = newDriver(t, New(e.common(service.Actor{}), false, line))
	d.want("claim the server")
	d.press("ctrl+o")
	d.want("Claim this lamb server", "Claim code")
	d.typ("AAAAA-BBBBB")
	d.press("enter")
	d.typ("me@uni.example")
	d.press("enter")
	d.typ("Me")
	d.press("enter")
	d.want("that claim code is not valid")
	d.press("ctrl+o")
	d.want("Sign in to lamb")
	d.press("esc")
	if !d.quit {
		t.Fatal("esc on the sign-in screen did not leave")
	}
}

// Every screen can be left with the shell's keys (tab, a digit), so no
// screen traps the keyboard.
func TestConsoleOrgAdminScreensCanBeLeft(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.press("1")
	first := d.activeTab()
	seen := map[string]bool{}
	for range 30 {
		title := d.activeTab()
		if seen[title] {
			break
		}
		seen[title] = true
		d.press("tab")
		if d.activeTab() != title {
			continue
		}
		d.press("1")
		if d.activeTab() == title {
			d.press("esc", "1")
		}
		if d.activeTab() == title {
			t.Fatalf("BUG: the %s screen can't be left: neither tab nor a digit nor esc and a digit switch screens, and q is typed "+
				"into its form; only ctrl+c (which ends the session) gets out. Its Capturing() is true whenever its form exists "+
				"(tui/orgadmin/limits.go: `return m.form != nil`, and the form always exists once loaded), so tui/shell.go never "+
				"handles tab, shift+tab, 1-9 or q there", title)
		}
		t.Fatalf("BUG: the %s screen keeps tab and the digits to itself (Capturing() is always true once its form exists)", title)
	}
	if d.activeTab() != first {
		t.Fatalf("tab from the last screen went to %q, not back to %q", d.activeTab(), first)
	}
}

// A sign-in with a one-time password opens only the screen that chooses a
// password; once chosen, the user's console opens.
func TestConsoleOneTimePasswordChoosesFirst(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	admin := e.actor(e.createUser("physics", "prof@uni.example", "admin", ""))
	res, err := e.svc.CreateUser(e.ctx, admin, service.CreateUserInput{OrgSlug: "physics", Email: "new@uni.example", Name: "New"})
	if err != nil || res.Password == "" {
		t.Fatalf("create: %v %+v", err, res)
	}
	line, fp := newKey(t)
	d := newDriver(t, New(e.common(service.Actor{}), false, line))
	d.typ("new@uni.example")
	d.press("enter")
	d.typ(res.Password)
	d.press("enter")
	d.want("Choose your password", "one-time password is used up")
	d.wantNot("My assistants")
	d.press("q") // typed into the form: no quitting, no other screen
	d.want("Choose your password")
	d.press("ctrl+u")
	d.typ("my-own-password")
	d.press("tab")
	d.typ("my-own-password")
	d.press("ctrl+s")
	d.want("My assistants", "password saved")
	if a, err := e.svc.ActorForSSHKey(e.ctx, fp); err != nil || a.MustChoosePassword {
		t.Fatalf("after choosing: %+v %v", a, err)
	}
}
