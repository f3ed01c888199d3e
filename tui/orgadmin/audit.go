package orgadmin

import (
	"context"
	"encoding/json"
	"fmt"
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
	c      *tui.Common
	list   *tui.List
	detail *tui.Detail // the event opened with enter
	width  int
	height int
}

// NewAudit returns the audit screen.
func NewAudit(c *tui.Common) *Audit {
	// At 80 columns every column gives up some room rather than Target and
	// Details vanishing; enter shows a row in full.
	cols := []tui.Column{{Title: "When", Width: 16}}
	all := c.Actor.Role == service.RoleSystemAdmin
	if all {
		cols = append(cols, tui.Column{Title: "Org", Width: 12, Min: 6})
	}
	cols = append(cols, tui.Column{Title: "Actor", Width: 20, Min: 12}, tui.Column{Title: "Action", Width: 18, Min: 14},
		tui.Column{Title: "Target", Width: 18, Min: 12}, tui.Column{Title: "Details", Width: 16, Flex: true})
	l := tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		p, err := c.Svc.AuditPage(ctx, c.Actor, service.AuditQuery{Query: q}, off, lim)
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

func (m *Audit) Title() string { return "Audit" }
func (m *Audit) Init() tea.Cmd { return m.list.Load() }

func (m *Audit) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.SetSize(w, h)
	if m.detail != nil {
		m.detail.SetSize(w, h)
	}
}

func (m *Audit) Capturing() bool { return m.list.Filtering() }

var keyAuditDetail = tui.Bind("enter", "show in full")

func (m *Audit) Keys() []key.Binding {
	if m.detail != nil {
		return tui.DetailKeys
	}
	if m.list.Filtering() {
		return m.list.Keys()
	}
	return append([]key.Binding{keyAuditDetail}, m.list.Keys()...)
}

func (m *Audit) View() string {
	if m.detail != nil {
		return m.detail.View()
	}
	return m.list.View()
}

func (m *Audit) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	if km, ok := msg.(tea.KeyMsg); ok && m.detail != nil {
		if m.detail.Update(km) {
			m.detail = nil
		}
		return m, nil
	}
	if km, ok := msg.(tea.KeyMsg); ok && !m.list.Filtering() && key.Matches(km, keyAuditDetail) {
		if e, ok := m.list.Selected().(service.AuditEvent); ok {
			m.detail = auditDetail(m.c, e)
			m.detail.SetSize(m.width, m.height)
		}
		return m, nil
	}
	_, cmd := m.list.Update(msg)
	return m, cmd
}

// auditDetail shows every field of an event, each detail on its own line.
func auditDetail(c *tui.Common, e service.AuditEvent) *tui.Detail {
	kv := []string{
		"When", e.CreatedAt.Local().Format("2006-01-02 15:04:05 MST"),
		"Organization", e.OrgSlug,
		"Actor", e.Actor,
		"Action", e.Action,
		"Target", e.Target,
	}
	keys := make([]string, 0, len(e.Details))
	for k := range e.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		kv = append(kv, "Details", "none")
	}
	for _, k := range keys {
		v, _ := json.Marshal(e.Details[k])
		kv = append(kv, k, strings.Trim(string(v), `"`))
	}
	return tui.NewDetail(c, fmt.Sprintf("Audit event %d", e.ID), kv...)
}
