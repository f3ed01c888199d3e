package orgadmin

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"lamb/config"
	"lamb/tui"
)

// After a setup is added the screen shows it at once, before the reloaded
// config has it: drawing then must not dereference the missing setup (it
// used to end the session with a nil pointer panic).
func TestProvidersDrawWhileNewSetupLoads(t *testing.T) {
	c := &tui.Common{Styles: tui.NewStyles(lipgloss.NewRenderer(io.Discard)), Width: 80, Height: 24}
	m := NewProviders(c, "acme")
	m.cfg = config.NewOrg()
	m.setup = "staging" // switched to by the save, not in the loaded config yet
	if v := m.View(); !strings.Contains(v, "loading") {
		t.Fatalf("view: %q", v)
	}
	m.editForm("openai") // enter on an item meanwhile does nothing
	if m.form != nil {
		t.Fatal("a form opened for a setup that isn't loaded")
	}
}
