package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
)

// FieldKind is what a form field holds.
type FieldKind int

// Field kinds.
const (
	TextField FieldKind = iota
	PasswordField
	ToggleField
	ChoiceField
	WidgetField // drawn and edited by a Widget
	PickField   // one of many, found by typing part of it (Pick)
)

// Widget is a field that edits and draws itself: several lines of text, a
// picker. It gets every key but the form's own (tab, shift+tab, ctrl+s and
// esc), enter and the arrows included.
type Widget interface {
	Update(msg tea.Msg) tea.Cmd
	Focus() tea.Cmd
	Blur()
	Value() string
	// View draws the widget for a form width cells wide: inline goes
	// beside the label, block (any number of lines) under it. The form
	// cuts lines that would be wider than the terminal.
	View(width int, focused bool) (inline, block string)
}

// Field is one input of a form. Key is the field name the service uses in
// its errors, so a rejected value is shown next to its field.
type Field struct {
	Key     string
	Label   string
	Hint    string
	Kind    FieldKind
	Options []string // ChoiceField
	choice  int
	on      bool
	input   textinput.Model
	widget  Widget
	err     string

	// PickField: what to pick from, found by the text typed so far.
	fetch   PickFetch
	matches []PickOption
	loaded  string // the text the matches were found for
	fetched bool
	pickErr error
	seq     int
	stepped bool // ←/→ chose among the matches
}

// PickOption is one thing a PickField offers: the value it stands for and
// a label that says more (an org's name beside its slug).
type PickOption struct {
	Value string
	Label string
}

// PickFetch finds the options that match the text typed so far (all of
// them for ""), a page at most: a picker never loads a whole table.
type PickFetch func(ctx context.Context, query string) ([]PickOption, error)

// Pick returns a field that picks one of the options fetch finds: typing
// narrows them down, ←/→ choose among them.
func Pick(key, label, placeholder string, fetch PickFetch) *Field {
	f := NewField(PickField, key, label, placeholder)
	f.fetch = fetch
	return f
}

// pickMsg carries the options found for a picker's text.
type pickMsg struct {
	field *Field
	seq   int
	query string
	opts  []PickOption
	err   error
}

// NewWidgetField returns a field drawn and edited by w.
func NewWidgetField(key, label string, w Widget) *Field {
	f := NewField(WidgetField, key, label, "")
	f.widget = w
	return f
}

// NewField returns a field of kind with a placeholder hint.
func NewField(kind FieldKind, key, label, placeholder string) *Field {
	ti := textinput.New()
	ti.Prompt = ""
	ti.Placeholder = safetext.Sanitize(placeholder) // may show a masked secret
	ti.CharLimit = 4096
	if kind == PasswordField {
		ti.EchoMode = textinput.EchoPassword
		ti.EchoCharacter = '•'
	}
	return &Field{Key: key, Label: label, Kind: kind, input: ti}
}

// Choice returns a choice field over options.
func Choice(key, label string, options ...string) *Field {
	f := NewField(ChoiceField, key, label, "")
	f.Options = options
	return f
}

// WithValue sets the initial value (text), state (toggle) or option (choice).
func (f *Field) WithValue(v string) *Field {
	switch f.Kind {
	case ToggleField:
		f.on = v == "true"
	case ChoiceField:
		for i, o := range f.Options {
			if o == v {
				f.choice = i
			}
		}
	default:
		// The value is drawn, and what is drawn is what will be saved.
		f.input.SetValue(safetext.Sanitize(v))
	}
	return f
}

// WithHint sets a line of help shown under the field.
func (f *Field) WithHint(h string) *Field { f.Hint = h; return f }

// picked is the option a picker stands on: the one whose value is the
// text typed, else the chosen one among the matches; nil when nothing
// matches (yet).
func (f *Field) picked() *PickOption {
	typed := strings.TrimSpace(f.input.Value())
	if f.loaded != typed || len(f.matches) == 0 || (typed == "" && !f.stepped) {
		return nil // nothing typed or chosen yet: no first option by default
	}
	return &f.matches[min(f.choice, len(f.matches)-1)]
}

