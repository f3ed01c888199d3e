package console

import (
	"errors"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
)

// The audit screen's filters: f by actor and action prefix, s by age, F
// failed sign-ins, x clears; the footer says what is applied, and an
// empty result says how to get out of it.
func TestConsoleAuditFilters(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	admin := e.actor(e.createUser("physics", "prof@uni.example", "admin", ""))
	if _, err := e.svc.CreateUser(e.ctx, admin, service.CreateUserInput{OrgSlug: "physics", Email: "pw@uni.example", Name: "Pw",
		Password: "a-good-password"}); err != nil {
		t.Fatal(err)
	}
	line, _ := newKey(t)
	if _, err := e.svc.SignIn(e.ctx, service.SignInInput{Key: line, Email: "pw@uni.example", Password: "a-wrong-guess",
		RemoteAddr: "203.0.113.5:999"}); !errors.Is(err, service.ErrBadCredentials) {
		t.Fatal(err)
	}
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Audit")
	d.want("user.create", "f actor/action")

	d.press("F")
	d.want("user.signin_f", "action user.signin_failed… (x clears)")
	d.wantNot("user.create")
	d.selectRow("user.signin_f")
	d.press("enter")
	d.want("Audit event", "pw@uni.example", "203.0.113.5", "wrong password")
	d.press("esc")

	d.press("x")
	d.want("user.create")
	d.press("f")
	d.want("Filter the audit", "Actor", "Action")
	d.typ("nobody@uni.example")
	d.press("ctrl+s")
	d.want("actor nobody@uni.example", "no event matches these filters: f changes them, x clears them")
	d.fits(80, 24)
	d.press("x", "f", "tab")
	d.typ("user.")
	d.press("ctrl+s")
	d.want("action user.…", "user.create")
	d.wantNot("org.")
	d.press("s")
	d.want("since 24h · action user.…")
	d.fits(80, 24)
	// A filter the service refuses says why, and x gets out of it.
	d.press("x", "f", "tab")
	d.typ("user%")
	d.press("ctrl+s")
	d.want("lower-case words joined by dots")
	d.press("x")
	d.want("user.create")
}

// u on the Users screen shows the accounts unused for 30, 90, 180 days,
// then every account again.
func TestConsoleQuietUsers(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	admin := e.actor(e.createUser("physics", "prof@uni.example", "admin", ""))
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Users")
	d.want("prof@uni.example")
	d.press("u")
	d.want("unused for 30 days", "no account is unused for 30 days: u shows the next step, then every account")
	if d.hasRow("prof@uni.example") {
		t.Fatalf("prof, seen just now, listed as unused:\n%s", d.view())
	}
	d.press("u", "u")
	d.want("unused for 180 days")
	d.press("u")
	d.want("prof@uni.example")
	if strings.Contains(d.view(), "unused for") {
		t.Fatalf("every account again, still filtered:\n%s", d.view())
	}
	d.fits(80, 24)
}
