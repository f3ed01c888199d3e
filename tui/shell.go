package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"lamb/internal/safetext"
)

// Shell is the frame every role's console shares: a header naming the org,
// the user and the role, the screens as tabs, a status line with a spinner
// while service calls run, and help.
type Shell struct {
	c        *Common
	screens  []Screen
	inited   []bool
	jump     []string // the key that opens each screen ("" = none)
	active   int
	status   []status // each screen's last result, shown while it is active
	spinner  spinner.Model
	spinning bool
	help     help.Model
	fullHelp bool
	ended    string // why the session ended; the shell shows only this
	// Banner is shown under the header (e.g. "acting as admin of acme").
	Banner string
	// Extra are bindings of the console around the shell, shown in help.
	Extra []key.Binding
}

// NewShell returns a shell over the screens, the first one active.
func NewShell(c *Common, screens ...Screen) *Shell {
	sp := spinner.New(spinner.WithSpinner(spinner.MiniDot))
	sp.Style = c.Styles.Focused
	h := help.New()
	h.Styles.ShortKey = c.Styles.Key
	h.Styles.FullKey = c.Styles.Key
	h.Styles.ShortDesc = c.Styles.Muted
	h.Styles.FullDesc = c.Styles.Muted
	h.Styles.ShortSeparator = c.Styles.Muted
	h.Styles.FullSeparator = c.Styles.Muted
	sh := &Shell{c: c, screens: screens, inited: make([]bool, len(screens)), status: make([]status, len(screens)), spinner: sp, help: h}
	sh.jump = jumpKeys(screens)
	return sh
}

// status is a result on the status line.
type status struct {
	text  string
	isErr bool
}

// jumpKeys gives screens 1–9 and 0 in order, except those with a key of
// their own (Pinned).
func jumpKeys(screens []Screen) []string {
	keys := make([]string, len(screens))
	digits := "1234567890"
	for i, sc := range screens {
		if p, ok := sc.(Pinned); ok {
			keys[i] = p.JumpKey()
			continue
		}
		if digits != "" {
			keys[i], digits = digits[:1], digits[1:]
		}
	}
	return keys
}

// jumpTo returns the screen whose key is k, or -1.
func (s *Shell) jumpTo(k string) int {
	for i, j := range s.jump {
		if j != "" && j == k {
			return i
		}
	}
	return -1
}

// takesKeys reports whether the active screen takes every key: it takes
// text, or shows a dialog.
func (s *Shell) takesKeys() bool {
	sc := s.screens[s.active]
	if sc.Capturing() {
		return true
	}
	m, ok := sc.(Modal)
	return ok && m.Modal()
}

// Common is the session state the shell's screens share; results of
// their service calls carry it (ResultOwner).
func (s *Shell) Common() *Common { return s.c }

// Capturing reports whether the active screen takes text input or shows a
// dialog, so that keys around the shell (ctrl+b) are left to it.
func (s *Shell) Capturing() bool { return s.takesKeys() }

// Init starts the first screen.
func (s *Shell) Init() tea.Cmd {
	return s.activate(0)
}

// ShownMsg tells a screen it was switched to again, so it can refresh
// what may have changed elsewhere.
type ShownMsg struct{}

func (s *Shell) activate(i int) tea.Cmd {
	if i != s.active {
		// A result belongs to the screen it came from: leaving the screen
		// clears it, so that it isn't read as news on the next one.
		s.status[s.active] = status{}
	}
	s.active = i
	if s.inited[i] {
		var cmd tea.Cmd
		s.screens[i], cmd = s.screens[i].Update(ShownMsg{})
		return s.afterUpdate(cmd)
	}
	s.inited[i] = true
	s.layout()
	return s.afterUpdate(s.screens[i].Init())
}