// find asks for the options that match the text typed now.
func (f *Field) find(c *Common) tea.Cmd {
	if f.fetch == nil {
		return nil
	}
	f.seq++
	field, seq, q, fetch := f, f.seq, strings.TrimSpace(f.input.Value()), f.fetch
	return c.Do(func(ctx context.Context) tea.Msg {
		opts, err := fetch(ctx, q)
		return pickMsg{field: field, seq: seq, query: q, opts: opts, err: err}
	})
}

// Value is the field's text, chosen option, or "true"/"false".
func (f *Field) Value() string {
	switch f.Kind {
	case ToggleField:
		if f.on {
			return "true"
		}
		return "false"
	case ChoiceField:
		if len(f.Options) == 0 {
			return ""
		}
		return f.Options[f.choice]
	case WidgetField:
		return f.widget.Value()
	case PickField:
		// Nothing matched (or the options are still on their way): the
		// text as typed, which the service then accepts or explains.
		if o := f.picked(); o != nil {
			return o.Value
		}
		return strings.TrimSpace(f.input.Value())
	}
	return f.input.Value()
}

// Form is a column of fields with inline validation messages.
type Form struct {
	c      *Common
	Title  string
	Intro  string
	fields []*Field
	focus  int
	err    string
	width  int
	height int // lines the form may take; 0: as many as it needs
	top    int // the first line of fields shown when they don't all fit
}

// NewForm returns a form over fields, the first focused.
func NewForm(c *Common, title string, fields ...*Field) *Form {
	f := &Form{c: c, Title: title, fields: fields}
	f.setFocus(0)
	return f
}

// Init starts what the form's fields need loaded: the options of pickers.
func (f *Form) Init() tea.Cmd {
	var cmds []tea.Cmd
	for _, fl := range f.fields {
		if fl.Kind == PickField {
			cmds = append(cmds, fl.find(f.c))
		}
	}
	return tea.Batch(cmds...)
}

// Value returns the value of the field with key.
func (f *Form) Value(key string) string {
	for _, fl := range f.fields {
		if fl.Key == key {
			return fl.Value()
		}
	}
	return ""
}

// HasError reports whether the field with key shows an error.
func (f *Form) HasError(key string) bool {
	for _, fl := range f.fields {
		if fl.Key == key {
			return fl.err != ""
		}
	}
	return false
}

// Clear empties a text field (a password after a failed attempt).
func (f *Form) Clear(key string) {
	for _, fl := range f.fields {
		if fl.Key == key {
			fl.input.SetValue("")
		}
	}
}

// Bool returns a toggle's state.
func (f *Form) Bool(key string) bool { return f.Value(key) == "true" }

// SetError shows err next to the field it names, or above the form.
func (f *Form) SetError(err error) {
	f.err = ""
	for _, fl := range f.fields {
		fl.err = ""
	}
	if err == nil {
		return
	}
	name := FieldOf(err)
	// The service names nested fields with dots (admin.name); forms name
	// them with underscores (admin_name). An exact match wins over a field
	// whose key only ends the name (name for admin.name).
	match := -1
	for i, fl := range f.fields {
		if name != "" && fl.Key != "" && (fl.Key == name || fl.Key == strings.ReplaceAll(name, ".", "_")) {
			match = i
			break
		}
	}
	for i, fl := range f.fields {
		if match < 0 && name != "" && fl.Key != "" && strings.HasSuffix(name, "."+fl.Key) {
			match = i
		}
	}
	if match >= 0 {
		fl := f.fields[match]
		fl.err = strings.TrimPrefix(ErrorText(err), name+": ")
		f.setFocus(match)
		return
	}
	f.err = ErrorText(err)
}

