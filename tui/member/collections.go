package member

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
	"lamb/service"
	"lamb/tui"
)

// kbChoices is what the org's knowledge base said about its collections.
type kbChoices struct {
	loaded bool // it answered, or failed to
	list   []service.KBCollection
	err    error
	// none: the active setup has no knowledge base at all.
	none bool
}

// collectionsField is the assistant form's collections: a picker over
// the collections the org's knowledge base lists when it answers, free
// entry of ids otherwise (it is down, or still being asked), with a line
// saying which and why.
type collectionsField struct {
	c       *tui.Common
	kb      kbChoices
	options []service.KBCollection // what the picker offers
	chosen  []string               // ids, in the order they were picked
	cursor  int
	top     int
	input   textinput.Model // free entry
	note    string          // the last refusal (the limit), until the next key
	focused bool
}

// pickerRows is how many collections the picker shows at once.
const pickerRows = 6

func newCollectionsField(c *tui.Common, ids []string, kb kbChoices) *collectionsField {
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = "collection ids, comma-separated"
	ti.CharLimit = 2048
	f := &collectionsField{c: c, input: ti, chosen: slices.Clone(ids)}
	f.input.SetValue(safetext.Sanitize(strings.Join(ids, ",")))
	f.offer(kb)
	return f
}

// picking reports whether the field is a picker (the knowledge base
// listed its collections) rather than free entry.
func (f *collectionsField) picking() bool { return f.kb.err == nil && len(f.kb.list) > 0 }

// offer takes the knowledge base's answer: the picker when it listed
// collections, free entry otherwise. What was chosen or typed stays.
func (f *collectionsField) offer(kb kbChoices) {
	was := f.picking()
	if !was {
		f.chosen = splitIDs(f.input.Value())
	}
	f.kb = kb
	if !f.picking() {
		f.input.SetValue(safetext.Sanitize(strings.Join(f.chosen, ",")))
		if f.focused {
			f.input.Focus()
		}
		return
	}
	f.input.Blur()
	f.options = slices.Clone(kb.list)
	// Ids the assistant has that the knowledge base doesn't list (any
	// more) stay on offer, so that saving doesn't drop them unseen.
	for _, id := range f.chosen {
		if !slices.ContainsFunc(f.options, func(c service.KBCollection) bool { return c.ID == id }) {
			f.options = append(f.options, service.KBCollection{ID: id, Name: "(not listed by the knowledge base)"})
		}
	}
	f.cursor = min(f.cursor, len(f.options)-1)
}

// splitIDs reads a comma-separated list of ids, without blanks or repeats.
func splitIDs(s string) []string {
	var ids []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (f *collectionsField) Value() string {
	if f.picking() {
		return strings.Join(f.chosen, ",")
	}
	return f.input.Value()
}

func (f *collectionsField) Focus() tea.Cmd {
	f.focused = true
	if !f.picking() {
		return f.input.Focus()
	}
	return nil
}

func (f *collectionsField) Blur() {
	f.focused = false
	f.note = ""
	f.input.Blur()
}

func (f *collectionsField) Update(msg tea.Msg) tea.Cmd {
	if !f.picking() {
		var cmd tea.Cmd
		f.input, cmd = f.input.Update(msg)
		return cmd
	}
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil
	}
	f.note = ""
	n := len(f.options)
	switch km.String() {
	case "up", "k":
		f.cursor = max(f.cursor-1, 0)
	case "down", "j":
		f.cursor = min(f.cursor+1, n-1)
	case "pgup":
		f.cursor = max(f.cursor-pickerRows, 0)
	case "pgdown":
		f.cursor = min(f.cursor+pickerRows, n-1)
	case "home", "g":
		f.cursor = 0
	case "end", "G":
		f.cursor = n - 1
	case " ", "enter", "x":
		f.toggle(f.options[f.cursor].ID)
	}
	return nil
}

// toggle picks or unpicks a collection, within the service's limit.
func (f *collectionsField) toggle(id string) {
	if i := slices.Index(f.chosen, id); i >= 0 {
		f.chosen = slices.Delete(f.chosen, i, i+1)
		return
	}
	if len(f.chosen) >= service.MaxKBCollections {
		f.note = fmt.Sprintf("at most %d collections: unpick one first (space)", service.MaxKBCollections)
		return
	}
	f.chosen = append(f.chosen, id)
}

// collectionLabel is how a collection is shown: its id and, when it has one, its name.
func collectionLabel(c service.KBCollection) string {
	if c.Name == "" || c.Name == c.ID {
		return safetext.Sanitize(c.ID)
	}
	return safetext.Sanitize(c.ID + " · " + c.Name)
}

func (f *collectionsField) View(width int, focused bool) (string, string) {
	st := f.c.Styles
	width = max(width-4, 20) // the form indents the block
	if !f.picking() {
		f.input.Width = max(width-labelColumn, 10)
		return f.input.View(), f.reason(width, focused)
	}
	var names []string
	for _, id := range f.chosen {
		for _, o := range f.options {
			if o.ID == id {
				names = append(names, collectionLabel(o))
			}
		}
	}
	if !focused {
		if len(names) == 0 {
			return st.Muted.Render("none: the assistant answers without retrieval"), ""
		}
		return strings.Join(names, ", "), ""
	}
	inline := st.Muted.Render(fmt.Sprintf("%d of %s chosen (at most %d)", len(f.chosen),
		plural.N(len(f.options), "collection", "collections"), service.MaxKBCollections))
	// The window of rows keeps the cursor in view.
	rows := min(pickerRows, len(f.options))
	f.top = min(max(f.top, f.cursor-rows+1, 0), f.cursor)
	var b strings.Builder
	for i := f.top; i < f.top+rows; i++ {
		o := f.options[i]
		box := "[ ] "
		if slices.Contains(f.chosen, o.ID) {
			box = "[x] "
		}
		line := ansi.Truncate(box+collectionLabel(o), width-2, "…")
		if i == f.cursor {
			b.WriteString(st.Focused.Render("› " + line))
		} else {
			b.WriteString("  " + line)
		}
		b.WriteString("\n")
	}
	help := "↑/↓ move · space or enter picks · tab next field"
	if more := len(f.options) - rows; more > 0 {
		help = fmt.Sprintf("%d-%d of %d · %s", f.top+1, f.top+rows, len(f.options), help)
	}
	b.WriteString(st.Muted.Render(ansi.Truncate(help, width, "…")))
	if f.note != "" {
		b.WriteString("\n" + st.Warning.Render(f.note))
	}
	return inline, b.String()
}

// labelColumn is where a field's value starts on its line.
const labelColumn = 26

// reason says why the field is free entry, wrapped when focused (the
// knowledge base's error can be long) and on one line otherwise.
func (f *collectionsField) reason(width int, focused bool) string {
	st := f.c.Styles
	var text string
	style := st.Muted
	switch {
	case !f.kb.loaded:
		text = "asking the knowledge base for its collections…"
	case f.kb.none:
		text = "the active setup has no knowledge base, so collections can't be used yet; an admin adds one on the Providers screen"
	case f.kb.err != nil:
		why := strings.TrimPrefix(tui.ErrorText(f.kb.err), service.ErrKnowledgeBase.Error()+": ")
		text = "the knowledge base didn't answer (" + why + "); type collection ids, comma-separated, or press ctrl+r to ask it again"
		style = st.Warning
	default:
		text = "the knowledge base lists no collections yet; type collection ids, comma-separated"
	}
	if !focused {
		return style.Render(ansi.Truncate(text, width, "…"))
	}
	return style.Render(ansi.Wrap(text, width, " "))
}
