package tui

import (
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Screen is one tab of the console.
type Screen interface {
	Title() string
	Init() tea.Cmd
	Update(tea.Msg) (Screen, tea.Cmd)
	View() string
	SetSize(width, height int)
	// Keys are the screen's bindings for the help line.
	Keys() []key.Binding
	// Capturing is true while the screen takes text input, so that the
	// shell leaves q, tab and digits to it.
	Capturing() bool
}

// Modal is a screen that may show a dialog (a confirmation, a notice)
// which takes every key until it is answered: the shell then leaves q,
// tab, digits and ? to it, and the help line shows only the dialog's keys.
type Modal interface {
	Modal() bool
}

// Pinned is a screen with a key of its own instead of a number (My account
// is m in every role's console, however many screens come before it).
type Pinned interface {
	JumpKey() string
}

// Keys of the shell.
var (
	KeyQuit    = key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit"))
	KeyHelp    = key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help"))
	KeyNext    = key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen"))
	KeyPrev    = key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen"))
	KeyJump    = key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9", "0"), key.WithHelp("1-9", "go to screen"))
	KeyBack    = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back"))
	KeyUp      = key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up"))
	KeyDown    = key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down"))
	KeyPgUp    = key.NewBinding(key.WithKeys("pgup", "left", "h"), key.WithHelp("←/pgup", "prev page"))
	KeyPgDown  = key.NewBinding(key.WithKeys("pgdown", "right", "l"), key.WithHelp("→/pgdn", "next page"))
	KeyFilter  = key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter"))
	KeyEnter   = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open"))
	KeyRefresh = key.NewBinding(key.WithKeys("r", "ctrl+r"), key.WithHelp("r", "refresh"))
)

// Bind returns a binding for one key with its help text.
func Bind(k, help string) key.Binding {
	return key.NewBinding(key.WithKeys(k), key.WithHelp(k, help))
}
