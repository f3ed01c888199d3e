package console

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// paste sends text as a terminal's bracketed paste.
func (d *driver) paste(text string) {
	d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(text), Paste: true})
}

// Users → import: a pasted list is imported all at once and its one-time
// passwords shown; a list with bad rows names each and keeps the text to
// fix it.
func TestConsoleUsersImportFromPastedList(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	d.tab("Users")
	d.press("i")
	d.want("Import users", "ctrl+s imports it")

	d.paste("email,name\nstu1@uni.example,Stu One\nbroken,Broken\nprof@uni.example,Again\n")
	d.press("ctrl+s")
	d.want("Nothing imported: 2 problems to fix", "line 3: email:", "line 4: email: prof@uni.example is already registered")
	if _, err := e.svc.GetUser(e.ctx, e.root(), "stu1@uni.example"); err == nil {
		t.Fatal("a list with bad rows created a user")
	}
	d.press("esc")
	d.want("Import users", "stu1@uni.example") // the text is still there to fix

	// Start again with a good list.
	d.press("esc", "i")
	d.paste("email,name,role\nstu1@uni.example,Stu One,member\nstu2@uni.example,\"Two, Stu\",admin\n")
	d.press("ctrl+s")
	d.want("Imported 2 users into physics", "email,name,one_time_password", "stu1@uni.example,Stu One,", `stu2@uni.example,"Two, Stu",`, "Shown once")
	if u := e.user("stu2@uni.example"); u.Role != "admin" || u.OrgSlug != "physics" {
		t.Fatalf("stu2: %+v", u)
	}
	d.press("esc")
	d.want("stu1@uni.example", "stu2@uni.example")
	if strings.Contains(d.view(), "one_time_password") {
		t.Fatal("the passwords stayed on screen")
	}
}

// A member's console has no user import; a system admin picks the org.
func TestConsoleUsersImportBySystemAdminNeedsOrg(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 100, Height: 30})
	d.tab("Users")
	d.press("i")
	d.want("Import users", "Organization")
	d.press("tab")
	d.paste("email,name\nx@uni.example,X\n")
	d.press("ctrl+s")
	d.want("choose the organization")
}
