package member

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// asstForm is the editor of one assistant: every setting in one column
// that tab walks top to bottom (shift+tab back), the system prompt and the
// prompt template as editors of several lines, the collections as a
// picker. A rejected value takes the focus, so typing fixes it.
type asstForm struct {
	c           *tui.Common
	editing     *service.Assistant // nil: creating
	options     []modelOption
	form        *tui.Form
	prompt      *tui.TextArea
	template    *tui.TextArea
	collections *collectionsField
	previewRows int // lines of the rendered prompt shown
}

// The sample the template preview fills in.
const (
	sampleQuestion = "What is entropy?"
	sampleChunk    = "[a chunk found in the collections]"
)

// newAsstForm builds the editor of a (nil: a new assistant) over the
// model options, the current one selected, with what the knowledge base
// said about its collections.
func newAsstForm(c *tui.Common, all bool, a *service.Assistant, options []modelOption, current int, kb kbChoices) *asstForm {
	f := &asstForm{c: c, editing: a, options: options}
	labels := make([]string, len(options))
	for i, o := range options {
		labels[i] = o.label
	}
	title, name, desc, temp, system := "New assistant", "", "", "", ""
	enabled := true
	var ids []string
	topK, threshold, onError, template := strconv.Itoa(service.DefaultTopK), "0", service.KBFail, ""
	if a != nil {
		title, name, desc, system = "Edit "+a.Name+" ("+a.Model+")", a.Name, a.Description, a.SystemPrompt
		enabled = a.Enabled
		if a.Temperature != nil {
			temp = strconv.FormatFloat(*a.Temperature, 'f', -1, 64)
		}
		if kb := a.KnowledgeBase; kb != nil {
			ids, topK, onError = kb.Collections, strconv.Itoa(kb.TopK), kb.OnError
			threshold = strconv.FormatFloat(kb.Threshold, 'f', -1, 64)
		}
		template = a.PromptTemplate
	}
	f.prompt = tui.NewTextArea(c, "The system prompt goes first in every conversation, e.g. \"You are a patient physics tutor for first-year students…\"", system, 100_000)
	f.prompt.Empty = "empty: the model's own behaviour"
	f.template = tui.NewTextArea(c, "e.g. Answer from these notes:\n{context}\n\nQuestion: {user_input}", template, 100_000)
	f.template.Empty = "empty: the built-in template"
	f.template.Below = f.preview
	f.collections = newCollectionsField(c, ids, kb)

	var fields []*tui.Field
	if all && a == nil {
		hint := "email of a member; empty = you"
		if c.Actor.ActingSystemAdmin {
			hint = "email of a user of " + c.Actor.OrgSlug
		}
		fields = append(fields, tui.NewField(tui.TextField, "owner", "Owner", hint))
	}
	fields = append(fields,
		tui.NewField(tui.TextField, "name", "Name", "e.g. Physics tutor").WithValue(name),
		tui.NewField(tui.TextField, "description", "Description", "optional: what it is for").WithValue(desc),
		tui.Choice("model", "Model", labels...).WithValue(labels[current]),
		tui.NewField(tui.TextField, "temperature", "Temperature", "optional, 0-2 (empty: the provider's default)").WithValue(temp),
		tui.NewWidgetField("system_prompt", "System prompt", f.prompt),
		tui.NewWidgetField("knowledge_base_collections", "KB collections", f.collections).
			WithHint("answers draw on these collections; none: no retrieval"),
		tui.NewField(tui.TextField, "knowledge_base_top_k", "KB top k", "chunks of context to use, 1-20").WithValue(topK),
		tui.NewField(tui.TextField, "knowledge_base_threshold", "KB threshold", "least similarity of a chunk, 0-1").WithValue(threshold),
		tui.Choice("knowledge_base_on_error", "KB on error", service.KBFail, service.KBContinue).WithValue(onError).
			WithHint("fail: answer an error when the knowledge base is down; continue: answer without context"),
		tui.NewWidgetField("prompt_template", "Prompt template", f.template).
			WithHint("{context}: chunks found · {user_input}: the question"),
		tui.NewField(tui.ToggleField, "enabled", "Enabled", "").WithValue(fmt.Sprint(enabled)),
	)
	f.form = tui.NewForm(c, title, fields...)
	f.form.Intro = "tab/shift+tab: next/previous field · ctrl+s saves · esc cancels"
	return f
}

