package member

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/safetext"
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
	// kbHint lists the collections of the org's knowledge base when it
	// answered; the collections field takes any ids anyway.
	kbHint  string
	active  string // the org's active setup; "" when it enables no provider
	loaded  bool   // choices came at least once
	loadErr error  // the last load of the choices failed
	// The editor was asked for before the choices came: it opens when
	// they do, for waitFor (nil: a new assistant).
	waiting  bool
	waitFor  *service.Assistant
	options  []modelOption
	confirm  *tui.Confirm
	deleting service.Assistant // the assistant the open confirmation names
	width    int
	height   int
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

// kbChoicesMsg brings the collections field's hint, loaded on its own: a
// slow knowledge base mustn't hold the form up.
type kbChoicesMsg struct {
	owner *Assistants
	hint  string
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
		return kbChoicesMsg{owner: m, hint: kbHint(m.c.Svc.KBChoices(ctx, a))}
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
	if m.form != nil {
		m.form.SetWidth(w)
		m.prompt.SetWidth(max(w-6, 20))
		m.prompt.SetHeight(max(h-17, 4))
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
		if msg.owner == m {
			m.kbHint = msg.hint
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
		return tui.Error(fmt.Errorf("no provider is enabled in your organization yet; ask an admin to set one up on the Providers screen"))
	}
	m.editing, m.options = a, options
	labels := make([]string, len(options))
	for i, o := range options {
		labels[i] = o.label
	}
	title, name, desc, temp := "New assistant", "", "", ""
	enabled := true
	collections, topK, threshold, onError, template := "", strconv.Itoa(service.DefaultTopK), "0", service.KBFail, ""
	if a != nil {
		title, name, desc = "Edit "+a.Name+" ("+a.Model+")", a.Name, a.Description
		enabled = a.Enabled
		if a.Temperature != nil {
			temp = strconv.FormatFloat(*a.Temperature, 'f', -1, 64)
		}
		if kb := a.KnowledgeBase; kb != nil {
			collections, topK, onError = strings.Join(kb.Collections, ","), strconv.Itoa(kb.TopK), kb.OnError
			threshold = strconv.FormatFloat(kb.Threshold, 'f', -1, 64)
		}
		template = safetext.Sanitize(strings.ReplaceAll(a.PromptTemplate, "\n", `\n`))
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
		tui.Choice("model", "Model", labels...).WithValue(labels[current]),
		tui.NewField(tui.TextField, "temperature", "Temperature", "optional, 0-2 (empty: the provider's default)").WithValue(temp),
		tui.NewField(tui.TextField, "knowledge_base_collections", "KB collections", kbHintOr(m.kbHint)).WithValue(collections),
		tui.NewField(tui.TextField, "knowledge_base_top_k", "KB top k", "chunks of context to use, 1-20").WithValue(topK),
		tui.NewField(tui.TextField, "knowledge_base_threshold", "KB threshold", "least similarity of a chunk, 0-1").WithValue(threshold),
		tui.Choice("knowledge_base_on_error", "KB on error", service.KBFail, service.KBContinue).WithValue(onError),
		tui.NewField(tui.TextField, "prompt_template", "Prompt template", `optional: {context} and {user_input}; \n for a new line`).WithValue(template),
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
	m.prompt.SetHeight(max(m.height-17, 4))
	if a != nil {
		m.prompt.SetValue(safetext.SanitizeLines(a.SystemPrompt))
	}
	m.prompt.Blur()
	m.inPrompt = false
	m.mode = asstEditing
	return nil
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
	f := m.form
	editing := m.editing
	in := service.AssistantInput{Owner: f.Value("owner"), Name: f.Value("name"), Description: f.Value("description"),
		SystemPrompt: m.prompt.Value(), Enabled: f.Bool("enabled")}
	if err := kbInput(f, &in); err != nil {
		f.SetError(err)
		return nil
	}
	for _, o := range m.options {
		if o.label == f.Value("model") {
			in.Provider, in.Model, in.Setup = o.provider, o.model, o.setup
			// A model of the active setup leaves a new assistant, or one
			// that wasn't pinned, following whichever setup is active; an
			// assistant pinned to the active setup by name stays pinned.
			if o.active && (editing == nil || editing.Setup == "") {
				in.Setup = ""
			}
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

const (
	kbFree      = "optional: collection ids, comma-separated"
	kbAvailable = "comma-separated ids; available: "
)

// kbHint is the collections field's hint: the ids the org's knowledge
// base offers when it answered, else how to fill it in.
func kbHint(cs []service.KBCollection, err error) string {
	switch {
	case err != nil:
		return kbFree + " (the knowledge base didn't answer: type them)"
	case len(cs) == 0:
		return kbFree
	}
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.ID+" "+c.Name)
	}
	return kbAvailable + safetext.Sanitize(strings.Join(parts, ", "))
}

func kbHintOr(h string) string {
	if h == "" {
		return kbFree
	}
	return h
}

// kbInput reads the knowledge-base fields of the form into in.
func kbInput(f *tui.Form, in *service.AssistantInput) error {
	in.PromptTemplate = strings.ReplaceAll(strings.TrimSpace(f.Value("prompt_template")), `\n`, "\n")
	var ids []string
	for _, id := range strings.Split(f.Value("knowledge_base_collections"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	kb := &service.AssistantKB{Collections: ids, OnError: f.Value("knowledge_base_on_error")}
	if v := strings.TrimSpace(f.Value("knowledge_base_top_k")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return &service.InvalidError{Field: "knowledge_base.top_k", Message: "must be a whole number between 1 and 20"}
		}
		kb.TopK = n
	}
	if v := strings.TrimSpace(f.Value("knowledge_base_threshold")); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return &service.InvalidError{Field: "knowledge_base.threshold", Message: "must be a number between 0 and 1"}
		}
		kb.Threshold = x
	}
	in.KnowledgeBase = kb
	return nil
}

// preview shows, for an assistant with collections, the last user message
// its template makes of a sample question: one line, cut to the width.
func (m *Assistants) preview() string {
	f, st := m.form, m.c.Styles
	out := ""
	if avail, ok := strings.CutPrefix(m.kbHint, kbAvailable); ok {
		out = st.Label.Render(" KB offers ") + st.Muted.Render(m.cut(avail)) + "\n"
	}
	if strings.TrimSpace(f.Value("knowledge_base_collections")) == "" {
		return out
	}
	tmpl := strings.ReplaceAll(strings.TrimSpace(f.Value("prompt_template")), `\n`, "\n")
	text := service.RenderPrompt(tmpl, "[chunks found in the collections]", "What is entropy?")
	text = strings.ReplaceAll(safetext.SanitizeLines(text), "\n", " ⏎ ")
	return out + st.Label.Render(" Prompt preview ") + st.Muted.Render(m.cut(text)) + "\n"
}

// cut keeps one line of text within the screen's width.
func (m *Assistants) cut(text string) string {
	if r, n := []rune(text), max(m.width-20, 20); len(r) > n {
		return string(r[:n]) + "…"
	}
	return text
}

func (m *Assistants) View() string {
	st := m.c.Styles
	switch m.mode {
	case asstEditing:
		label := st.Label.Render(" System prompt")
		if m.inPrompt {
			label = st.Focused.Render("▸System prompt") + st.Muted.Render("  (ctrl+p back to the fields)")
		}
		return m.form.View() + "\n" + m.preview() + label + "\n" + m.prompt.View()
	case asstConfirmDelete:
		return m.confirm.View()
	}
	return m.list.View()
}
