package sysadmin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/config"
	"lamb/internal/safetext"
	"lamb/tui"
)

// System shows what the environment manages in the system org and syncs
// it again from .env and the environment.
type System struct {
	c       *tui.Common
	width   int
	height  int
	changes []config.Change
	synced  bool
	err     error
}

// NewSystem returns the system screen.
func NewSystem(c *tui.Common) *System { return &System{c: c} }

type syncedMsg struct {
	changes []config.Change
	err     error
}

var keySync = tui.Bind("s", "sync from .env now")

func (m *System) Title() string       { return "System" }
func (m *System) Init() tea.Cmd       { return nil }
func (m *System) SetSize(w, h int)    { m.width, m.height = w, h }
func (m *System) Capturing() bool     { return false }
func (m *System) Keys() []key.Binding { return []key.Binding{keySync} }

func (m *System) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case syncedMsg:
		m.synced, m.err, m.changes = true, msg.err, msg.changes
		if msg.err != nil {
			return m, tui.Error(msg.err)
		}
		return m, tui.Status(fmt.Sprintf("synced from the environment: %d changes", len(msg.changes)))
	case tea.KeyMsg:
		if key.Matches(msg, keySync) {
			a := m.c.Actor
			return m, m.c.Do(func(ctx context.Context) tea.Msg {
				ch, err := m.c.Svc.SyncSystemOrgNow(ctx, a)
				return syncedMsg{ch, err}
			})
		}
	}
	return m, nil
}

func (m *System) View() string {
	st := m.c.Styles
	var b strings.Builder
	b.WriteString(" " + st.Title.Render("System organization lamb") + "\n")
	intro := "Fields whose variable is set in .env or the environment are written at every start and on sync; " +
		"the others keep what admins store. Press s to re-read .env and sync now."
	b.WriteString(st.Muted.PaddingLeft(1).Width(max(m.width-1, 20)).Render(intro) + "\n")
	// What the last sync changed comes first: it answers the key just
	// pressed. Each list gets the lines left, and says how many it cut.
	if m.synced && m.err == nil {
		b.WriteString("\n " + st.Title.Render("Last sync") + "\n")
		if len(m.changes) == 0 {
			b.WriteString(" " + st.Muted.Render("no changes: the stored settings already match the environment") + "\n")
		}
		// Leave room for the managed fields' title and a few of them.
		room := max(m.height-lines(b.String())-4, 2)
		for i, c := range m.changes {
			if i == room-1 && len(m.changes) > room {
				b.WriteString(" " + st.Muted.Render(fmt.Sprintf("… %d more", len(m.changes)-i)) + "\n")
				break
			}
			b.WriteString(m.cut(" "+st.Success.Render("•")+" "+safetext.Sanitize(c.String())) + "\n")
		}
	}
	managed := m.c.Svc.ManagedFields()
	b.WriteString("\n " + st.Title.Render("Managed by .env") + "\n")
	if len(managed) == 0 {
		b.WriteString(" " + st.Muted.Render("nothing: no system-org variable is set") + "\n")
	}
	fields := make([]string, 0, len(managed))
	for f := range managed {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	room := max(m.height-lines(b.String()), 2)
	for i, f := range fields {
		if i == room-1 && len(fields) > room {
			b.WriteString(" " + st.Muted.Render(fmt.Sprintf("… %d more", len(fields)-i)) + "\n")
			break
		}
		b.WriteString(m.cut(fmt.Sprintf(" %-24s %s", safetext.Sanitize(managed[f]), st.Muted.Render(safetext.Sanitize(f)))) + "\n")
	}
	return b.String()
}

// cut fits a line to the screen's width.
func (m *System) cut(line string) string {
	if m.width <= 0 {
		return line
	}
	return ansi.Truncate(line, m.width-1, "…")
}

// lines counts the lines of text that ends in a newline.
func lines(text string) int { return strings.Count(text, "\n") }
