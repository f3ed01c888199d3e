package member

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
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
	c        *tui.Common
	all      bool // every assistant of the org (admins)
	list     *tui.List
	mode     asstMode
	editing  *service.Assistant // nil: creating
	form     *tui.Form
	prompt   textarea.Model
	inPrompt bool
	choices  []service.ModelChoice
	options  []modelOption
	confirm  *tui.Confirm
	width    int
	height   int
}

// modelOption is one entry of the model picker: provider, model and setup.
type modelOption struct {
	label, provider, model, setup string
}

// NewAssistants returns the assistants screen; all lists the whole org
// (for its admins).
func NewAssistants(c *tui.Common, all bool) *Assistants {
	m := &Assistants{c: c, all: all}
	cols := []tui.Column{{Title: "ID", Width: 5}, {Title: "Name", Width: 20, Flex: true}}
	if all {
		cols = append(cols, tui.Column{Title: "Owner", Width: 22, Flex: true})
	}
	cols = append(cols, tui.Column{Title: "Call as (model)", Width: 20}, tui.Column{Title: "Provider · model", Width: 22}, tui.Column{Title: "Status", Width: 8})
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
			row := []string{strconv.FormatInt(a.ID, 10), a.Name}
			if all {
				row = append(row, a.Owner)
			}
			pm := a.Provider + " · " + a.LLM
			if a.Setup != "" {
				pm += " (" + a.Setup + ")"
			}
			row = append(row, a.Model, pm, tui.YesNo(a.Enabled, "enabled", "disabled"))
			out.Rows = append(out.Rows, row)
			out.Items = append(out.Items, a)
		}
		return out, nil
	})
	m.list.Empty = "no assistants yet: press n to create one"
	return m
}

type choicesMsg struct {
	owner   *Assistants
	choices []service.ModelChoice
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
	return tea.Batch(m.list.Load(), m.loadChoices())
}

func (m *Assistants) loadChoices() tea.Cmd {
	return m.c.Do(func(ctx context.Context) tea.Msg {
		ch, err := m.c.Svc.ModelChoices(ctx, m.c.Actor)
		return choicesMsg{m, ch, err}
	})
}

