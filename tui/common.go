// Package tui holds the console's shared parts: the shell (header, screens,
// status line, help), tables, forms, confirmations, and the sign-in screen.
// Role screens live in sysadmin/, orgadmin/ and member/; console/ picks them
// for the actor that signed in.
package tui

import (
	"context"
	"errors"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"lamb/internal/safetext"
	"lamb/service"
)

// callTimeout bounds every service call made from the console.
const callTimeout = 30 * time.Second

// Common is what every screen shares: the session, the service, who is
// signed in, styles from the session's renderer, and the screen size.
type Common struct {
	Ctx    context.Context // the SSH session's context
	Svc    *service.Service
	Actor  service.Actor
	Styles *Styles
	Width  int
	Height int
	// RemoteAddr is the client's network address, for throttling sign-in
	// per source address.
	RemoteAddr string
	// Calls counts service calls running for the session, so that it can
	// let them finish (a write in flight when the server stops) before it
	// closes. Optional.
	Calls *sync.WaitGroup

	pending int // service calls in flight, for the spinner
}

// resultMsg carries the result of a service call made with Do, and the
// Common that made it (whose spinner count it settles).
type resultMsg struct {
	c   *Common
	msg tea.Msg
}

// sessionEndedMsg says the account behind the session changed (disabled,
// demoted, its key removed): the shell shows err and ends the session.
type sessionEndedMsg struct{ err error }

// Do runs fn as a tea.Cmd with the session context and a deadline. The
// shell shows a spinner while calls are in flight; the message fn returns
// is delivered to the screens.
//
// A console session resolves its actor once, at sign-in, and may stay open
// for days. Every call first checks that the actor still holds, so that
// disabling a user, demoting an admin or removing the key takes effect in
// sessions already open instead of at their next connection.
//
// A call that has started runs to its end (or its deadline) even if the
// session closes meanwhile, so that no write is cut in the middle.
func (c *Common) Do(fn func(ctx context.Context) tea.Msg) tea.Cmd {
	c.pending++
	parent, svc, actor, calls := c.Ctx, c.Svc, c.Actor, c.Calls
	if calls != nil {
		calls.Add(1)
	}
	return func() tea.Msg {
		if calls != nil {
			defer calls.Done()
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), callTimeout)
		defer cancel()
		if actor.Role != service.RoleNone { // the sign-in screen has no one to check yet
			err := svc.CheckActor(ctx, actor)
			if errors.Is(err, service.ErrSessionChanged) || errors.Is(err, service.ErrDisabled) || errors.Is(err, service.ErrOrgSuspended) {
				return resultMsg{c, sessionEndedMsg{err}}
			}
			// Another failure (the database busy, say) is not a reason to
			// end the session: the call runs and reports its own error.
		}
		return resultMsg{c, fn(ctx)}
	}
}

// ResultOwner returns the Common whose Do made msg, when msg is the result
// of a service call. The console routes each result to the shell that owns
// that Common, not to whichever shell is on top. A result that ends the
// session has no owner: whichever shell is showing says why and quits.
func ResultOwner(msg tea.Msg) (*Common, bool) {
	r, ok := msg.(resultMsg)
	if !ok {
		return nil, false
	}
	if _, ended := r.msg.(sessionEndedMsg); ended {
		return nil, false
	}
	return r.c, true
}

// Sub returns a Common for the same session acting as another actor
// ("open as org admin").
func (c *Common) Sub(a service.Actor) *Common {
	return &Common{Ctx: c.Ctx, Svc: c.Svc, Actor: a, Styles: c.Styles, Width: c.Width, Height: c.Height, RemoteAddr: c.RemoteAddr, Calls: c.Calls}
}

// Busy reports whether service calls are in flight.
func (c *Common) Busy() bool { return c.pending > 0 }

// StatusMsg sets the status line.
type StatusMsg struct {
	Text string
	Err  error

	screen int // the screen it belongs to, 1-based; 0 = the active one
}

// Status returns a command that shows text on the status line.
func Status(text string) tea.Cmd { return func() tea.Msg { return StatusMsg{Text: text} } }

// Error returns a command that shows err on the status line.
func Error(err error) tea.Cmd { return func() tea.Msg { return StatusMsg{Err: err} } }

// ErrorText turns a service error into one line that says what to do.
// Errors quote data (a name, a model a provider listed): the line is
// sanitized, like everything drawn from data.
func ErrorText(err error) string { return safetext.Sanitize(errorText(err)) }

func errorText(err error) string {
	var (
		te *service.ThrottledError
		fe *service.ForbiddenError
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, service.ErrUnavailable):
		// The cause (the database's address, the driver's words) is for
		// the log; lamb reconnects on its own.
		return service.ErrUnavailable.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "the server took too long to answer; try again"
	case errors.As(err, &fe):
		return fe.Error()
	case errors.Is(err, service.ErrForbidden):
		return "permission denied: your role can't do that"
	case errors.As(err, &te):
		return te.Error()
	}
	return err.Error()
}

// endedText says why a session ended and what to do about it.
func endedText(err error) string {
	switch {
	case errors.Is(err, service.ErrDisabled):
		return "your account was disabled; ask an admin of your organization to enable it, then connect again"
	case errors.Is(err, service.ErrOrgSuspended):
		return "your organization was suspended; contact the platform's administrators"
	}
	return ErrorText(err)
}

// FieldOf returns the field an error names (service.InvalidError), or "".
func FieldOf(err error) string {
	var ie *service.InvalidError
	if errors.As(err, &ie) {
		return ie.Field
	}
	return ""
}
