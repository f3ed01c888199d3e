package console

import (
	"strings"
	"testing"
	"time"

	"lamb/service"
)

// A confirmation acts on what it named. The list under it may reload
// while it is open (here: the screen is left and shown again after a key
// was made elsewhere), so the selected row is another one by the time y
// is pressed.
func TestConsoleRevokeConfirmActsOnTheNamedKey(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	for _, name := range []string{"old-key", "mid-key"} {
		if _, err := e.svc.CreateAPIKey(e.ctx, admin, "", name, false, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	d := e.console(admin)
	d.tab("API keys")
	d.selectRow("old-key")          // newest first: mid-key, old-key
	d.hold(func() { d.press("r") }) // a reload still on its way when the question opens
	d.press("x")
	d.want("Revoke old-key")

	if _, err := e.svc.CreateAPIKey(e.ctx, admin, "", "new-key", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	d.release() // reloads under the question: new-key, mid-key, old-key
	d.want("Revoke old-key")
	d.press("y")
	d.want("old-key revoked")
	keys, err := e.svc.ListAPIKeys(e.ctx, admin, "", false, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Items {
		if revoked := !k.RevokedAt.IsZero(); revoked != (k.Name == "old-key") {
			t.Errorf("%s revoked: %v", k.Name, revoked)
		}
	}
}

func TestConsoleDeleteAssistantConfirmActsOnTheNamedOne(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	e.enableProvider("physics", "default", "openai", "gpt-a")
	for _, name := range []string{"Bravo", "Delta"} {
		e.createAssistant(admin, service.AssistantInput{Name: name, Provider: "openai", Model: "gpt-a"})
	}
	d := e.console(admin)
	d.tab("Assistants")
	d.selectRow("Delta")            // by name: Bravo, Delta
	d.hold(func() { d.press("r") }) // a reload still on its way when the question opens
	d.press("d")
	d.want("Delete assistant Delta?")

	e.createAssistant(admin, service.AssistantInput{Name: "Alpha", Provider: "openai", Model: "gpt-a"})
	d.release() // reloads under the question: Alpha, Bravo, Delta
	d.want("Delete assistant Delta?")
	d.press("y")
	d.want("Delta deleted")
	p, err := e.svc.ListOrgAssistants(e.ctx, admin, "physics", "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range p.Items {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "Alpha,Bravo" {
		t.Fatalf("assistants left: %v", names)
	}
}

func TestConsoleRemoveSSHKeyConfirmActsOnTheNamedKey(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	fp1 := e.createUser("physics", "ann@uni.example", "member", "")
	var fps []string
	for range 2 {
		line, f := newKey(t)
		if _, err := e.svc.AddSSHKey(e.ctx, e.root(), "ann@uni.example", line); err != nil {
			t.Fatal(err)
		}
		fps = append(fps, f)
	}
	fp2, fp3 := fps[0], fps[1]
	d := e.console(e.actor(fp))
	d.tab("Users")
	d.selectRow("ann@uni.example")
	d.press("enter")
	d.want("SSH keys of ann@uni.example", fp1, fp2, fp3)
	d.press("down") // fp2
	line, fp4 := newKey(t)
	d.hold(func() { // a key is being added…
		d.press("a")
		d.typ(line)
		d.press("enter")
	})
	d.press("esc", "x")
	d.want("Remove " + fp2 + "?")
	if err := e.svc.RemoveSSHKey(e.ctx, e.root(), fp1); err != nil {
		t.Fatal(err)
	}
	d.release() // …and the list reloads under the dialog: fp2, fp3, fp4, the cursor on fp3
	d.press("y")
	d.want("removed " + fp2)
	keys, err := e.svc.ListSSHKeys(e.ctx, e.root(), "ann@uni.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Fingerprint != fp3 || keys[1].Fingerprint != fp4 {
		t.Fatalf("ann's keys left: %+v, want %s and %s", keys, fp3, fp4)
	}
}

func TestConsoleRemoveAdminConfirmActsOnTheNamedAdmin(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ann@uni.example", "admin", "")
	e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "aaron@uni.example", "member", "")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("enter")
	d.want("Admins", "ann@uni.example", "prof@uni.example")
	d.press("down")
	if !strings.Contains(d.selected(), "prof@uni.example") {
		t.Fatalf("selected %q", d.selected())
	}
	d.hold(func() { d.press("r") }) // a reload is on its way…
	d.press("x")
	d.want("Remove admin prof@uni.example?")
	if _, err := e.svc.SetUserRole(e.ctx, e.root(), "aaron@uni.example", "admin"); err != nil {
		t.Fatal(err)
	}
	d.release() // …and lands under the dialog: aaron, ann, prof
	d.press("y")
	d.want("prof@uni.example is now a member")
	if u := e.user("prof@uni.example"); u.Role != "member" {
		t.Fatalf("prof is %s", u.Role)
	}
	if u := e.user("ann@uni.example"); u.Role != "admin" {
		t.Fatalf("ann, who wasn't named, is %s", u.Role)
	}
}

// Changes that take something away from people, or re-route assistants,
// ask first; esc changes nothing.
func TestConsoleAsksBeforeTakingAway(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	e.createUser("physics", "ann@uni.example", "member", "")
	if err := e.svc.AddSetup(e.ctx, e.root(), "physics", "staging", ""); err != nil {
		t.Fatal(err)
	}
	d := e.console(e.actor(fp))

	// Disabling asks; enabling doesn't.
	d.tab("Users")
	d.selectRow("ann@uni.example")
	d.press("e")
	d.want("Disable ann@uni.example?")
	d.press("esc")
	if !e.user("ann@uni.example").Enabled {
		t.Fatal("esc disabled ann")
	}
	d.press("e", "y")
	d.want("ann@uni.example disabled")
	d.selectRow("ann@uni.example")
	d.press("e")
	d.want("ann@uni.example enabled")
	if !e.user("ann@uni.example").Enabled {
		t.Fatal("ann is still disabled")
	}

	// Admin and member both ways.
	d.selectRow("ann@uni.example")
	d.press("a")
	d.want("Make ann@uni.example an admin?")
	d.press("esc")
	if e.user("ann@uni.example").Role != "member" {
		t.Fatal("esc made ann an admin")
	}
	d.press("a", "y")
	d.want("ann@uni.example is now admin")
	d.selectRow("ann@uni.example")
	d.press("a")
	d.want("Make ann@uni.example a member?")
	d.press("y")
	d.want("ann@uni.example is now member")

	// Another active setup re-routes every assistant that isn't pinned.
	d.tab("Providers")
	d.press("a")
	d.want("default is already the active setup")
	d.press("]", "a")
	d.want("Make staging the active setup?", "isn't pinned")
	d.press("esc")
	if o, _ := e.svc.GetOrg(e.ctx, e.root(), "physics"); o.Setup != "default" {
		t.Fatalf("esc activated %s", o.Setup)
	}
	d.press("a", "y")
	d.want("staging is now the active setup")
	if o, _ := e.svc.GetOrg(e.ctx, e.root(), "physics"); o.Setup != "staging" {
		t.Fatalf("active setup %s", o.Setup)
	}

	// Signup on needs no question; off does.
	d.tab("Signup")
	d.press("e")
	d.want("signup enabled")
	d.press("e")
	d.want("Turn signup off for physics?")
	d.press("esc")
	if s, _ := e.svc.SignupInfo(e.ctx, e.root(), "physics", false); !s.Enabled {
		t.Fatal("esc turned signup off")
	}
	d.press("e", "y")
	d.want("signup disabled")
	if s, _ := e.svc.SignupInfo(e.ctx, e.root(), "physics", false); s.Enabled {
		t.Fatal("signup is still on")
	}
}

// helpLine is the last line of the screen: the keys that apply now.
func (d *driver) helpLine() string {
	lines := strings.Split(d.view(), "\n")
	return lines[len(lines)-1]
}

// A question takes every key until it is answered: its footer lists its
// own keys only (not the screen's, nor tab and the screen numbers), and
// those keys do nothing else meanwhile.
func TestConsoleConfirmFooterListsOnlyItsKeys(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "ann@uni.example", "member", "ann-password")
	line, _ := newKey(t)
	if _, err := e.svc.AddSSHKey(e.ctx, e.root(), "ann@uni.example", line); err != nil {
		t.Fatal(err)
	}
	d := e.console(e.actor(fp))
	d.tab("My account")
	d.want("p change password")
	d.press("x")
	d.want("Remove ")
	help := d.helpLine()
	if !strings.Contains(help, "y yes") || !strings.Contains(help, "esc cancel") {
		t.Fatalf("the question's footer lacks its keys: %q", help)
	}
	for _, stray := range []string{"change password", "next screen", "go to screen", "quit", "help"} {
		if strings.Contains(help, stray) {
			t.Errorf("the question's footer offers %q: %q", stray, help)
		}
	}
	// Keys of the screen and the shell are not acted on under the question.
	d.press("p", "tab", "1", "q")
	if d.quit {
		t.Fatal("q under a question quit the console")
	}
	d.want("Remove ")
	if d.activeTab() != "My account" {
		t.Fatalf("a key under the question switched to %q", d.activeTab())
	}
	d.press("esc")
	d.want("p change password")
}

// What removing a key warns about follows what the account really has:
// a password is offered as the way back only when there is one; without
// one, removing your own last key is refused with what to do instead, and
// an admin is told how to let the user back in.
func TestConsoleRemovingOnlyKeyWarnsAboutWhatIsThere(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	adminFP := e.createUser("physics", "prof@uni.example", "admin", "prof-password")
	nopw := e.createUser("physics", "ann@uni.example", "member", "")
	e.createUser("physics", "ben@uni.example", "member", "ben-password")

	// Ann has one key and no password: her console refuses before asking.
	d := e.console(e.actor(nopw))
	d.tab("My account")
	d.press("x")
	d.want("removing it would lock you out", "Add another key first")
	d.wantNot("Remove " + nopw + "?")
	d.fits(termWidth, termHeight)
	if _, err := e.svc.ActorForSSHKey(e.ctx, nopw); err != nil {
		t.Fatalf("ann's key is gone: %v", err)
	}

	// The admin removing Ann's only key is told she has no password.
	d = e.console(e.actor(adminFP))
	d.tab("Users")
	d.selectRow("ann@uni.example")
	d.press("enter")
	d.want("SSH keys of ann@uni.example")
	d.press("x")
	d.want("they have no password", "give them a one-time password")
	d.wantNot("email and password")
	d.press("esc", "esc")

	// Ben has a password: his only key's removal says he signs in with it.
	d.selectRow("ben@uni.example")
	d.press("enter")
	d.want("SSH keys of ben@uni.example")
	d.press("x")
	d.want("sign in next with their email and password")
	d.wantNot("no password")
}
