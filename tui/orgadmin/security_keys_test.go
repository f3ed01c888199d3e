package orgadmin

import (
	"io"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"lamb/config"
	"lamb/tui"
)

// A key the platform handed the org shows masked (as the service returns
// it) with a note that it can be used, not read, and that another URL
// needs a key of the org's own — so the refusal to redirect it isn't a
// surprise.
func TestCopiedSystemKeyIsNotRevealedToOrgAdmin(t *testing.T) {
	c := &tui.Common{Styles: tui.NewStyles(lipgloss.NewRenderer(io.Discard)), Width: 160, Height: 40}
	m := NewProviders(c, "gamma")
	m.cfg = config.NewOrg()
	m.cfg.Setups["default"].Providers["openai"] = &config.Provider{Enabled: true, APIKey: config.Mask("sk-platform-0123456789abcdef"),
		APIKeySource: config.SourceSystem, BaseURL: "https://user:…@llm.example/v1", Models: []string{"gpt-4o-mini"}}
	m.setup = "default"
	v := m.View()
	for _, want := range []string{"sk-…cdef", "the platform's: usable, not readable", "https://user:…@llm.example/v1"} {
		if !strings.Contains(v, want) {
			t.Fatalf("view lacks %q:\n%s", want, v)
		}
	}
}
