package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

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
)

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
	err     string
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
		fl.input.Width = max(w-24, 10)
	}
}

func (f *Form) setFocus(i int) {
	for _, fl := range f.fields {
		fl.input.Blur()
	}
	f.focus = i
	if f.fields[i].Kind == TextField || f.fields[i].Kind == PasswordField {
		f.fields[i].input.Focus()
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
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		fl := f.fields[f.focus]
		fl.input, cmd = fl.input.Update(msg)
		return false, false, cmd
	}
	fl := f.fields[f.focus]
	switch km.String() {
	case "esc":
		return false, true, nil
	case "ctrl+s":
		return true, false, nil
	case "tab", "down":
		f.setFocus((f.focus + 1) % len(f.fields))
		return false, false, nil
	case "shift+tab", "up":
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
	var b strings.Builder
	b.WriteString(" " + st.Title.Render(safetext.Sanitize(f.Title)) + "\n")
	if f.Intro != "" {
		b.WriteString(" " + st.Muted.Render(safetext.Sanitize(f.Intro)) + "\n")
	}
	b.WriteString("\n")
	if f.err != "" {
		b.WriteString(" " + st.Error.Render("✗ "+f.err) + "\n\n")
	}
	for i, fl := range f.fields {
		marker, label := "  ", st.Label.Render(pad(safetext.Sanitize(fl.Label), labelWidth))
		if i == f.focus {
			marker, label = st.Focused.Render("▸ "), st.Focused.Render(pad(safetext.Sanitize(fl.Label), labelWidth))
		}
		var value string
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
		default:
			value = fl.input.View()
		}
		b.WriteString(" " + marker + label + " " + value + "\n")
		if fl.err != "" {
			b.WriteString("   " + pad("", labelWidth) + " " + st.FieldError.Render("↳ "+fl.err) + "\n")
		} else if fl.Hint != "" && i == f.focus {
			b.WriteString("   " + pad("", labelWidth) + " " + st.Muted.Render(safetext.Sanitize(fl.Hint)) + "\n")
		}
	}
	return b.String()
}

// labelWidth is the column of field labels.
const labelWidth = 22

func pad(s string, w int) string {
	if len([]rune(s)) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len([]rune(s)))
}
