package sysadmin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/config"
	"lamb/tui"
)

// System shows what the environment manages in the system org and syncs
// it again from .env and the environment.
type System struct {
	c       *tui.Common
	width   int
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
func (m *System) SetSize(w, h int)    { m.width = w }
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
	b.WriteString(st.Muted.PaddingLeft(1).Width(max(m.width-1, 20)).Render(intro) + "\n\n")
	managed := m.c.Svc.ManagedFields()
	b.WriteString(" " + st.Title.Render("Managed by .env") + "\n")
	if len(managed) == 0 {
		b.WriteString(" " + st.Muted.Render("nothing: no system-org variable is set") + "\n")
	}
	fields := make([]string, 0, len(managed))
	for f := range managed {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	for _, f := range fields {
		b.WriteString(fmt.Sprintf(" %-24s %s\n", managed[f], st.Muted.Render(f)))
	}
	if m.synced && m.err == nil {
		b.WriteString("\n " + st.Title.Render("Last sync") + "\n")
		if len(m.changes) == 0 {
			b.WriteString(" " + st.Muted.Render("no changes: the stored settings already match the environment") + "\n")
		}
		for _, c := range m.changes {
			b.WriteString(" " + st.Success.Render("•") + " " + c.String() + "\n")
		}
	}
	return b.String()
}