// Update routes messages: keys to the shell or the active screen, results
// of service calls to every screen (each keeps only its own).
func (s *Shell) Update(msg tea.Msg) (*Shell, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		s.c.Width, s.c.Height = msg.Width, msg.Height
		s.layout()
		return s, nil
	case StatusMsg:
		st := status{text: safetext.Sanitize(msg.Text), isErr: msg.Err != nil}
		if msg.Err != nil {
			st.text = ErrorText(msg.Err)
		}
		// A result of a screen that is not showing (its call finished
		// after the user moved on) waits on that screen.
		i := s.active
		if msg.screen > 0 && msg.screen <= len(s.screens) {
			i = msg.screen - 1
		}
		s.status[i] = st
		return s, nil
	case spinner.TickMsg:
		if msg.ID != s.spinner.ID() {
			return s, nil // another shell's
		}
		if !s.c.Busy() {
			s.spinning = false
			return s, nil
		}
		var cmd tea.Cmd
		s.spinner, cmd = s.spinner.Update(msg)
		return s, cmd
	case resultMsg:
		msg.c.pending--
		if end, ok := msg.msg.(sessionEndedMsg); ok {
			// Leave the alternate screen first, so that the reason stays
			// on the terminal after the session closes.
			s.ended = "Session ended: " + endedText(end.err)
			return s, tea.Sequence(tea.ExitAltScreen, tea.Quit)
		}
		if msg.c != s.c {
			return s, nil // a result for a shell that was closed (ctrl+b)
		}
		var cmds []tea.Cmd
		for i, sc := range s.screens {
			if !s.inited[i] {
				continue
			}
			var cmd tea.Cmd
			s.screens[i], cmd = sc.Update(msg.msg)
			if i != s.active {
				cmd = forScreen(i, cmd)
			}
			cmds = append(cmds, cmd)
		}
		return s, s.afterUpdate(tea.Batch(cmds...))
	case tea.KeyMsg:
		if s.ended != "" {
			return s, nil
		}
		if msg.String() == "ctrl+c" {
			return s, tea.Quit
		}
		if !s.takesKeys() {
			switch {
			case key.Matches(msg, KeyQuit):
				return s, tea.Quit
			case key.Matches(msg, KeyHelp):
				s.fullHelp = !s.fullHelp
				s.layout()
				return s, nil
			case key.Matches(msg, KeyNext):
				return s, s.activate((s.active + 1) % len(s.screens))
			case key.Matches(msg, KeyPrev):
				return s, s.activate((s.active + len(s.screens) - 1) % len(s.screens))
			case s.jumpTo(msg.String()) >= 0:
				return s, s.activate(s.jumpTo(msg.String()))
			case key.Matches(msg, KeyJump):
				return s, nil // a number no screen has
			}
		}
	}
	var cmd tea.Cmd
	s.screens[s.active], cmd = s.screens[s.active].Update(msg)
	return s, s.afterUpdate(cmd)
}

// tabs renders the screen names that fit in width w, keeping the active
// one in view.
func (s *Shell) tabs(w int) []string {
	st := s.c.Styles
	all := make([]string, len(s.screens))
	for i, sc := range s.screens {
		label := sc.Title()
		if s.jump[i] != "" {
			label = s.jump[i] + " " + label
		}
		if i == s.active {
			all[i] = st.ActiveTab.Render(label)
		} else {
			all[i] = st.Tab.Render(label)
		}
	}
	from, to := 0, len(all)
	width := func() int { return lipgloss.Width(strings.Join(all[from:to], "")) + 2 }
	for width() > w && to-from > 1 {
		if to-1 > s.active {
			to--
		} else {
			from++
		}
	}
	out := all[from:to]
	if from > 0 {
		out = append([]string{st.Muted.Render("…")}, out...)
	}
	if to < len(all) {
		out = append(out, st.Muted.Render("…"))
	}
	return out
}

// afterUpdate starts the spinner when a screen started a service call.
func (s *Shell) afterUpdate(cmd tea.Cmd) tea.Cmd {
	if s.c.Busy() && !s.spinning {
		s.spinning = true
		return tea.Batch(cmd, s.spinner.Tick)
	}
	return cmd
}

// forScreen marks the status lines that cmd (what screen i answered to a
// result) produces as screen i's.
func forScreen(i int, cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg {
		switch msg := cmd().(type) {
		case StatusMsg:
			if msg.screen == 0 {
				msg.screen = i + 1
			}
			return msg
		case tea.BatchMsg:
			out := make(tea.BatchMsg, len(msg))
			for j, c := range msg {
				out[j] = forScreen(i, c)
			}
			return out
		default:
			return msg
		}
	}
}

const chromeLines = 4 // header, tabs, status, short help

func (s *Shell) layout() {
	h := s.c.Height - chromeLines - 1
	if s.Banner != "" {
		h--
	}
	h -= s.helpExtra()
	for _, sc := range s.screens {
		sc.SetSize(s.c.Width, max(h, 3))
	}
}

// helpExtra is how many lines the full help takes beyond the one line of
// the short help.
func (s *Shell) helpExtra() int {
	if !s.fullHelp {
		return 0
	}
	return s.helpRows() - 1
}

// helpRows is how many rows the full help's columns have: four, or more
// when columns of four would be wider than the terminal.
func (s *Shell) helpRows() int {
	keys := s.helpKeys()
	w := max(s.c.Width, 20) - 2
	for rows := 4; rows < len(keys); rows++ {
		if helpWidth(keys, rows) <= w {
			return rows
		}
	}
	return max(len(keys), 1)
}

// helpWidth is the width of the full help in columns of rows keys.
func helpWidth(keys []key.Binding, rows int) int {
	total := 0
	for i := 0; i < len(keys); i += rows {
		kw, dw := 0, 0
		for _, k := range keys[i:min(i+rows, len(keys))] {
			kw = max(kw, ansi.StringWidth(k.Help().Key))
			dw = max(dw, ansi.StringWidth(k.Help().Desc))
		}
		if total > 0 {
			total += 4 // the separator between columns
		}
		total += kw + 1 + dw
	}
	return total
}

