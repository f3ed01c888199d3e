// Package sshserver runs lamb's SSH server: public-key sign-in, the identity
// of each session, the TUI and the non-interactive commands.
package sshserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	"github.com/charmbracelet/wish/recover"
	gossh "golang.org/x/crypto/ssh"

	"lamb/service"
)

// Options configure the server.
type Options struct {
	// HostKey is the server's private key (OpenSSH PEM): the one every
	// instance of a deployment shares (service.SSHHostKey). When nil the
	// key is the file at HostKeyPath, made there if missing.
	HostKey     []byte
	HostKeyPath string
	Service     *service.Service
	Logger      *slog.Logger
	// IdleTimeout ends sessions with no traffic; 0 means 30 minutes.
	IdleTimeout time.Duration
	// HandshakeTimeout closes a connection on which no session started
	// (authentication, then a shell or a command) within it; 0 means 30 s,
	// room for a person typing their key's passphrase, which clients ask
	// for in the middle of authentication.
	HandshakeTimeout time.Duration
	// Stopping, when closed, ends every console session with a message
	// (call it before Shutdown, which then has no open consoles to wait
	// for). Nil: sessions just close with their connections.
	Stopping <-chan struct{}
}

// New returns the SSH server. Serve it with Serve(listener).
func New(opts Options) (*ssh.Server, error) {
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.HandshakeTimeout == 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	h := &handler{svc: opts.Service, log: opts.Logger, programs: map[*tea.Program]struct{}{}}
	h.tea = h.console()
	if opts.Stopping != nil {
		go func() {
			<-opts.Stopping
			h.goodbye()
		}()
	}
	hostKey := wish.WithHostKeyPath(opts.HostKeyPath)
	if opts.HostKey != nil {
		hostKey = wish.WithHostKeyPEM(opts.HostKey)
	}
	srv, err := wish.NewServer(
		hostKey,
		wish.WithVersion("lamb"),
		// Every key may complete authentication; who the session is gets
		// decided afterwards from the key that actually signed (see
		// handler.identify). Deciding here would trust keys that were only
		// offered, never proven.
		wish.WithPublicKeyAuth(func(ssh.Context, ssh.PublicKey) bool { return true }),
		wish.WithIdleTimeout(opts.IdleTimeout),
		func(s *ssh.Server) error {
			s.ConnCallback = func(ctx ssh.Context, conn net.Conn) net.Conn {
				return startHandshakeTimer(ctx, conn, opts.HandshakeTimeout)
			}
			return nil
		},
		wish.WithMiddleware(
			h.serve,
			h.logSession,
			h.admit, // before anything reads the command line or draws
			// Outermost: a panic ends this session only.
			recover.MiddlewareWithLogger(panicLogger{opts.Logger}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("create ssh server: %w", err)
	}
	return srv, nil
}

type handler struct {
	svc *service.Service
	log *slog.Logger
	tea ssh.Handler // the TUI, through wish's Bubble Tea middleware

	mu       sync.Mutex
	programs map[*tea.Program]struct{} // running consoles
	stopping atomic.Bool
}

// serve is the last middleware: it resolves who the session is and runs
// what they asked for: a command when one is given, the console otherwise.
func (h *handler) serve(next ssh.Handler) ssh.Handler {
	return func(s ssh.Session) {
		actor, err := h.identify(s)
		_, _, isPTY := s.Pty()
		switch {
		case errors.Is(err, service.ErrNotFound) && isPTY && len(s.Command()) == 0:
			h.runSignIn(s)
			return
		case errors.Is(err, service.ErrNotFound):
			if h.svc.ClaimOpen(s.Context()) {
				fatal(s, "This lamb server has no system admin yet. Connect with a terminal (ssh -t) and enter the claim code printed in the server's log (claim_code=…) to become its system admin.")
				return
			}
			fatal(s, "This SSH key is not linked to a lamb account. Connect with a terminal (ssh -t) to sign in with your email and password, or ask your organization's admin to add the key.")
			return
		case errors.Is(err, service.ErrDisabled):
			fatal(s, "Your lamb account is disabled. Ask your organization's admin to enable it.")
			return
		case errors.Is(err, service.ErrOrgSuspended):
			fatal(s, "Your organization is suspended on this lamb server. Contact the platform's administrators.")
			return
		case errors.Is(err, service.ErrUnavailable):
			h.log.Error("resolve ssh identity", "err", err)
			fatal(s, "The server can't reach its database; try again in a moment.")
			return
		case err != nil:
			h.log.Error("resolve ssh identity", "err", err)
			fatal(s, "Sign-in failed on the server side; try again in a moment.")
			return
		}
		if len(s.Command()) > 0 {
			s.Exit(h.runCommand(s, actor))
			return
		}
		h.runConsole(s, actor)
	}
}

// fatal prints one line to the session's stderr and ends it with status 1.
func fatal(s ssh.Session, msg string) {
	fmt.Fprintln(s.Stderr(), msg)
	s.Exit(1)
}

// identify returns the actor of the key that signed the session.
func (h *handler) identify(s ssh.Session) (service.Actor, error) {
	pk := s.PublicKey()
	if pk == nil {
		return service.Actor{}, service.ErrNotFound
	}
	return h.svc.ActorForSSHKey(s.Context(), gossh.FingerprintSHA256(pk))
}

// panicLogger hands wish's panic recovery the server's logger.
type panicLogger struct{ l *slog.Logger }

func (p panicLogger) Printf(format string, v ...any) {
	p.l.Error("panic in ssh session", "detail", fmt.Sprintf(format, v...))
}
