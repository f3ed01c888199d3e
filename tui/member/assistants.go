package member

import (
	"context"
	"fmt"
	"strconv"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/service"
	"lamb/tui"
)

type asstMode int

const (
	asstListing asstMode = iota
	asstEditing
	asstConfirmDelete
)

// Assistants lists and edits assistants: the user's own ("My assistants"),
// or every assistant of the org for its admins, who may also create one for
// any member.
type Assistants struct {
	c       *tui.Common
	all     bool // every assistant of the org (admins)
	list    *tui.List
	mode    asstMode
	editor  *asstForm // asstEditing
	choices []service.ModelChoice
	// kb is what the org's knowledge base said about its collections,
	// for the editor's picker.
	kb      kbChoices
	active  string // the org's active setup; "" when it enables no provider
	loaded  bool   // choices came at least once
	loadErr error  // the last load of the choices failed
	// The editor was asked for before the choices came: it opens when
	// they do, for waitFor (nil: a new assistant).
	waiting bool
	waitFor *service.Assistant
	// rechecked: the choices were loaded again because they offered no
	// model (an admin may have enabled a provider since).
	rechecked bool
	confirm   *tui.Confirm
	deleting  service.Assistant // the assistant the open confirmation names
	width     int
	height    int
}

// modelOption is one entry of the model picker: provider, model and the
// setup that offers them.
type modelOption struct {
	label, provider, model, setup string
	// active: setup is the org's active setup, which an assistant that
	// isn't pinned to a setup follows.
	active bool
}

// NewAssistants returns the assistants screen; all lists the whole org
// (for its admins).
func NewAssistants(c *tui.Common, all bool) *Assistants {
	m := &Assistants{c: c, all: all}
	// A narrow terminal hides the rightmost columns first: Status stays
	// next to the name.
	cols := []tui.Column{{Title: "ID", Width: 5}, {Title: "Name", Width: 20, Flex: true}, {Title: "Status", Width: 8}}
	if all {
		cols = append(cols, tui.Column{Title: "Owner", Width: 22, Flex: true})
	}
	cols = append(cols, tui.Column{Title: "Call as (model)", Width: 20}, tui.Column{Title: "Provider · model", Width: 22})
	m.list = tui.NewList(c, cols, func(ctx context.Context, q string, off, lim int) (tui.Page, error) {
		var p service.Page[service.Assistant]
		var err error
		if all {
			p, err = c.Svc.ListOrgAssistants(ctx, c.Actor, c.Actor.OrgSlug, q, off, lim)
		} else {
			p, err = c.Svc.ListMyAssistants(ctx, c.Actor, q, off, lim)
		}
		if err != nil {
			return tui.Page{}, err
		}
		out := tui.Page{Total: p.Total}
		for _, a := range p.Items {
			row := []string{strconv.FormatInt(a.ID, 10), a.Name, tui.YesNo(a.Enabled, "enabled", "disabled")}
			if all {
				row = append(row, a.Owner)
			}
			pm := a.Provider + " · " + a.LLM
			if a.Setup != "" {
				pm += " (" + a.Setup + ")"
			}
			row = append(row, a.Model, pm)
			out.Rows = append(out.Rows, row)
			out.Items = append(out.Items, a)
		}
		return out, nil
	})
	m.list.Empty = "no assistants yet: press n to create one"
	return m
}

// kbChoicesMsg brings the collections of the org's knowledge base,
// loaded on their own: a slow knowledge base mustn't hold the form up.
type kbChoicesMsg struct {
	owner *Assistants
	list  []service.KBCollection
	err   error
}

type choicesMsg struct {
	owner   *Assistants
	choices []service.ModelChoice
	active  string
	err     error
}

type asstDoneMsg struct {
	owner *Assistants
	text  string
	err   error
}

func (m *Assistants) Title() string {
	if m.all {
		return "Assistants"
	}
	return "My assistants"
}

func (m *Assistants) Init() tea.Cmd {
	return tea.Batch(m.list.Load(), m.loadChoices(), m.loadKBChoices())
}

func (m *Assistants) loadKBChoices() tea.Cmd {
	a := m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		list, err := m.c.Svc.KBChoices(ctx, a)
		return kbChoicesMsg{owner: m, list: list, err: err}
	})
}

func (m *Assistants) loadChoices() tea.Cmd {
	a := m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		ch, err := m.c.Svc.ModelChoices(ctx, a)
		msg := choicesMsg{owner: m, choices: ch, err: err}
		for _, c := range ch {
			if c.Active {
				msg.active = c.Setup
			}
		}
		return msg
	})
}