// SetWidth fits the form into w cells: the inputs, and the hints and
// messages, which wrap.
func (f *Form) SetWidth(w int) {
	f.width = w
	for _, fl := range f.fields {
		// The line is the marker and label column, the text, and the
		// cursor's cell after it, within the terminal's last column.
		fl.input.Width = max(w-valueColumn-2, 10)
		// The input scrolls its text to the width it had: placing the
		// cursor again scrolls it to the new one.
		fl.input.SetCursor(fl.input.Position())
	}
}

// valueColumn is where a field's value starts: " ", the focus marker, the
// label column and a space.
const valueColumn = 1 + 2 + labelWidth + 1

// SetHeight bounds the lines the form takes: when its fields need more,
// they scroll to keep the focused one in view. 0 lifts the bound.
func (f *Form) SetHeight(h int) { f.height = h }

func (f *Form) setFocus(i int) {
	for _, fl := range f.fields {
		fl.input.Blur()
		if fl.widget != nil {
			fl.widget.Blur()
		}
	}
	f.focus = i
	switch fl := f.fields[i]; fl.Kind {
	case TextField, PasswordField, PickField:
		fl.input.Focus()
	case WidgetField:
		fl.widget.Focus()
	}
}

// FormKeys are the form's bindings for the help line.
var FormKeys = []key.Binding{
	Bind("tab", "next field"), Bind("shift+tab", "previous"), Bind("space", "toggle"),
	Bind("ctrl+s", "save"), Bind("esc", "cancel"),
}

// Update handles a key. It reports submit (enter on the last field, or
// ctrl+s) and cancel (esc).
func (f *Form) Update(msg tea.Msg) (submit, cancel bool, cmd tea.Cmd) {
	if pm, ok := msg.(pickMsg); ok {
		fl := pm.field
		if pm.seq == fl.seq { // else a newer search is on its way
			fl.matches, fl.loaded, fl.pickErr, fl.fetched = pm.opts, pm.query, pm.err, true
			fl.choice = 0
			for i, o := range pm.opts {
				if strings.EqualFold(o.Value, pm.query) {
					fl.choice = i
				}
			}
		}
		return false, false, nil
	}
	fl := f.fields[f.focus]
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		if fl.Kind == WidgetField {
			return false, false, fl.widget.Update(msg)
		}
		fl.input, cmd = fl.input.Update(msg)
		return false, false, cmd
	}
	switch km.String() {
	case "esc":
		return false, true, nil
	case "ctrl+s":
		return true, false, nil
	case "tab":
		f.setFocus((f.focus + 1) % len(f.fields))
		return false, false, nil
	case "shift+tab":
		f.setFocus((f.focus + len(f.fields) - 1) % len(f.fields))
		return false, false, nil
	}
	if fl.Kind == WidgetField {
		fl.err = ""
		return false, false, fl.widget.Update(msg)
	}
	switch km.String() {
	case "down":
		f.setFocus((f.focus + 1) % len(f.fields))
		return false, false, nil
	case "up":
		f.setFocus((f.focus + len(f.fields) - 1) % len(f.fields))
		return false, false, nil
	case "enter":
		if f.focus == len(f.fields)-1 {
			return true, false, nil
		}
		f.setFocus(f.focus + 1)
		return false, false, nil
	}
	switch fl.Kind {
	case ToggleField:
		if km.String() == " " || km.String() == "x" {
			fl.on = !fl.on
		}
		return false, false, nil
	case ChoiceField:
		if len(fl.Options) == 0 {
			return false, false, nil
		}
		switch km.String() {
		case "left", "h":
			fl.choice = (fl.choice + len(fl.Options) - 1) % len(fl.Options)
		case "right", "l", " ":
			fl.choice = (fl.choice + 1) % len(fl.Options)
		}
		return false, false, nil
	case PickField:
		if n := len(fl.matches); n > 0 && (km.String() == "left" || km.String() == "right") {
			step := map[string]int{"left": n - 1, "right": 1}[km.String()]
			if fl.stepped || strings.TrimSpace(fl.input.Value()) != "" {
				fl.choice = (fl.choice + step) % n
			}
			fl.stepped = true
			return false, false, nil
		}
		before := fl.input.Value()
		fl.err = ""
		fl.input, cmd = fl.input.Update(msg)
		if fl.input.Value() != before {
			fl.stepped = false
			return false, false, tea.Batch(cmd, fl.find(f.c))
		}
		return false, false, cmd
	}
	fl.err = ""
	fl.input, cmd = fl.input.Update(msg)
	return false, false, cmd
}

