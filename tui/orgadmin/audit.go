package orgadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

// Audit lists audited changes, newest first: every org for a system admin,
// the own org for an org admin. Besides the typed filter (/), f filters
// by actor and action prefix, s by age, F shows failed sign-ins, and x
// clears them; enter shows an event in full.
type Audit struct {
	c      *tui.Common
	list   *tui.List
	detail *tui.Detail // the event opened with enter
	form   *tui.Form   // the actor and action filters being edited
	query  service.AuditQuery
	since  int // index in auditSince
	width  int
	height int
}

// auditSince are the ages s goes through; 0 is every event.
var auditSince = []struct {
	label string
	age   time.Duration
}{{"", 0}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"90d", 90 * 24 * time.Hour}}

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
	m := &Audit{c: c}
	l := tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		aq := m.query
		aq.Query = q
		if age := auditSince[m.since].age; age > 0 {
			aq.Since = time.Now().Add(-age)
		}
		p, err := c.Svc.AuditPage(ctx, c.Actor, aq, off, lim)
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
	m.list = l
	return m
}

// filtersChanged shows the filters in the list's footer and loads its
// first page.
func (m *Audit) filtersChanged() tea.Cmd {
	var parts []string
	if l := auditSince[m.since].label; l != "" {
		parts = append(parts, "since "+l)
	}
	if m.query.Actor != "" {
		parts = append(parts, "actor "+m.query.Actor)
	}
	if m.query.Action != "" {
		parts = append(parts, "action "+m.query.Action+"…")
	}
	m.list.Note, m.list.Empty = "", "no audited changes yet"
	if len(parts) > 0 {
		m.list.Note = strings.Join(parts, " · ") + " (x clears)"
		m.list.Empty = "no event matches these filters: f changes them, x clears them"
	}
	return m.list.Reset()
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
	if m.form != nil {
		m.form.SetWidth(w)
	}
}

func (m *Audit) Capturing() bool { return m.list.Filtering() || m.form != nil }

var (
	keyAuditDetail  = tui.Bind("enter", "show in full")
	keyAuditFilters = tui.Bind("f", "actor/action")
	keyAuditSince   = tui.Bind("s", "since 24h/7d/30d/90d")
	keyAuditFailed  = tui.Bind("F", "failed sign-ins")
	keyAuditClear   = tui.Bind("x", "clear filters")
)

func (m *Audit) Keys() []key.Binding {
	switch {
	case m.detail != nil:
		return tui.DetailKeys
	case m.form != nil:
		return tui.FormKeys
	case m.list.Filtering():
		return m.list.Keys()
	}
	return append([]key.Binding{keyAuditDetail, keyAuditFilters, keyAuditSince, keyAuditFailed, keyAuditClear}, m.list.Keys()...)
}

func (m *Audit) View() string {
	switch {
	case m.detail != nil:
		return m.detail.View()
	case m.form != nil:
		return m.form.View()
	}
	return m.list.View()
}

func (m *Audit) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	km, isKey := msg.(tea.KeyMsg)
	switch {
	case isKey && m.detail != nil:
		if m.detail.Update(km) {
			m.detail = nil
		}
		return m, nil
	case m.form != nil && isKey:
		submit, cancel, cmd := m.form.Update(km)
		switch {
		case cancel:
			m.form = nil
		case submit:
			m.query.Actor = strings.TrimSpace(m.form.Value("actor"))
			m.query.Action = strings.ToLower(strings.TrimSpace(m.form.Value("action")))
			m.form = nil
			return m, m.filtersChanged()
		}
		return m, cmd
	case m.form != nil:
		_, _, cmd := m.form.Update(msg)
		return m, cmd
	case isKey && !m.list.Filtering():
		switch {
		case key.Matches(km, keyAuditDetail):
			if e, ok := m.list.Selected().(service.AuditEvent); ok {
				m.detail = auditDetail(m.c, e)
				m.detail.SetSize(m.width, m.height)
			}
			return m, nil
		case key.Matches(km, keyAuditFilters):
			m.form = tui.NewForm(m.c, "Filter the audit",
				tui.NewField(tui.TextField, "actor", "Actor", "an email, or an SSH key's fingerprint; empty: anyone").WithValue(m.query.Actor),
				tui.NewField(tui.TextField, "action", "Action", "the start of an action: user., config., user.signin_failed").WithValue(m.query.Action))
			m.form.SetWidth(m.width)
			return m, nil
		case key.Matches(km, keyAuditSince):
			m.since = (m.since + 1) % len(auditSince)
			return m, m.filtersChanged()
		case key.Matches(km, keyAuditFailed):
			m.query.Action = "user.signin_failed"
			return m, m.filtersChanged()
		case key.Matches(km, keyAuditClear):
			m.query, m.since = service.AuditQuery{}, 0
			return m, m.filtersChanged()
		}
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