// activeSetup is the org's active setup, "" when it enables no provider.
func (m *Assistants) activeSetup() string { return m.active }

func (m *Assistants) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.SetSize(w, h)
	if m.editor != nil {
		m.editor.SetSize(w, h)
	}
}

func (m *Assistants) Capturing() bool {
	switch m.mode {
	case asstEditing:
		return true
	case asstListing:
		return m.list.Filtering()
	}
	return false
}

var (
	keyNewAsst    = tui.Bind("n", "new assistant")
	keyEditAsst   = tui.Bind("enter", "edit")
	keyToggleAsst = tui.Bind("e", "enable/disable")
	keyDeleteAsst = tui.Bind("d", "delete")
	keyAskKB      = tui.Bind("ctrl+r", "ask the knowledge base again")
)

func (m *Assistants) Keys() []key.Binding {
	switch m.mode {
	case asstEditing:
		return []key.Binding{tui.Bind("tab", "next field"), tui.Bind("shift+tab", "previous"), tui.Bind("ctrl+s", "save"),
			keyAskKB, tui.Bind("esc", "cancel")}
	case asstConfirmDelete:
		return m.confirm.Keys()
	}
	if m.list.Filtering() {
		return m.list.Keys()
	}
	return append([]key.Binding{keyNewAsst, keyEditAsst, keyToggleAsst, keyDeleteAsst}, m.list.Keys()...)
}

func (m *Assistants) Update(msg tea.Msg) (tui.Screen, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.ShownMsg:
		_, cmd := m.list.Update(msg)
		return m, tea.Batch(cmd, m.loadChoices(), m.loadKBChoices())
	case choicesMsg:
		if msg.owner != m {
			return m, nil
		}
		m.loadErr = msg.err
		if msg.err == nil { // a failed reload keeps what loaded before
			m.choices, m.active, m.loaded = msg.choices, msg.active, true
		}
		if m.waiting {
			m.waiting = false
			if m.mode == asstListing {
				return m, m.edit(m.waitFor)
			}
		}
		return m, nil
	case kbChoicesMsg:
		if msg.owner != m {
			return m, nil
		}
		m.kb = m.kbState(msg.list, msg.err)
		if m.editor != nil {
			m.editor.collections.offer(m.kb)
		}
		return m, nil
	case asstDoneMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			if m.mode == asstEditing {
				m.editor.SetError(msg.err)
				return m, nil
			}
			return m, tui.Error(msg.err)
		}
		m.mode, m.editor = asstListing, nil
		return m, tea.Batch(tui.Status(msg.text), m.list.Load())
	}
	if km, isKey := msg.(tea.KeyMsg); isKey && m.mode == asstListing && !m.list.Filtering() && key.Matches(km, tui.KeyRefresh) {
		_, cmd := m.list.Update(msg)
		return m, tea.Batch(cmd, m.loadChoices(), m.loadKBChoices())
	}
	if _, isKey := msg.(tea.KeyMsg); !isKey || m.mode == asstListing {
		if used, cmd := m.list.Update(msg); used {
			return m, cmd
		}
	}
	km, isKey := msg.(tea.KeyMsg)
	switch m.mode {
	case asstEditing:
		if isKey && key.Matches(km, keyAskKB) {
			m.kb.loaded = false // the field says it is asking
			m.editor.collections.offer(m.kb)
			return m, m.loadKBChoices()
		}
		submit, cancel, cmd := m.editor.form.Update(msg)
		switch {
		case cancel:
			m.mode, m.editor = asstListing, nil
			return m, nil
		case submit:
			return m, m.save()
		}
		return m, cmd
	case asstConfirmDelete:
		switch m.confirm.Update(msg) {
		case "esc":
			m.mode = asstListing
		case "y":
			// The assistant the question named, not the row selected
			// now: the list may have reloaded under the dialog.
			a, actor := m.deleting, m.c.Actor
			m.mode = asstListing
			return m, m.run(a.Name+" deleted", func(ctx context.Context) error {
				return m.c.Svc.DeleteAssistant(ctx, actor, a.ID)
			})
		}
		return m, nil
	}
	if !isKey {
		return m, nil
	}
	if key.Matches(km, keyNewAsst) {
		return m, m.edit(nil)
	}
	a, ok := m.list.Selected().(service.Assistant)
	if !ok {
		return m, nil
	}
	switch {
	case key.Matches(km, keyEditAsst):
		return m, m.edit(&a)
	case key.Matches(km, keyToggleAsst):
		on, actor := !a.Enabled, m.c.Actor
		return m, m.run(a.Name+tui.YesNo(on, " enabled", " disabled"), func(ctx context.Context) error {
			return m.c.Svc.SetMyAssistantEnabled(ctx, actor, a.ID, on)
		})
	case key.Matches(km, keyDeleteAsst):
		m.deleting = a
		m.confirm = tui.NewConfirm(m.c, "Delete assistant "+a.Name+"?",
			fmt.Sprintf("Callers of %s get \"model not found\" from now on. Its usage history stays.", a.Model))
		m.mode = asstConfirmDelete
	}
	return m, nil
}