// View draws the form.
func (f *Form) View() string {
	st := f.c.Styles
	wrap := func(text string) []string {
		if f.width <= 0 {
			return []string{text}
		}
		return Wrap(text, max(f.width-2, 10))
	}
	var head []string
	head = append(head, " "+st.Title.Render(truncate(safetext.Sanitize(f.Title), max(f.width-2, 10))))
	if f.Intro != "" {
		for _, l := range wrap(safetext.Sanitize(f.Intro)) {
			head = append(head, " "+st.Muted.Render(l))
		}
	}
	head = append(head, "")
	if f.err != "" {
		for i, l := range wrap("✗ " + f.err) {
			if i > 0 {
				l = "  " + l
			}
			head = append(head, " "+st.Error.Render(l))
		}
		head = append(head, "")
	}
	var lines []string
	focusFrom, focusTo := 0, 0 // the focused field's lines
	for i, fl := range f.fields {
		if i == f.focus {
			focusFrom = len(lines)
		}
		lines = append(lines, f.fieldView(i, fl)...)
		if i == f.focus {
			focusTo = len(lines)
		}
	}
	if f.height > 0 {
		lines = f.scroll(lines, max(f.height-len(head), 3), focusFrom, focusTo)
	}
	return strings.Join(append(head, lines...), "\n") + "\n"
}

// fieldView draws field i: its line, then a widget's block, then its
// error, or its hint while it has the focus.
func (f *Form) fieldView(i int, fl *Field) []string {
	st := f.c.Styles
	marker, label := "  ", st.Label.Render(pad(safetext.Sanitize(fl.Label), labelWidth))
	if i == f.focus {
		marker, label = st.Focused.Render("▸ "), st.Focused.Render(pad(safetext.Sanitize(fl.Label), labelWidth))
	}
	var value string
	var block []string
	switch fl.Kind {
	case ToggleField:
		value = "[ ]"
		if fl.on {
			value = "[x]"
		}
	case ChoiceField:
		if len(fl.Options) > 3 {
			// Long lists show the chosen option only: ◂ option ▸ (2/9).
			value = st.Muted.Render("◂ ") + st.Focused.Render(safetext.Sanitize(fl.Value())) + st.Muted.Render(fmt.Sprintf(" ▸  (%d/%d, ←/→)", fl.choice+1, len(fl.Options)))
			break
		}
		parts := make([]string, len(fl.Options))
		for j, o := range fl.Options {
			o = safetext.Sanitize(o) // options name models and setups
			if j == fl.choice {
				parts[j] = st.Focused.Render("(•) " + o)
			} else {
				parts[j] = st.Muted.Render("( ) " + o)
			}
		}
		value = strings.Join(parts, "  ")
	case WidgetField:
		inline, b := fl.widget.View(f.width, i == f.focus)
		value = inline
		if b != "" {
			for _, l := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
				block = append(block, f.cut("   "+l))
			}
		}
	case PickField:
		if i != f.focus {
			value = safetext.Sanitize(fl.Value())
			if o := fl.picked(); o != nil && o.Label != "" {
				value += st.Muted.Render("  " + safetext.Sanitize(o.Label))
			}
			break
		}
		value = fl.input.View()
	default:
		value = fl.input.View()
		if i != f.focus && fl.input.Value() != "" && fl.input.Width > 0 {
			// A field without the cursor shows the start of its text,
			// cut to the field's width.
			v := fl.input.Value()
			if fl.Kind == PasswordField {
				v = strings.Repeat(string(fl.input.EchoCharacter), len([]rune(v)))
			}
			value = truncate(v, fl.input.Width+1)
		}
	}
	out := []string{" " + marker + label + " " + value}
	if fl.Kind == WidgetField || fl.Kind == PickField {
		out[0] = f.cut(out[0]) // a picker's label may run long
	}
	out = append(out, block...)
	if fl.err != "" {
		out = append(out, f.under(st.FieldError.Render, "↳ "+fl.err)...)
	} else if fl.Hint != "" && i == f.focus {
		out = append(out, f.under(st.Muted.Render, safetext.Sanitize(fl.Hint))...)
	}
	if fl.Kind == PickField && i == f.focus {
		// The line styles its own parts.
		out = append(out, f.under(func(s ...string) string { return strings.Join(s, "") }, f.pickLine(fl))...)
	}
	return out
}