func (m *Assistants) SetSize(w, h int) {
	m.width, m.height = w, h
	m.list.SetSize(w, h)
	if m.form != nil {
		m.form.SetWidth(w)
		m.prompt.SetWidth(max(w-6, 20))
		m.prompt.SetHeight(max(h-16, 4))
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
)

func (m *Assistants) Keys() []key.Binding {
	switch m.mode {
	case asstEditing:
		return []key.Binding{tui.Bind("tab", "next field"), tui.Bind("ctrl+p", "edit system prompt / fields"), tui.Bind("ctrl+s", "save"), tui.Bind("esc", "cancel")}
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
		return m, tea.Batch(cmd, m.loadChoices())
	case choicesMsg:
		if msg.owner == m && msg.err == nil {
			m.choices = msg.choices
		}
		return m, nil
	case asstDoneMsg:
		if msg.owner != m {
			return m, nil
		}
		if msg.err != nil {
			if m.mode == asstEditing {
				m.form.SetError(msg.err)
				return m, nil
			}
			return m, tui.Error(msg.err)
		}
		m.mode = asstListing
		return m, tea.Batch(tui.Status(msg.text), m.list.Load())
	}
	if _, isKey := msg.(tea.KeyMsg); !isKey || m.mode == asstListing {
		if used, cmd := m.list.Update(msg); used {
			return m, cmd
		}
	}
	km, isKey := msg.(tea.KeyMsg)
	switch m.mode {
	case asstEditing:
		if !isKey {
			if m.inPrompt {
				var cmd tea.Cmd
				m.prompt, cmd = m.prompt.Update(msg)
				return m, cmd
			}
			_, _, cmd := m.form.Update(msg)
			return m, cmd
		}
		switch km.String() {
		case "ctrl+s":
			return m, m.save()
		case "esc":
			m.mode = asstListing
			return m, nil
		case "ctrl+p":
			m.inPrompt = !m.inPrompt
			if m.inPrompt {
				return m, m.prompt.Focus()
			}
			m.prompt.Blur()
			return m, nil
		}
		if m.inPrompt {
			var cmd tea.Cmd
			m.prompt, cmd = m.prompt.Update(msg)
			return m, cmd
		}
		submit, _, cmd := m.form.Update(msg)
		if submit {
			m.inPrompt = true
			return m, m.prompt.Focus()
		}
		return m, cmd
	case asstConfirmDelete:
		switch m.confirm.Update(msg) {
		case "esc":
			m.mode = asstListing
		case "y":
			a := m.list.Selected().(service.Assistant)
			m.mode = asstListing
			return m, m.run(a.Name+" deleted", func(ctx context.Context) error {
				return m.c.Svc.DeleteAssistant(ctx, m.c.Actor, a.ID)
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
		on := !a.Enabled
		return m, m.run(a.Name+tui.YesNo(on, " enabled", " disabled"), func(ctx context.Context) error {
			return m.c.Svc.SetMyAssistantEnabled(ctx, m.c.Actor, a.ID, on)
		})
	case key.Matches(km, keyDeleteAsst):
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
	m.editing = a
	m.options = nil
	var labels []string
	for i, ch := range m.choices {
		models := ch.Models
		if len(models) == 0 && ch.DefaultModel != "" {
			models = []string{ch.DefaultModel}
		}
		for _, mod := range models {
			o := modelOption{provider: ch.Provider, model: mod, label: ch.Provider + " · " + mod}
			if i > 0 && ch.Setup != m.choices[0].Setup {
				o.setup = ch.Setup
				o.label += " (setup " + ch.Setup + ")"
			}
			m.options = append(m.options, o)
			labels = append(labels, o.label)
		}
	}
	if len(labels) == 0 {
		return tui.Error(fmt.Errorf("no provider is enabled in your organization yet; ask an admin to set one up on the Providers screen"))
	}
	title, name, desc, temp, current := "New assistant", "", "", "", ""
	enabled := true
	if a != nil {
		title, name, desc = "Edit "+a.Name+" ("+a.Model+")", a.Name, a.Description
		enabled = a.Enabled
		if a.Temperature != nil {
			temp = strconv.FormatFloat(*a.Temperature, 'f', -1, 64)
		}
		for _, o := range m.options {
			if o.provider == a.Provider && o.model == a.LLM && o.setup == a.Setup {
				current = o.label
			}
		}
	}
	fields := []*tui.Field{}
	if m.all && a == nil {
		hint := "email of a member; empty = you"
		if m.c.Actor.ActingSystemAdmin {
			hint = "email of a user of " + m.c.Actor.OrgSlug
		}
		fields = append(fields, tui.NewField(tui.TextField, "owner", "Owner", hint))
	}
	fields = append(fields,
		tui.NewField(tui.TextField, "name", "Name", "e.g. Physics tutor").WithValue(name),
		tui.NewField(tui.TextField, "description", "Description", "optional: what it is for").WithValue(desc),
		tui.Choice("model", "Model", labels...).WithValue(current),
		tui.NewField(tui.TextField, "temperature", "Temperature", "optional, 0-2 (empty: the provider's default)").WithValue(temp),
		tui.NewField(tui.ToggleField, "enabled", "Enabled", "").WithValue(fmt.Sprint(enabled)),
	)
	m.form = tui.NewForm(m.c, title, fields...)
	m.form.Intro = "enter on the last field or ctrl+p moves to the system prompt; ctrl+s saves."
	m.form.SetWidth(m.width)
	m.prompt = textarea.New()
	m.prompt.Placeholder = "The system prompt goes first in every conversation, e.g. \"You are a patient physics tutor for first-year students…\""
	m.prompt.CharLimit = 100_000
	m.prompt.ShowLineNumbers = false
	m.prompt.SetWidth(max(m.width-6, 20))
	m.prompt.SetHeight(max(m.height-16, 4))
	if a != nil {
		m.prompt.SetValue(a.SystemPrompt)
	}
	m.prompt.Blur()
	m.inPrompt = false
	m.mode = asstEditing
	return nil
}

func (m *Assistants) save() tea.Cmd {
	f := m.form
	in := service.AssistantInput{Owner: f.Value("owner"), Name: f.Value("name"), Description: f.Value("description"),
		SystemPrompt: m.prompt.Value(), Enabled: f.Bool("enabled")}
	for _, o := range m.options {
		if o.label == f.Value("model") {
			in.Provider, in.Model, in.Setup = o.provider, o.model, o.setup
		}
	}
	if t := strings.TrimSpace(f.Value("temperature")); t != "" {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			f.SetError(&service.InvalidError{Field: "temperature", Message: "must be a number between 0 and 2"})
			return nil
		}
		in.Temperature = &v
	}
	editing := m.editing
	a := m.c.Actor
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
	st := m.c.Styles
	switch m.mode {
	case asstEditing:
		label := st.Label.Render(" System prompt")
		if m.inPrompt {
			label = st.Focused.Render("▸System prompt") + st.Muted.Render("  (ctrl+p back to the fields)")
		}
		return m.form.View() + "\n" + label + "\n" + m.prompt.View()
	case asstConfirmDelete:
		return m.confirm.View()
	}
	return m.list.View()
}
