package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/safetext"
)

// Detail shows one record in full: every field on its own line, long
// values wrapped to the width, scrolled with ↑/↓ when it is taller than
// the screen. A table cuts its cells; this is where they are read.
type Detail struct {
	c      *Common
	Title  string
	fields [][2]string
	top    int // first line shown
	width  int
	height int
}

// NewDetail returns a detail view of label/value pairs.
func NewDetail(c *Common, title string, labelValues ...string) *Detail {
	d := &Detail{c: c, Title: title, width: c.Width, height: c.Height}
	for i := 0; i+1 < len(labelValues); i += 2 {
		d.fields = append(d.fields, [2]string{labelValues[i], labelValues[i+1]})
	}
	return d
}

// SetSize fits the view into width × height cells.
func (d *Detail) SetSize(w, h int) { d.width, d.height = w, h }

// DetailKeys are the detail view's bindings for the help line.
var DetailKeys = []key.Binding{KeyUp, KeyDown, Bind("esc", "back")}

// Update scrolls; it reports back when esc (or enter) leaves the view.
func (d *Detail) Update(msg tea.Msg) (back bool) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return false
	}
	page := d.bodyHeight()
	last := max(len(d.lines())-page, 0) // the top line that shows the end
	switch {
	case km.String() == "esc" || km.String() == "enter" || km.String() == "backspace":
		return true
	case key.Matches(km, KeyUp):
		d.top = max(d.top-1, 0)
	case key.Matches(km, KeyDown):
		d.top = min(d.top+1, last)
	case key.Matches(km, KeyPgUp):
		d.top = max(d.top-page, 0)
	case key.Matches(km, KeyPgDown):
		d.top = min(d.top+page, last)
	case km.String() == "home" || km.String() == "g":
		d.top = 0
	case km.String() == "end" || km.String() == "G":
		d.top = last
	}
	return false
}

// bodyHeight is how many lines of fields show: the screen without the
// title and the position line.
func (d *Detail) bodyHeight() int { return max(d.height-2, 1) }

// labelCol is the width of the labels column.
func (d *Detail) labelCol() int {
	w := 0
	for _, f := range d.fields {
		w = max(w, ansi.StringWidth(f[0]))
	}
	return min(w, 16)
}

// lines are the fields drawn at the view's width, values wrapped under
// themselves.
func (d *Detail) lines() []string {
	st := d.c.Styles
	lc := d.labelCol()
	valueWidth := max(d.width-lc-4, 10)
	var out []string
	for _, f := range d.fields {
		label := st.Label.Render(pad(safetext.Sanitize(f[0]), lc))
		value := safetext.SanitizeLines(f[1])
		if value == "" {
			value = st.Muted.Render("—")
		}
		for i, l := range Wrap(value, valueWidth) {
			if i == 0 {
				out = append(out, " "+label+"  "+l)
			} else {
				out = append(out, " "+strings.Repeat(" ", lc)+"  "+l)
			}
		}
	}
	return out
}

// View draws the record from the scrolled line.
func (d *Detail) View() string {
	st := d.c.Styles
	lines := d.lines()
	body := d.bodyHeight()
	top := min(d.top, max(len(lines)-body, 0))
	end := min(top+body, len(lines))
	var b strings.Builder
	b.WriteString(" " + st.Title.Render(truncate(safetext.Sanitize(d.Title), d.width-2)) + "\n")
	for _, l := range lines[top:end] {
		b.WriteString(truncate(l, d.width) + "\n")
	}
	if len(lines) > body {
		b.WriteString(st.Muted.Render(fmt.Sprintf(" lines %d–%d of %d (↑/↓ scroll) · esc back", top+1, end, len(lines))))
	} else {
		b.WriteString(st.Muted.Render(" esc back"))
	}
	return b.String()
}