// pickLine says what a focused picker stands on and how to choose another.
func (f *Form) pickLine(fl *Field) string {
	st := f.c.Styles
	typed := strings.TrimSpace(fl.input.Value())
	switch {
	case fl.pickErr != nil:
		return st.FieldError.Render("can't list the options: " + ErrorText(fl.pickErr))
	case !fl.fetched || fl.loaded != typed:
		return st.Muted.Render("looking…")
	case len(fl.matches) == 0 && typed == "":
		return st.FieldError.Render("there is nothing to choose from yet")
	case len(fl.matches) == 0:
		return st.FieldError.Render(fmt.Sprintf("nothing matches %q; type less of it, or another name", typed))
	}
	o := fl.picked()
	if o == nil {
		return st.Muted.Render(fmt.Sprintf("type to look, or ←/→ to go through %d", len(fl.matches)))
	}
	line := "→ " + st.Focused.Render(safetext.Sanitize(o.Value))
	if o.Label != "" {
		line += " " + st.Muted.Render(safetext.Sanitize(o.Label))
	}
	if n := len(fl.matches); n > 1 {
		line += st.Muted.Render(fmt.Sprintf("  (%d of %d, ←/→)", fl.choice+1, n))
	}
	return line
}

// under draws text under a field's value, wrapped to the form's width and
// drawn by render (a style's Render): beside the values, or from the left
// edge when the terminal is too narrow for that.
func (f *Form) under(render func(...string) string, text string) []string {
	indent := strings.Repeat(" ", valueColumn)
	if f.width > 0 && f.width-valueColumn < 30 {
		indent = "   "
	}
	width := 60 // the form's width is not known yet
	if f.width > 0 {
		width = max(f.width-1-len(indent), 20)
	}
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, width, " "), "\n") {
		out = append(out, f.cut(indent+render(l)))
	}
	return out
}

// cut keeps a line within the form's width.
func (f *Form) cut(line string) string {
	if f.width <= 0 {
		return line
	}
	return ansi.Truncate(line, f.width-1, "…")
}

// scroll shows n of the fields' lines, the focused field's (from, to) in
// view, and says what is above and below.
func (f *Form) scroll(lines []string, n, from, to int) []string {
	if len(lines) <= n {
		f.top = 0
		return lines
	}
	above := func(top int) int { return min(top, 1) }              // the "more above" line
	below := func(top int) int { return min(len(lines)-top-n, 1) } // the "more below" line
	top := min(max(f.top, 0), len(lines)-n)
	if to > top+n-below(top) {
		top = min(to-n+1, len(lines)-n) // the last line shown may say more is below
	}
	if from < top+above(top) { // a field taller than the room shows its start
		top = max(from-1, 0)
	}
	f.top = top
	st := f.c.Styles
	shown := append([]string(nil), lines[top:top+n]...)
	if top > 0 {
		shown[0] = st.Muted.Render("   ↑ " + plural.N(top+1, "more line", "more lines") + " above (shift+tab)")
	}
	if rest := len(lines) - top - n; rest > 0 {
		shown[n-1] = st.Muted.Render("   ↓ " + plural.N(rest+1, "more line", "more lines") + " below (tab)")
	}
	return shown
}

// labelWidth is the column of field labels.
const labelWidth = 22

func pad(s string, w int) string {
	if len([]rune(s)) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len([]rune(s)))
}
