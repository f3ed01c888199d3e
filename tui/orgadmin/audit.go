package orgadmin

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

// Audit lists audited changes, newest first: every org for a system admin,
// the own org for an org admin.
type Audit struct {
	c    *tui.Common
	list *tui.List
}

// NewAudit returns the audit screen.
func NewAudit(c *tui.Common) *Audit {
	cols := []tui.Column{{Title: "When", Width: 16}}
	all := c.Actor.Role == service.RoleSystemAdmin
	if all {
		cols = append(cols, tui.Column{Title: "Org", Width: 12})
	}
	cols = append(cols, tui.Column{Title: "Actor", Width: 22}, tui.Column{Title: "Action", Width: 20},
		tui.Column{Title: "Target", Width: 18}, tui.Column{Title: "Details", Width: 20, Flex: true})
	l := tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.AuditPage(ctx, c.Actor, "", q, off, lim)
		if err != nil {
			return tui.Page{}, err
		}
		out := tui.Page{Total: p.Total}
		for _, e := range p.Items {
			row := []string{e.CreatedAt.Local().Format("2006-01-02 15:04")}
			if all {
				row = append(row, e.OrgSlug)
			}
			row = append(row, e.Actor, e.Action, e.Target, details(e.Details))
			out.Rows = append(out.Rows, row)
			out.Items = append(out.Items, e)
		}
		return out, nil
	})
	l.Empty = "no audited changes yet"
	return &Audit{c: c, list: l}
}

// details renders a details object as k=v pairs.
func details(d map[string]any) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, _ := json.Marshal(d[k])
		parts = append(parts, k+"="+strings.Trim(string(v), `"`))
	}
	return strings.Join(parts, " ")
}

func (m *Audit) Title() string       { return "Audit" }
func (m *Audit) Init() tea.Cmd       { return m.list.Load() }
func (m *Audit) SetSize(w, h int)    { m.list.SetSize(w, h) }
func (m *Audit) Capturing() bool     { return m.list.Filtering() }
func (m *Audit) Keys() []key.Binding { return m.list.Keys() }
func (m *Audit) View() string        { return m.list.View() }
func (m *Audit) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	_, cmd := m.list.Update(msg)
	return m, cmd
}
