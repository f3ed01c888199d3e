package sshserver

import (
	"fmt"
	"strings"
	"sync"
	"time"

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

// console is the Bubble Tea middleware, built once: it handles the PTY
// and window resizes; program makes each session's program.
func (h *handler) console() ssh.Handler {
	mw := bm.MiddlewareWithProgramHandler(h.program, termenv.ANSI256)
	return mw(func(ssh.Session) {})
}

// programKey holds a session's running program in its context.
type programKey struct{}

// program makes the session's Bubble Tea program and keeps it, so that a
// server shutdown can end it cleanly (see goodbye).
func (h *handler) program(s ssh.Session) *tea.Program {
	m, opts := h.teaHandler(s)
	// Signals are the server's to handle (goodbye): a session's program
	// that listened for SIGTERM itself raced goodbye's Quit, and when it
	// lost, its signal handler blocked the program's shutdown forever —
	// the restart then waited out its whole bound, and that console was
	// never told why it ended.
	opts = append(opts, tea.WithoutSignalHandler())
	p := tea.NewProgram(m, append(opts, bm.MakeOptions(s)...)...)
	h.mu.Lock()
	h.programs[p] = struct{}{}
	h.mu.Unlock()
	if h.stopping.Load() { // began as the server was stopping: goodbye may have missed it
		go p.Quit()
	}
	s.Context().SetValue(programKey{}, p)
	return p
}

// callsKey holds the session's running service calls.
type callsKey struct{}

// callsGrace bounds the wait for a session's service calls after its
// console ended (the console's own calls are bounded by 30 s).
const callsGrace = 30 * time.Second

// runTUI runs the session's program, lets the service calls it started
// finish (a write in flight when the server stops is not cut), then
// forgets it; a session ended by the server stopping is told so on its
// restored terminal.
func (h *handler) runTUI(s ssh.Session) {
	calls := &sync.WaitGroup{}
	s.Context().SetValue(callsKey{}, calls)
	h.tea(s)
	done := make(chan struct{})
	go func() { calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(callsGrace):
	}
	if p, ok := s.Context().Value(programKey{}).(*tea.Program); ok {
		h.mu.Lock()
		delete(h.programs, p)
		h.mu.Unlock()
	}
	if h.stopping.Load() {
		fmt.Fprint(s, "lamb is restarting; connect again in a moment.\r\n")
	}
}

// goodbye ends every console session: the server is stopping.
func (h *handler) goodbye() {
	h.stopping.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	for p := range h.programs {
		go p.Quit() // Quit waits for the program to take the message
	}
}

// runConsole shows the console of the actor's role.
func (h *handler) runConsole(s ssh.Session, actor service.Actor) {
	if _, _, ok := s.Pty(); !ok {
		fatal(s, "The lamb console needs a terminal: connect with ssh -t, or run a command such as `ssh -p PORT HOST whoami` (`help` lists them).")
		return
	}
	s.Context().SetValue(sessionKey{}, sessionInfo{actor: actor, signedIn: true})
	h.runTUI(s)
}

// runSignIn shows the sign-in screen to a key that no account has yet.
func (h *handler) runSignIn(s ssh.Session) {
	s.Context().SetValue(sessionKey{}, sessionInfo{})
	h.runTUI(s)
}

func (h *handler) teaHandler(s ssh.Session) (tea.Model, []tea.ProgramOption) {
	info, _ := s.Context().Value(sessionKey{}).(sessionInfo)
	pty, _, _ := s.Pty()
	calls, _ := s.Context().Value(callsKey{}).(*sync.WaitGroup)
	c := &tui.Common{
		Calls:  calls,
		Ctx:    s.Context(),
		Svc:    h.svc,
		Actor:  info.actor,
		Styles: tui.NewStyles(newRenderer(s)),
		Width:  pty.Window.Width,
		Height: pty.Window.Height,
	}
	if a := s.RemoteAddr(); a != nil {
		c.RemoteAddr = a.String()
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
