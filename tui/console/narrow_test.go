package console

import (
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/config"
	"lamb/service"
)

// fits fails unless every line of the screen but the help line (which the
// renderer cuts) fits w cells, and there are at most h lines.
func (d *driver) fits(w, h int) {
	d.t.Helper()
	lines := strings.Split(d.view(), "\n")
	if len(lines) > h {
		d.t.Fatalf("%d lines in a terminal of %d:\n%s", len(lines), h, d.view())
	}
	for _, l := range lines[:len(lines)-1] {
		if n := ansi.StringWidth(l); n > w {
			d.t.Fatalf("a line of %d cells in a terminal of %d: %q", n, w, l)
		}
	}
}

// row returns the table row that holds text, below the header and tabs.
func (d *driver) row(text string) string {
	d.t.Helper()
	lines := strings.Split(d.view(), "\n")
	for _, l := range lines[3:] {
		if strings.Contains(l, text) {
			return l
		}
	}
	d.t.Fatalf("no row holds %q:\n%s", text, d.view())
	return ""
}

// At 80 columns the usage table keeps its numbers, Tokens and latency
// included: the name column gives up room instead.
func TestConsoleUsageFits80Columns(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	d := e.console(e.actor(fp))
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("Usage")
	d.want("Organization physics", "[this month]")
	head, _ := d.scrollTo("By assistant", "Requests")
	for _, col := range []string{"Assistant", "Requests", "Errors", "Tokens", "p50", "p95"} {
		if !strings.Contains(head, col) {
			t.Fatalf("header %q lacks %s", head, col)
		}
	}
	d.fits(80, 24)
	d.press("b")
	d.scrollTo("", "By user")
	d.fits(80, 24)
}

// A narrow terminal hides a table's rightmost columns first: Status comes
// right after the name, so it stays.
func TestConsoleStatusColumnStaysAt80Columns(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	fp := e.createUser("physics", "prof@uni.example", "admin", "")
	admin := e.actor(fp)
	e.enableProvider("physics", "default", "openai", "gpt-a")
	e.createAssistant(admin, service.AssistantInput{Name: "Tutor", Provider: "openai", Model: "gpt-a"})
	if _, err := e.svc.CreateAPIKey(e.ctx, admin, "", "moodle", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	d := e.console(admin)
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	for screen, row := range map[string]string{"Assistants": "Tutor", "API keys": "moodle", "Users": "prof@uni.example"} {
		d.tab(screen)
		head, _ := d.line("Name")
		if !strings.Contains(head, "Status") {
			t.Errorf("%s at 80 columns: header %q has no Status", screen, head)
		}
		if l := d.row(row); !regexp.MustCompile(`\b(enabled|active)\b`).MatchString(l) {
			t.Errorf("%s at 80 columns: row %q has no status", screen, l)
		}
		d.fits(80, 24)
	}
}

// A sync that changed many fields says how many it couldn't show.
func TestConsoleSyncListFits(t *testing.T) {
	s := func(v string) *string { return &v }
	on := true
	models := []string{"gpt-a", "gpt-b"}
	env := config.System{
		OpenAIAPIKey: s("sk-1"), OpenAIBaseURL: s("http://openai.example/v1"), OpenAIModels: &models, OpenAIModel: s("gpt-a"),
		OllamaBaseURL: s("http://ollama.example"), OllamaModels: &models, OllamaModel: s("gpt-b"),
		KBServer: s("http://kb.example"), KBToken: s("kb-token"), SignupEnabled: &on, SignupSecretKey: s("lamb-signup-2026"),
	}
	e := newEnv(t, func(d *service.Deps) {
		d.SystemEnv = func() (config.System, error) { return env, nil }
	})
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.tab("System")
	d.press("s")
	d.want("synced from the environment", "Last sync", "more")
	if !regexp.MustCompile(`… \d+ more`).MatchString(d.view()) {
		t.Fatalf("no count of what was cut:\n%s", d.view())
	}
	d.fits(80, 24)
}

// The banner of an org opened as its admin fits 80 columns, ctrl+b and all.
func TestConsoleOpenAsBannerFits80Columns(t *testing.T) {
	e := newEnv(t)
	e.createOrg("physics", "Physics")
	d := e.console(e.root())
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.selectRow("physics")
	d.press("o")
	d.want("Working in physics as its admin (audited) · ctrl+b: back to the system console")
	d.fits(80, 24)
}
