package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"lamb/internal/safetext"
)

// Column is a table column: the width it wants, whether it takes a share
// of the width left over (Flex), and how narrow a narrow terminal may make
// it (Min; flex columns go down to 8 unless Min says otherwise, other
// columns keep Width unless Min is set).
type Column struct {
	Title string
	Width int
	Flex  bool
	Min   int
}

// minWidth is how narrow c may get before columns are hidden.
func (c Column) minWidth() int {
	switch {
	case c.Min > 0:
		return min(c.Min, c.Width)
	case c.Flex:
		return min(8, c.Width)
	}
	return c.Width
}

// Page is what a list's fetch returns: the rows of one page, the item
// behind each row, and how many match in all.
type Page struct {
	Rows  [][]string
	Items []any
	Total int
}

// FetchFunc loads one page. Lists never load more than a page, so they stay
// fast with 100,000 rows.
type FetchFunc func(ctx context.Context, query string, offset, limit int) (Page, error)

// List is a paged table with a live "/" filter.
type List struct {
	c         *Common
	cols      []Column
	fetch     FetchFunc
	page      Page
	cursor    int
	offset    int
	limit     int
	query     string
	filter    textinput.Model
	filtering bool
	seq       int
	loaded    bool
	err       error
	width     int
	height    int
	// Empty is shown when nothing matches.
	Empty string
	// Note is shown in the footer: filters the screen applies besides the
	// typed one ("unused for 30 days").
	Note string
}

type listPageMsg struct {
	list *List
	seq  int
	page Page
	err  error
}

// NewList returns a list over fetch.
func NewList(c *Common, cols []Column, fetch FetchFunc) *List {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "type to filter"
	ti.CharLimit = 100
	return &List{c: c, cols: cols, fetch: fetch, filter: ti, limit: 10, Empty: "nothing here yet"}
}

// Load fetches the current page again.
func (l *List) Load() tea.Cmd {
	l.seq++
	seq, q, off, lim := l.seq, l.query, l.offset, l.limit
	return l.c.Do(func(ctx context.Context) tea.Msg {
		p, err := l.fetch(ctx, q, off, lim)
		return listPageMsg{list: l, seq: seq, page: p, err: err}
	})
}

// SetSize fits the list into width × height cells.
func (l *List) SetSize(w, h int) {
	l.width, l.height = w, h
	l.limit = max(h-3, 1) // header, footer, filter line
	// A page fetched for a taller screen is cut to fit until the next load.
	if len(l.page.Rows) > l.limit {
		l.page.Rows, l.page.Items = l.page.Rows[:l.limit], l.page.Items[:l.limit]
		l.cursor = min(l.cursor, l.limit-1)
	}
}

// Selected returns the item of the selected row, or nil.
func (l *List) Selected() any {
	if l.cursor < len(l.page.Items) {
		return l.page.Items[l.cursor]
	}
	return nil
}

// Filtering is true while the filter takes input.
func (l *List) Filtering() bool { return l.filtering }

// Keys of the list for the help line.
func (l *List) Keys() []key.Binding {
	if l.filtering {
		return []key.Binding{Bind("enter", "keep filter"), Bind("esc", "clear filter")}
	}
	return []key.Binding{KeyUp, KeyDown, KeyPgDown, KeyPgUp, KeyFilter, KeyRefresh}
}

// Update handles the list's keys and its page results. It reports whether
// it used msg.
func (l *List) Update(msg tea.Msg) (bool, tea.Cmd) {
	switch msg := msg.(type) {
	case ShownMsg:
		if l.loaded {
			return true, l.Load()
		}
		return true, nil
	case listPageMsg:
		if msg.list != l {
			return false, nil
		}
		if msg.seq != l.seq {
			return true, nil // a newer fetch is on its way
		}
		l.loaded, l.err = true, msg.err
		if msg.err == nil {
			l.page = msg.page
			if l.offset > 0 && l.offset >= l.page.Total {
				l.offset = max(0, l.page.Total-l.limit)
				return true, l.Load()
			}
		}
		l.cursor = min(l.cursor, max(len(l.page.Rows)-1, 0))
		return true, nil
	case tea.KeyMsg:
		if l.filtering {
			switch msg.String() {
			case "enter":
				l.filtering = false
				l.filter.Blur()
				return true, nil
			case "esc":
				l.filtering = false
				l.filter.Blur()
				l.filter.SetValue("")
				return true, l.setQuery("")
			}
			var cmd tea.Cmd
			l.filter, cmd = l.filter.Update(msg)
			if l.filter.Value() != l.query {
				return true, tea.Batch(cmd, l.setQuery(l.filter.Value()))
			}
			return true, cmd
		}
		switch {
		case key.Matches(msg, KeyUp):
			if l.cursor > 0 {
				l.cursor--
			} else if l.offset > 0 {
				l.offset = max(0, l.offset-l.limit)
				l.cursor = l.limit - 1
				return true, l.Load()
			}
			return true, nil
		case key.Matches(msg, KeyDown):
			if l.cursor < len(l.page.Rows)-1 {
				l.cursor++
			} else if l.offset+len(l.page.Rows) < l.page.Total {
				l.offset += l.limit
				l.cursor = 0
				return true, l.Load()
			}
			return true, nil
		case key.Matches(msg, KeyPgDown):
			if l.offset+l.limit < l.page.Total {
				l.offset += l.limit
				return true, l.Load()
			}
			l.cursor = max(len(l.page.Rows)-1, 0)
			return true, nil
		case key.Matches(msg, KeyPgUp):
			if l.offset > 0 {
				l.offset = max(0, l.offset-l.limit)
				return true, l.Load()
			}
			l.cursor = 0
			return true, nil
		case msg.String() == "home" || msg.String() == "g":
			l.cursor = 0
			if l.offset != 0 {
				l.offset = 0
				return true, l.Load()
			}
			return true, nil
		case msg.String() == "end" || msg.String() == "G":
			last := max(l.page.Total-1, 0)
			if off := last / l.limit * l.limit; off != l.offset {
				l.offset, l.cursor = off, last-off
				return true, l.Load()
			}
			l.cursor = max(len(l.page.Rows)-1, 0)
			return true, nil
		case key.Matches(msg, KeyFilter):
			l.filtering = true
			l.filter.SetValue(l.query)
			l.filter.CursorEnd()
			return true, l.filter.Focus()
		case key.Matches(msg, KeyRefresh):
			return true, l.Load()
		case msg.String() == "esc" && l.query != "":
			l.filter.SetValue("")
			return true, l.setQuery("")
		}
	}
	return false, nil
}

