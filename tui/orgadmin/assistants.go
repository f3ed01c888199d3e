package orgadmin

import (
	"context"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

// Assistants lists every assistant of the org; admins enable or disable
// them.
type Assistants struct {
	c    *tui.Common
	slug string
	list *tui.List
}

// NewAssistants returns the org's assistants screen.
func NewAssistants(c *tui.Common, slug string) *Assistants {
	l := tui.NewList(c, []tui.Column{
		{Title: "ID", Width: 6}, {Title: "Name", Width: 20, Flex: true}, {Title: "Owner", Width: 24, Flex: true},
		{Title: "Provider", Width: 8}, {Title: "Model", Width: 16}, {Title: "Status", Width: 8},
	}, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.ListOrgAssistants(ctx, c.Actor, slug, q, off, lim)
		if err != nil {
			return tui.Page{}, err
		}
		out := tui.Page{Total: p.Total}
		for _, a := range p.Items {
			out.Rows = append(out.Rows, []string{itoa(a.ID), a.Name, a.Owner, a.Provider, a.LLM, tui.YesNo(a.Enabled, "enabled", "disabled")})
			out.Items = append(out.Items, a)
		}
		return out, nil
	})
	l.Empty = "no assistants yet: members create them in their console"
	return &Assistants{c: c, slug: slug, list: l}
}

type assistantDoneMsg struct {
	owner *Assistants
	text  string
	err   error
}

var keyAssistantToggle = tui.Bind("e", "enable/disable")

func (m *Assistants) Title() string    { return "Assistants" }
func (m *Assistants) Init() tea.Cmd    { return m.list.Load() }
func (m *Assistants) SetSize(w, h int) { m.list.SetSize(w, h) }
func (m *Assistants) Capturing() bool  { return m.list.Filtering() }
func (m *Assistants) View() string     { return m.list.View() }

func (m *Assistants) Keys() []key.Binding {
	if m.list.Filtering() {
		return m.list.Keys()
	}
	return append([]key.Binding{keyAssistantToggle}, m.list.Keys()...)
}

func (m *Assistants) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	if done, ok := msg.(assistantDoneMsg); ok && done.owner == m {
		if done.err != nil {
			return m, tui.Error(done.err)
		}
		return m, tea.Batch(tui.Status(done.text), m.list.Load())
	}
	if used, cmd := m.list.Update(msg); used {
		return m, cmd
	}
	if km, ok := msg.(tea.KeyMsg); ok && key.Matches(km, keyAssistantToggle) {
		a, ok := m.list.Selected().(service.Assistant)
		if !ok {
			return m, nil
		}
		on := !a.Enabled
		return m, m.c.Do(func(ctx context.Context) tea.Msg {
			err := m.c.Svc.SetAssistantEnabled(ctx, m.c.Actor, a.ID, on)
			return assistantDoneMsg{m, a.Name + map[bool]string{true: " enabled", false: " disabled"}[on], err}
		})
	}
	return m, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
