package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
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

// SetWidth sets the width of the inputs.
func (f *Form) SetWidth(w int) {
	f.width = w
	for _, fl := range f.fields {
		// A field's line is its label column, then the input and its
		// cursor, within the terminal's last column.
		fl.input.Width = max(w-labelWidth-6, 10)
	}
}

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
	case TextField, PasswordField:
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
	}
	fl.err = ""
	fl.input, cmd = fl.input.Update(msg)
	return false, false, cmd
}

// View draws the form.
func (f *Form) View() string {
	st := f.c.Styles
	var head []string
	head = append(head, " "+st.Title.Render(safetext.Sanitize(f.Title)))
	if f.Intro != "" {
		head = append(head, " "+st.Muted.Render(safetext.Sanitize(f.Intro)))
	}
	head = append(head, "")
	if f.err != "" {
		head = append(head, " "+st.Error.Render("✗ "+f.err), "")
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
	default:
		value = fl.input.View()
	}
	out := []string{" " + marker + label + " " + value}
	if fl.Kind == WidgetField {
		out[0] = f.cut(out[0])
	}
	out = append(out, block...)
	if fl.err != "" {
		out = append(out, f.under(st.FieldError, "↳ "+fl.err)...)
	} else if fl.Hint != "" && i == f.focus {
		out = append(out, f.under(st.Muted, safetext.Sanitize(fl.Hint))...)
	}
	return out
}

// under draws text under a field's value, wrapped to the form's width.
func (f *Form) under(style lipgloss.Style, text string) []string {
	indent := "   " + pad("", labelWidth) + " "
	width := 60 // the form's width is not known yet
	if f.width > 0 {
		width = max(f.width-1-len(indent), 20)
	}
	var out []string
	for _, l := range strings.Split(ansi.Wrap(text, width, " "), "\n") {
		out = append(out, f.cut(indent+style.Render(l)))
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