// Reset goes back to the first page and loads it: the screen changed
// what the list fetches (a filter of its own).
func (l *List) Reset() tea.Cmd {
	l.offset, l.cursor = 0, 0
	return l.Load()
}

func (l *List) setQuery(q string) tea.Cmd {
	l.query, l.offset, l.cursor = q, 0, 0
	return l.Load()
}

// View draws the table.
func (l *List) View() string {
	st := l.c.Styles
	widths := l.widths()
	var b strings.Builder
	b.WriteString(l.row(l.titles(), widths, st.TableHead) + "\n")
	switch {
	case l.err != nil:
		b.WriteString(st.Error.Render(" "+ErrorText(l.err)) + "  " + st.Muted.Render("(r to retry)") + "\n")
	case !l.loaded:
		b.WriteString(st.Muted.Render(" loading…") + "\n")
	case len(l.page.Rows) == 0 && l.query != "":
		b.WriteString(st.Muted.Render(fmt.Sprintf(" nothing matches %q (esc clears the filter)", l.query)) + "\n")
	case len(l.page.Rows) == 0:
		b.WriteString(st.Muted.Render(" "+l.Empty) + "\n")
	}
	for i, r := range l.page.Rows {
		style := st.Cell
		if i == l.cursor {
			style = st.Selected
		}
		b.WriteString(l.row(r, widths, style) + "\n")
	}
	for i := len(l.page.Rows); i < l.limit && l.loaded && len(l.page.Rows) > 0; i++ {
		b.WriteString("\n")
	}
	footer := ""
	if l.page.Total > 0 {
		footer = fmt.Sprintf("%d–%d of %d", l.offset+1, l.offset+len(l.page.Rows), l.page.Total)
	}
	if l.Note != "" {
		footer += "  " + safetext.Sanitize(l.Note)
	}
	if l.filtering {
		footer += "  " + l.filter.View()
	} else if l.query != "" {
		footer += "  filter: " + safetext.Sanitize(l.query)
	}
	if l.width > 0 && !l.filtering {
		footer = truncate(footer, l.width-2)
	}
	b.WriteString(st.Muted.Render(" " + footer))
	return b.String()
}

func (l *List) titles() []string {
	t := make([]string, len(l.cols))
	for i, c := range l.cols {
		t[i] = c.Title
	}
	return t
}

// widths fits the columns into the list's width: flex columns share what
// is left over; when the terminal is narrow, columns give up room down to
// their minimum, rightmost first (the first columns matter most, so an
// email keeps its room while a role or an org name is cut); if that is
// not enough, the rightmost columns are hidden (0).
func (l *List) widths() []int {
	w := make([]int, len(l.cols))
	used, flex := 1, 0
	for i, c := range l.cols {
		w[i] = c.Width
		used += c.Width + 2
		if c.Flex {
			flex++
		}
	}
	spare := l.width - used
	if spare > 0 && flex > 0 {
		for i, c := range l.cols {
			if c.Flex {
				w[i] += spare / flex
			}
		}
		return w
	}
	for i := len(l.cols) - 1; i >= 0 && spare < 0; i-- {
		if m := l.cols[i].minWidth(); w[i] > m {
			give := min(w[i]-m, -spare)
			w[i] -= give
			spare += give
		}
	}
	for i := len(w) - 1; i > 0 && spare < 0; i-- {
		spare += w[i] + 2
		w[i] = 0
	}
	return w
}

func (l *List) row(cells []string, widths []int, style lipgloss.Style) string {
	var b strings.Builder
	b.WriteString(" ")
	for i, w := range widths {
		if w == 0 {
			continue // hidden: the terminal is too narrow
		}
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		cell = truncate(safetext.Sanitize(cell), w) // cells hold data: drawn, never obeyed
		b.WriteString(cell + strings.Repeat(" ", max(w-lipgloss.Width(cell), 0)) + "  ")
	}
	return style.Render(strings.TrimRight(b.String(), " ") + strings.Repeat(" ", max(l.width-lipgloss.Width(b.String()), 0)))
}
