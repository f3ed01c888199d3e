package tui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/safetext"
)

// Choice is one answer of a confirmation: the key that picks it.
type Option struct {
	Key   string
	Label string
}

// Confirm asks before something destructive. The question names what will
// be lost; each option has its own key, and esc always cancels.
type Confirm struct {
	c       *Common
	Title   string
	Body    string
	Options []Option
}

// NewConfirm returns a confirmation with options (default: y yes).
func NewConfirm(c *Common, title, body string, options ...Option) *Confirm {
	if len(options) == 0 {
		options = []Option{{Key: "y", Label: "yes"}}
	}
	return &Confirm{c: c, Title: title, Body: body, Options: options}
}

// Update returns the key of the chosen option, "esc" for cancel, or "".
func (c *Confirm) Update(msg tea.Msg) string {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return ""
	}
	if km.String() == "esc" || km.String() == "n" {
		return "esc"
	}
	for _, o := range c.Options {
		if km.String() == o.Key {
			return o.Key
		}
	}
	return ""
}

// Keys for the help line.
func (c *Confirm) Keys() []key.Binding {
	var ks []key.Binding
	for _, o := range c.Options {
		ks = append(ks, Bind(o.Key, o.Label))
	}
	return append(ks, Bind("esc", "cancel"))
}

// View draws the question in a box.
func (c *Confirm) View() string {
	st := c.c.Styles
	var opts []string
	for _, o := range c.Options {
		opts = append(opts, st.Key.Render(o.Key)+" "+o.Label)
	}
	opts = append(opts, st.Key.Render("esc")+" cancel")
	// Questions name what they are about (an email, an org's name): data.
	body := st.Warning.Render(safetext.Sanitize(c.Title)) + "\n\n" + safetext.SanitizeLines(c.Body) + "\n\n" + strings.Join(opts, "   ")
	return st.Box.Width(max(min(c.c.Width-4, 80), 30)).Render(body)
}

// Notice shows something once, such as a generated password, until a key
// is pressed.
type Notice struct {
	c     *Common
	Title string
	Body  string
}

// NewNotice returns a notice.
func NewNotice(c *Common, title, body string) *Notice { return &Notice{c: c, Title: title, Body: body} }

// View draws the notice.
func (n *Notice) View() string {
	st := n.c.Styles
	return st.Box.Width(max(min(n.c.Width-4, 90), 30)).Render(st.Title.Render(safetext.Sanitize(n.Title)) + "\n\n" + safetext.SanitizeLines(n.Body) + "\n\n" + st.Muted.Render("press enter to close"))
}
