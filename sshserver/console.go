package sshserver

import (
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	bm "github.com/charmbracelet/wish/bubbletea"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
	"lamb/tui"
	"lamb/tui/console"
)

// sessionKey carries what runConsole decided into the Bubble Tea handler.
type sessionKey struct{}

type sessionInfo struct {
	actor    service.Actor
	signedIn bool
}

// console is the Bubble Tea middleware, built once: it handles the PTY,
// window resizes and the session's renderer.
func (h *handler) console() ssh.Handler {
	mw := bm.MiddlewareWithColorProfile(h.teaHandler, termenv.ANSI256)
	return mw(func(ssh.Session) {})
}

// runConsole shows the console of the actor's role.
func (h *handler) runConsole(s ssh.Session, actor service.Actor) {
	if _, _, ok := s.Pty(); !ok {
		fatal(s, "The lamb console needs a terminal: connect with ssh -t, or run a command such as `ssh -p PORT HOST whoami` (`help` lists them).")
		return
	}
	s.Context().SetValue(sessionKey{}, sessionInfo{actor: actor, signedIn: true})
	h.tea(s)
}

// runSignIn shows the sign-in screen to a key that no account has yet.
func (h *handler) runSignIn(s ssh.Session) {
	s.Context().SetValue(sessionKey{}, sessionInfo{})
	h.tea(s)
}

func (h *handler) teaHandler(s ssh.Session) (tea.Model, []tea.ProgramOption) {
	info, _ := s.Context().Value(sessionKey{}).(sessionInfo)
	pty, _, _ := s.Pty()
	c := &tui.Common{
		Ctx:    s.Context(),
		Svc:    h.svc,
		Actor:  info.actor,
		Styles: tui.NewStyles(newRenderer(s)),
		Width:  pty.Window.Width,
		Height: pty.Window.Height,
	}
	keyLine := ""
	if pk := s.PublicKey(); pk != nil {
		keyLine = strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))
	}
	return console.New(c, info.signedIn, keyLine), []tea.ProgramOption{tea.WithAltScreen()}
}

// newRenderer builds the session's renderer from its TERM and environment.
// It doesn't ask the terminal for its background color: a terminal that
// never answers would leave the session blank, and one that does costs a
// round trip before the first screen. Dark backgrounds are assumed.
func newRenderer(s ssh.Session) *lipgloss.Renderer {
	pty, _, _ := s.Pty()
	env := sessionEnv(append(s.Environ(), "TERM="+pty.Term))
	r := lipgloss.NewRenderer(s, termenv.WithEnvironment(env), termenv.WithUnsafe(), termenv.WithColorCache(true))
	if pty.Term == "" || pty.Term == "dumb" {
		r.SetColorProfile(termenv.Ascii)
	}
	r.SetHasDarkBackground(true)
	return r
}

// sessionEnv is the environment an SSH client sent, for termenv.
type sessionEnv []string

func (e sessionEnv) Environ() []string { return e }

func (e sessionEnv) Getenv(k string) string {
	for i := len(e) - 1; i >= 0; i-- { // the last value wins, as in a shell
		if v, ok := strings.CutPrefix(e[i], k+"="); ok {
			return v
		}
	}
	return ""
}
