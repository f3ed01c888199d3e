package sshserver

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/charmbracelet/ssh"
)

// The largest terminal the console draws for. A client may claim any size
// (a 10000×10000 window made the sign-in screen lay out 100 MB frames,
// 1.2 GB per session, for keys no one knows); a larger window gets the
// console at this size.
const (
	maxWidth  = 500
	maxHeight = 200
)

// handshakeKey holds a connection's handshake timer in its context.
type handshakeKey struct{}

// startHandshakeTimer closes conn unless a session starts on it within d.
// Without it, a connection that never authenticates (or authenticates and
// opens nothing) holds a descriptor until the idle timeout: 400 half-open
// connections stayed 95 s, and enough of them take the server down.
// The idle timeout can't serve: every byte received pushes it back.
func startHandshakeTimer(ctx ssh.Context, conn net.Conn, d time.Duration) net.Conn {
	ctx.SetValue(handshakeKey{}, time.AfterFunc(d, func() { conn.Close() }))
	return conn
}

// admit is the outermost middleware of a session (inside recover): the
// session started, so the handshake timer stops; the command line is
// checked and split once, before anything else reads it; the terminal's
// size is clamped before anything draws.
func (h *handler) admit(next ssh.Handler) ssh.Handler {
	return func(s ssh.Session) {
		if t, ok := s.Context().Value(handshakeKey{}).(*time.Timer); ok {
			t.Stop()
		}
		raw := s.RawCommand()
		if len(raw) > maxCommandBytes {
			// Refused unsplit and unlogged: CPU amplification by a long
			// command line.
			h.log.Warn("refused a long command line", "remote-addr", s.RemoteAddr().String(), "bytes", len(raw))
			fmt.Fprintf(s.Stderr(), "error: the command line is %d KiB long; lamb takes at most %d KiB\n", len(raw)>>10, maxCommandBytes>>10)
			s.Exit(exitUsage)
			return
		}
		args, err := splitCommand(raw)
		if err != nil {
			fmt.Fprintf(s.Stderr(), "error: %v\n", err)
			s.Exit(exitUsage)
			return
		}
		g := &guardedSession{Session: s, args: args}
		g.pty, g.winch, g.isPty = s.Pty()
		if g.isPty {
			g.pty.Window = clampWindow(g.pty.Window)
			g.winch = clampWindows(s.Context(), g.winch)
		}
		next(g)
	}
}

// guardedSession is a session whose command line is split by
// splitCommand and whose terminal size is clamped.
type guardedSession struct {
	ssh.Session
	args  []string
	pty   ssh.Pty
	winch <-chan ssh.Window
	isPty bool
}

// Command returns the arguments split once by splitCommand; the library's
// own Command splits the line again, in quadratic time, at every call.
func (s *guardedSession) Command() []string { return append([]string(nil), s.args...) }

// Pty returns the terminal with its size clamped, and window changes
// clamped too.
func (s *guardedSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return s.pty, s.winch, s.isPty }

func clampWindow(w ssh.Window) ssh.Window {
	w.Width = min(max(w.Width, 0), maxWidth)
	w.Height = min(max(w.Height, 0), maxHeight)
	return w
}

// clampWindows passes window changes on, clamped, until in closes (the
// session ended) or ctx is done (the connection closed). The returned
// channel is never closed: a reader would take a closed channel for an
// endless stream of empty windows.
func clampWindows(ctx context.Context, in <-chan ssh.Window) <-chan ssh.Window {
	out := make(chan ssh.Window, 1)
	go func() {
		for {
			select {
			case w, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- clampWindow(w):
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// logSession logs each session's start and end. It stands in for wish's
// logging middleware, which split the command line itself (quadratic
// time, before anyone knew who the key was) and logged secrets given on
// it: this one logs the arguments admit split, with secrets redacted.
func (h *handler) logSession(next ssh.Handler) ssh.Handler {
	return func(s ssh.Session) {
		start := time.Now()
		pty, _, _ := s.Pty()
		user := short(s.User())
		h.log.Info("connect",
			"user", user,
			"remote-addr", s.RemoteAddr().String(),
			"public-key", s.PublicKey() != nil,
			"command", logLine(redactArgs(s.Command())),
			"term", short(pty.Term),
			"width", pty.Window.Width,
			"height", pty.Window.Height,
			"client-version", s.Context().ClientVersion(),
		)
		next(s)
		h.log.Info("disconnect",
			"user", user,
			"remote-addr", s.RemoteAddr().String(),
			"duration", time.Since(start),
		)
	}
}

// short cuts a string a client chose to a length fit for a log line.
func short(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
