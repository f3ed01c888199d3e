package tui

import (
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
	active   int
	status   string
	isErr    bool
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
	return &Shell{c: c, screens: screens, inited: make([]bool, len(screens)), spinner: sp, help: h}
}

// Common is the session state the shell's screens share; results of
// their service calls carry it (ResultOwner).
func (s *Shell) Common() *Common { return s.c }

// Capturing reports whether the active screen takes text input, so that
// keys around the shell (ctrl+b) are left to it.
func (s *Shell) Capturing() bool { return s.screens[s.active].Capturing() }

// Init starts the first screen.
func (s *Shell) Init() tea.Cmd {
	return s.activate(0)
}

// ShownMsg tells a screen it was switched to again, so it can refresh
// what may have changed elsewhere.
type ShownMsg struct{}

func (s *Shell) activate(i int) tea.Cmd {
	if i != s.active {
		s.status, s.isErr = "", false // a result belongs to the screen it came from
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
		s.status, s.isErr = safetext.Sanitize(msg.Text), msg.Err != nil
		if msg.Err != nil {
			s.status = ErrorText(msg.Err)
		}
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
		if !s.screens[s.active].Capturing() {
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
			case key.Matches(msg, KeyJump):
				if i := int(msg.String()[0] - '1'); i < len(s.screens) {
					return s, s.activate(i)
				}
				return s, nil
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
		if i < 9 {
			label = string(rune('1'+i)) + " " + label
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
// the short help: it shows the keys in columns of four.
func (s *Shell) helpExtra() int {
	if !s.fullHelp {
		return 0
	}
	return min(len(s.helpKeys()), 4) - 1
}

func (s *Shell) helpKeys() []key.Binding {
	keys := append([]key.Binding{}, s.screens[s.active].Keys()...)
	if !s.screens[s.active].Capturing() {
		keys = append(keys, KeyNext, KeyJump)
		keys = append(keys, s.Extra...)
		keys = append(keys, KeyHelp, KeyQuit)
	}
	return keys
}

type keyMap []key.Binding

func (k keyMap) ShortHelp() []key.Binding { return k }
func (k keyMap) FullHelp() [][]key.Binding {
	var cols [][]key.Binding
	for i := 0; i < len(k); i += 4 {
		cols = append(cols, k[i:min(i+4, len(k))])
	}
	return cols
}

// View draws the frame around the active screen.
func (s *Shell) View() string {
	st := s.c.Styles
	if s.ended != "" {
		// The empty last line is the one the renderer erases on exit.
		return st.Error.Render("✗ "+s.ended) + "\n"
	}
	w := max(s.c.Width, 20)
	a := s.c.Actor
	org := a.OrgSlug
	header := st.Brand.Render("lamb") + st.Muted.Render(" · ") + safetext.Sanitize(org) + st.Muted.Render(" · ") + safetext.Sanitize(a.Email) + " " + st.Role.Render("("+a.Role.String()+")")
	tabs := s.tabs(w)
	var b strings.Builder
	b.WriteString(st.Header.Render(header) + "\n")
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
	b.WriteString(fit(body, max(bodyHeight, 3)) + "\n")
	status := s.status
	switch {
	case s.c.Busy():
		status = s.spinner.View() + " working…"
	case s.isErr:
		status = st.Error.Render("✗ " + status)
	case status != "":
		status = st.Success.Render("✓ ") + status
	}
	b.WriteString(st.Status.Render(truncate(status, w-2)) + "\n")
	s.help.Width = w - 2
	s.help.ShowAll = s.fullHelp
	helpView := s.help.View(keyMap(s.helpKeys()))
	if s.fullHelp {
		helpView = s.c.Styles.R.NewStyle().PaddingLeft(1).Render(helpView)
	} else {
		helpView = truncate(" "+helpView, w-1) // the short help may overrun its width
	}
	b.WriteString(helpView)
	return b.String()
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