func (s *Shell) helpKeys() []key.Binding {
	keys := append([]key.Binding{}, s.screens[s.active].Keys()...)
	if !s.takesKeys() {
		keys = append(keys, KeyNext, s.jumpHelp())
		for i, j := range s.jump {
			if j != "" && (j < "0" || j > "9") {
				keys = append(keys, Bind(j, strings.ToLower(s.screens[i].Title())))
			}
		}
		keys = append(keys, s.Extra...)
		keys = append(keys, KeyHelp, KeyQuit)
	}
	return keys
}

// jumpHelp says which numbers open screens: "1-4", "1-9", "1-9 0".
func (s *Shell) jumpHelp() key.Binding {
	n := 0
	for _, j := range s.jump {
		if j >= "0" && j <= "9" {
			n++
		}
	}
	label := fmt.Sprintf("1-%d", min(n, 9))
	if n > 9 {
		label = "1-9 0"
	}
	return key.NewBinding(key.WithKeys("1"), key.WithHelp(label, "go to screen"))
}

// keyMap is the help's bindings, in columns of rows for the full help.
type keyMap struct {
	keys []key.Binding
	rows int
}

func (k keyMap) ShortHelp() []key.Binding { return k.keys }
func (k keyMap) FullHelp() [][]key.Binding {
	var cols [][]key.Binding
	for i := 0; i < len(k.keys); i += k.rows {
		cols = append(cols, k.keys[i:min(i+k.rows, len(k.keys))])
	}
	return cols
}

// View draws the frame around the active screen.
func (s *Shell) View() string {
	st := s.c.Styles
	w := max(s.c.Width, 20)
	if s.ended != "" {
		// Wrapped: the renderer cuts a line at the terminal's edge, and
		// this one stays on the terminal after the session closes. The
		// empty last line is the one the renderer erases on exit.
		return st.Error.Render(strings.Join(Wrap("✗ "+s.ended, w-1), "\n")) + "\n"
	}
	a := s.c.Actor
	org := a.OrgSlug
	role := " " + st.Role.Render("("+a.Role.String()+")")
	// A long email gives way, so that the role stays in view.
	email := truncate(safetext.Sanitize(a.Email), max(w-2-lipgloss.Width("lamb · "+org+" · "+role), 8))
	header := st.Brand.Render("lamb") + st.Muted.Render(" · ") + safetext.Sanitize(org) + st.Muted.Render(" · ") + email + role
	tabs := s.tabs(w)
	var b strings.Builder
	b.WriteString(truncate(st.Header.Render(header), w) + "\n")
	if s.Banner != "" {
		b.WriteString(st.Warning.Render(truncate(" "+safetext.Sanitize(s.Banner), w)) + "\n")
	}
	b.WriteString(lipgloss.JoinHorizontal(lipgloss.Top, tabs...) + "\n")
	body := s.screens[s.active].View()
	bodyHeight := s.c.Height - chromeLines - 1
	if s.Banner != "" {
		bodyHeight--
	}
	bodyHeight -= s.helpExtra()
	status := s.statusLines(w-2, max(min(bodyHeight-3, 8), 1))
	// A long result takes lines from the bottom of the screen (mostly
	// empty) rather than being cut.
	bodyHeight -= len(status) - 1
	b.WriteString(fit(body, max(bodyHeight, 3)) + "\n")
	for _, l := range status {
		b.WriteString(st.Status.Render(l) + "\n")
	}
	s.help.Width = w - 2
	s.help.ShowAll = s.fullHelp
	helpView := s.help.View(keyMap{s.helpKeys(), s.helpRows()})
	if s.fullHelp {
		helpView = s.c.Styles.R.NewStyle().PaddingLeft(1).Render(helpView)
	} else {
		helpView = truncate(" "+helpView, w-1) // the short help may overrun its width
	}
	b.WriteString(helpView)
	return b.String()
}

// statusLines is the status line wrapped to w cells, in at most max
// lines (the last one cut if it must be).
func (s *Shell) statusLines(w, most int) []string {
	st := s.c.Styles
	cur := s.status[s.active]
	switch {
	case s.c.Busy():
		return []string{s.spinner.View() + " working…"}
	case cur.text == "":
		return []string{""}
	}
	lines := Wrap(cur.text, max(w-2, 10)) // after "✓ " or "✗ "
	if len(lines) > most {
		lines = lines[:most]
		lines[most-1] = truncate(lines[most-1]+" …", max(w-2, 10))
	}
	for i, l := range lines {
		mark := "  "
		if i == 0 {
			mark = "✓ "
			if cur.isErr {
				mark = "✗ "
			}
		}
		if cur.isErr {
			lines[i] = st.Error.Render(mark + l)
		} else if i == 0 {
			lines[i] = st.Success.Render(mark) + l
		} else {
			lines[i] = mark + l
		}
	}
	return lines
}

// fit pads or cuts text to exactly n lines.
func fit(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// truncate cuts a (possibly styled) line to w cells.
func truncate(s string, w int) string {
	if w <= 0 {
		return s
	}
	return ansi.Truncate(s, w, "…")
}
