package console

import (
	"strings"
	"testing"

	"lamb/service"
)

// An admin can set a password of their choosing (p generates one).
func TestConsoleAdminSetsAPassword(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ana@uni.example", "member", "first-password")
	d := e.console(e.root())
	d.tab("Users")
	for range 5 {
		if strings.Contains(d.selected(), "ana@uni.example") {
			break
		}
		d.press("down")
	}
	d.press("P")
	d.want("Set the password of ana@uni.example")
	d.typ("chosen-password")
	d.press("tab")
	d.typ("chosen-passwrd")
	d.press("ctrl+s")
	d.want("doesn't match")
	d.press("shift+tab")
	d.press("tab")
	d.press("ctrl+u")
	d.typ("chosen-password")
	d.press("ctrl+s")
	d.want("password of ana@uni.example set")
	line, _ := newKey(t)
	if _, err := e.svc.SignIn(e.ctx, service.SignInInput{Key: line, Email: "ana@uni.example", Password: "chosen-password"}); err != nil {
		t.Fatalf("the chosen password doesn't sign in: %v", err)
	}
}