func (m *Assistants) run(done string, fn func(ctx context.Context) error) tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg { return asstDoneMsg{m, done, fn(ctx)} })
}

// edit opens the editor for a (nil: a new assistant).
func (m *Assistants) edit(a *service.Assistant) tea.Cmd {
	switch {
	case !m.loaded && m.loadErr != nil:
		return tui.Error(fmt.Errorf("could not load the models your organization offers (%s); press r to try again", tui.ErrorText(m.loadErr)))
	case !m.loaded: // the spinner turns meanwhile
		m.waiting, m.waitFor = true, a
		return nil
	}
	options, current := m.modelOptions(a)
	if len(options) == 0 {
		if !m.rechecked { // what loaded may be older than an admin's change
			m.rechecked, m.waiting, m.waitFor = true, true, a
			return m.loadChoices()
		}
		m.rechecked = false
		return tui.Error(fmt.Errorf("no provider is enabled in your organization yet; ask an admin to set one up on the Providers screen"))
	}
	m.rechecked = false
	m.editor = newAsstForm(m.c, m.all, a, options, current, m.kb)
	m.editor.SetSize(m.width, m.height)
	m.mode = asstEditing
	// The knowledge base may have come back (or gone) since it was asked;
	// a message of the list (say, that no provider was enabled) is over.
	return tea.Batch(tui.Status(""), m.loadKBChoices())
}

// kbState reads the answer of KBChoices: an empty list is no knowledge
// base in the active setup when the setups say so.
func (m *Assistants) kbState(list []service.KBCollection, err error) kbChoices {
	kb := kbChoices{loaded: true, list: list, err: err}
	if err == nil && len(list) == 0 {
		for _, c := range m.choices {
			if c.Active && !c.KnowledgeBase {
				kb.none = true
			}
		}
	}
	return kb
}

// modelOptions lists the models of every setup for the picker, and the
// index of a's current one. Saving an assistant without touching the
// picker must keep its provider, model and setup: when no setup offers
// them any more, they are the first option, marked (current).
func (m *Assistants) modelOptions(a *service.Assistant) ([]modelOption, int) {
	active := m.activeSetup()
	var options []modelOption
	for _, ch := range m.choices {
		models := ch.Models
		if len(models) == 0 && ch.DefaultModel != "" {
			models = []string{ch.DefaultModel}
		}
		for _, mod := range models {
			o := modelOption{provider: ch.Provider, model: mod, setup: ch.Setup, active: ch.Setup == active,
				label: ch.Provider + " · " + mod}
			if !o.active {
				o.label += " (setup " + ch.Setup + ")"
			}
			options = append(options, o)
		}
	}
	if a == nil {
		return options, 0
	}
	for i, o := range options {
		// An assistant that isn't pinned follows the active setup.
		if o.provider == a.Provider && o.model == a.LLM && (o.setup == a.Setup || (a.Setup == "" && o.active)) {
			return options, i
		}
	}
	cur := modelOption{provider: a.Provider, model: a.LLM, setup: a.Setup, label: "(current) " + a.Provider + " · " + a.LLM}
	if a.Setup != "" {
		cur.label += " (setup " + a.Setup + ")"
	}
	return append([]modelOption{cur}, options...), 0
}

func (m *Assistants) save() tea.Cmd {
	f := m.editor
	in, err := f.input()
	if err != nil {
		f.SetError(err)
		return nil
	}
	editing, a := f.editing, m.c.Actor
	return m.c.Do(func(ctx context.Context) tea.Msg {
		if editing == nil {
			res, err := m.c.Svc.CreateAssistant(ctx, a, in)
			return asstDoneMsg{m, "created " + res.Name + ": call it as model " + res.Model, err}
		}
		res, err := m.c.Svc.UpdateAssistant(ctx, a, editing.ID, in)
		return asstDoneMsg{m, "saved " + res.Name, err}
	})
}

func (m *Assistants) View() string {
	switch m.mode {
	case asstEditing:
		return m.editor.View()
	case asstConfirmDelete:
		return m.confirm.View()
	}
	return m.list.View()
}