// SetSize fits the editor to the screen: the focused field always shows
// whole, the form scrolls around it.
func (f *asstForm) SetSize(w, h int) {
	f.form.SetWidth(w)
	f.form.SetHeight(h)
	f.prompt.SetRows(min(max(h-10, 3), 12))
	rows := min(max(h-19, 3), 6)
	f.template.SetRows(rows)
	// The rest of the room shows the rendered prompt: besides it, the
	// form's title (3 lines), the lines that say more is above and below,
	// the field's label, the preview's heading and the field's hint.
	f.previewRows = min(max(h-8-rows, 3), 14)
}

// preview renders the template for a sample question, the context filled
// with a sample chunk: what the provider would receive as the last user
// message, for a block width cells wide.
func (f *asstForm) preview(width int) string {
	st := f.c.Styles
	tmpl := f.template.Value()
	var b strings.Builder
	// Checked as it is typed; after a save the field's own error says it.
	if err := service.CheckPromptTemplate(strings.TrimSpace(tmpl)); err != nil && !f.form.HasError("prompt_template") {
		b.WriteString(st.Error.Render(ansi.Wrap("✗ "+tui.ErrorText(err), width, " ")) + "\n")
	}
	heading := fmt.Sprintf("What the model receives for %q:", sampleQuestion)
	if strings.TrimSpace(f.collections.Value()) == "" {
		heading = fmt.Sprintf("Preview for %q (used once collections are picked):", sampleQuestion)
	}
	b.WriteString(st.Label.Render(ansi.Truncate(heading, width, "…")))
	text := service.RenderPrompt(strings.TrimSpace(tmpl), sampleChunk, sampleQuestion)
	lines := strings.Split(ansi.Wrap(safetext.SanitizeLines(text), width-2, " "), "\n")
	shown := min(len(lines), f.previewRows)
	if len(lines) > f.previewRows {
		shown-- // for the line that says how many more
	}
	for _, l := range lines[:shown] {
		b.WriteString("\n" + st.Muted.Render("┆ ") + l)
	}
	if more := len(lines) - shown; more > 0 {
		b.WriteString("\n" + st.Muted.Render("┆ … "+plural.N(more, "more line", "more lines")))
	}
	return b.String()
}

// input reads the form into an assistant's settings; a value that isn't
// even a number is refused here, naming its field.
func (f *asstForm) input() (service.AssistantInput, error) {
	fm := f.form
	in := service.AssistantInput{Owner: fm.Value("owner"), Name: fm.Value("name"), Description: fm.Value("description"),
		SystemPrompt: f.prompt.Value(), Enabled: fm.Bool("enabled"), PromptTemplate: strings.TrimSpace(f.template.Value())}
	for _, o := range f.options {
		if o.label == fm.Value("model") {
			in.Provider, in.Model, in.Setup = o.provider, o.model, o.setup
			// A model of the active setup leaves a new assistant, or one
			// that wasn't pinned, following whichever setup is active; an
			// assistant pinned to the active setup by name stays pinned.
			if o.active && (f.editing == nil || f.editing.Setup == "") {
				in.Setup = ""
			}
		}
	}
	if t := strings.TrimSpace(fm.Value("temperature")); t != "" {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return in, &service.InvalidError{Field: "temperature", Message: "must be a number between 0 and 2"}
		}
		in.Temperature = &v
	}
	ids := splitIDs(f.collections.Value())
	if len(ids) == 0 {
		return in, nil
	}
	kb := &service.AssistantKB{Collections: ids, OnError: fm.Value("knowledge_base_on_error")}
	if v := strings.TrimSpace(fm.Value("knowledge_base_top_k")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, &service.InvalidError{Field: "knowledge_base.top_k", Message: "must be a whole number between 1 and 20"}
		}
		kb.TopK = n
	}
	if v := strings.TrimSpace(fm.Value("knowledge_base_threshold")); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return in, &service.InvalidError{Field: "knowledge_base.threshold", Message: "must be a number between 0 and 1"}
		}
		kb.Threshold = x
	}
	in.KnowledgeBase = kb
	return in, nil
}

// SetError marks the field an error names and moves the focus there.
// The service names a model it refuses by its provider or setup, and a
// taken name as a conflict: those mark the fields the form has for them.
func (f *asstForm) SetError(err error) {
	switch field := tui.FieldOf(err); {
	case field == "provider" || field == "setup":
		err = &service.InvalidError{Field: "model", Message: strings.TrimPrefix(tui.ErrorText(err), field+": ")}
	case errors.Is(err, service.ErrConflict) && strings.HasPrefix(err.Error(), "name: "):
		err = &service.InvalidError{Field: "name", Message: strings.TrimPrefix(err.Error(), "name: ")}
	}
	f.form.SetError(err)
}

func (f *asstForm) View() string { return f.form.View() }
