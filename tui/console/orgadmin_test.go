package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// fakeOpenAI serves the model list of an OpenAI-compatible provider.
func fakeOpenAI(t *testing.T, models ...string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/models") {
			http.NotFound(w, r)
			return
		}
		var data []string
		for _, m := range models {
			data = append(data, fmt.Sprintf(`{"id":%q,"object":"model","owned_by":"test"}`, m))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[%s]}`, strings.Join(data, ","))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// A connection test answers for the setup it ran in: when another setup
// shows by the time it answers, its models are not offered for the setup
// showing.
func TestConsoleProviderTestStaysWithItsSetup(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	url := fakeOpenAI(t, "gpt-a", "gpt-b")
	e.enableProviderAt("physics", "default", "openai", url, "gpt-a")
	if err := e.svc.AddSetup(e.ctx, e.root(), "physics", "staging", "default"); err != nil {
		t.Fatal(err)
	}
	d := e.console(e.actor(fp))
	d.tab("Providers")
	d.want("default (active)", "OpenAI")

	d.hold(func() { d.press("t") }) // testing openai of default…
	d.press("]")                    // …while staging is shown
	d.want("staging")
	d.release()
	d.want("finished after you moved on")
	d.wantNot("Models served by")

	// Tested in the setup showing, the picked models go to that setup.
	d.press("t")
	d.want("Models served by openai in setup staging", "gpt-a", "gpt-b")
	d.press("down", " ", "enter")
	d.want("openai of setup staging: 2 models enabled")
	cfg, err := e.svc.OrgConfig(e.ctx, e.root(), "physics", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Setups["staging"].Providers["openai"].Models; !slices.Equal(got, []string{"gpt-a", "gpt-b"}) {
		t.Fatalf("staging's models %v", got)
	}
	if got := cfg.Setups["default"].Providers["openai"].Models; !slices.Equal(got, []string{"gpt-a"}) {
		t.Fatalf("default's models %v", got)
	}
}

// The org detail's "add admin" promotes a user of that org only. It used
// to call SetUserRole, which lets a system admin promote anyone: from
// physics' screen, a user of chem became an admin of chem.
func TestConsoleAddAdminCantPromoteUserOfAnotherOrg(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	e.createUser("physics", "ann@uni.example", "member", "")
	e.createOrg("chem", "Chemistry")
	e.createUser("chem", "carl@uni.example", "member", "")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("enter", "a")
	d.want("Add an admin to physics")
	d.typ("carl@uni.example")
	d.press("enter")
	d.want("Add an admin to physics", "carl@uni.example", "not found")
	if u := e.user("carl@uni.example"); u.Role != "member" || u.OrgSlug != "chem" {
		t.Fatalf("carl: %+v", u)
	}

	d.press("esc", "a")
	d.typ("ann@uni.example")
	d.press("enter")
	d.want("ann@uni.example is now an admin")
	if u := e.user("ann@uni.example"); u.Role != "admin" {
		t.Fatalf("ann: %+v", u)
	}
}

// A command reads what it needs before it returns: it runs on another
// goroutine, when the form may be another one. A rename still in flight
// when the admin opened "add admin" renamed the org to "".
func TestConsoleRenameReadsTheFormWhenSubmitted(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.selectRow("physics")
	d.press("enter", "e")
	d.typ(" Dept")
	d.hold(func() { d.press("enter") }) // the rename is in flight…
	d.press("esc", "a")                 // …while another form opens
	d.want("Add an admin to physics")
	d.release()
	d.want("renamed")
	if o, err := e.svc.GetOrg(e.ctx, e.root(), "physics"); err != nil || o.Name != "Physics Dept" {
		t.Fatalf("physics: %q, %v", o.Name, err)
	}
}

// Only the save's own answer closes the limits form: a load that lands
// while it is open leaves what is being typed alone.
func TestConsoleLimitsFormSurvivesAReload(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.tab("Limits")
	d.want("Limits of physics", "(e to edit)")
	d.hold(func() { d.press("r") })
	d.press("e")
	d.want("ctrl+s saves, esc leaves without saving")
	d.release()
	d.want("ctrl+s saves, esc leaves without saving")
	d.wantNot("(e to edit)")
}

// A long admin list scrolls with the cursor in a small terminal.
func TestConsoleOrgAdminsScroll(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	for i := range 20 {
		e.createUser("physics", fmt.Sprintf("admin%02d@uni.example", i), "admin", "")
	}
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.selectRow("physics")
	d.press("enter")
	d.want("Admins", "admin00@uni.example", "of 20 admins")
	for range 19 {
		d.press("down")
	}
	if !strings.Contains(d.selected(), "admin19@uni.example") {
		t.Fatalf("the selected admin is off the screen:\n%s", d.view())
	}
	d.want("of 20 admins")
	d.wantNot("admin00@uni.example")
	if n := len(strings.Split(d.view(), "\n")); n > 24 {
		t.Fatalf("%d lines in a terminal of 24", n)
	}
}
