package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/textarea"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/plural"
	"lamb/internal/safetext"
)

// TextArea is a form field of several lines: a system prompt, a template.
// Focused, it is an editor where enter starts a new line; otherwise it
// shrinks to its first lines, so that a long text doesn't push the rest of
// the form out of view.
type TextArea struct {
	c    *Common
	ta   textarea.Model
	rows int
	// Empty is said beside the label when there is no text (e.g. what an
	// empty template means).
	Empty string
	// Below draws lines under the editor while it has the focus (a
	// preview), for a block width cells wide.
	Below func(width int) string
}

// collapsedLines is how many lines of text an unfocused TextArea shows.
const collapsedLines = 2

// NewTextArea returns a field of several lines holding value.
func NewTextArea(c *Common, placeholder, value string, charLimit int) *TextArea {
	ta := textarea.New()
	// Styles of the session's renderer, not the package's global one.
	r := c.Styles.R
	focused := textarea.Style{
		Base: r.NewStyle(), CursorLine: r.NewStyle(), CursorLineNumber: c.Styles.Muted, EndOfBuffer: c.Styles.Muted,
		LineNumber: c.Styles.Muted, Placeholder: c.Styles.Muted, Prompt: c.Styles.Focused, Text: r.NewStyle(),
	}
	blurred := focused
	blurred.Prompt = c.Styles.Muted
	ta.FocusedStyle, ta.BlurredStyle = focused, blurred
	ta.Placeholder = safetext.SanitizeLines(placeholder)
	ta.CharLimit = charLimit
	ta.ShowLineNumbers = false
	ta.MaxHeight = 0 // the text may be long; the editor scrolls
	ta.SetValue(safetext.SanitizeLines(value))
	ta.Blur()
	return &TextArea{c: c, ta: ta, rows: 4}
}

// SetRows sets the height of the editor while it has the focus.
func (t *TextArea) SetRows(n int) { t.rows = max(n, 2) }

func (t *TextArea) Update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	t.ta, cmd = t.ta.Update(msg)
	return cmd
}

func (t *TextArea) Focus() tea.Cmd { return t.ta.Focus() }
func (t *TextArea) Blur()          { t.ta.Blur() }
func (t *TextArea) Value() string  { return t.ta.Value() }

// SetValue replaces the text.
func (t *TextArea) SetValue(v string) { t.ta.SetValue(safetext.SanitizeLines(v)) }

func (t *TextArea) View(width int, focused bool) (string, string) {
	st := t.c.Styles
	width = max(width-4, 16) // the form indents the block
	value := t.ta.Value()
	if focused {
		t.ta.SetWidth(width)
		t.ta.SetHeight(t.rows)
		inline := st.Muted.Render("enter: new line · tab: next field")
		block := t.ta.View()
		if t.Below != nil {
			if b := t.Below(width); b != "" {
				block += "\n" + b
			}
		}
		return inline, block
	}
	if strings.TrimSpace(value) == "" {
		return st.Muted.Render(t.Empty), ""
	}
	lines := strings.Split(value, "\n")
	var b strings.Builder
	for i, l := range lines[:min(len(lines), collapsedLines)] {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(st.Muted.Render("│ ") + ansi.Truncate(l, width-2, "…"))
	}
	inline := st.Muted.Render(plural.N(len(lines), "line", "lines"))
	if len(lines) > collapsedLines {
		inline += st.Muted.Render(" (" + plural.N(len(lines)-collapsedLines, "more line", "more lines") + " when focused)")
	}
	return inline, b.String()
}
