package service

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"lamb/config"
	"lamb/internal/plural"
	"lamb/store"
)

// Domain errors. Transports map them once: HTTP status codes in api, the
// status line in tui, stderr and the exit code in SSH commands.
var (
	ErrNotFound     = errors.New("not found")
	ErrForbidden    = errors.New("permission denied")
	ErrConflict     = errors.New("already exists")
	ErrInvalid      = errors.New("invalid input")
	ErrDisabled     = errors.New("account disabled")
	ErrOrgSuspended = errors.New("organization suspended")
	// ErrShuttingDown is the cause with which requests still running when
	// the server stops are cancelled.
	ErrShuttingDown = errors.New("the server is shutting down; retry in a moment")
	// Health: the database doesn't answer, or usage events can't be
	// stored (a full or failing disk).
	ErrDatabaseDown   = errors.New("database not answering")
	ErrUsageNotStored = errors.New("usage events can't be stored")
	// ErrBusy says every password-hashing slot is taken and the short
	// queue for them is full: the caller should retry in a moment.
	ErrBusy = errors.New("the server is busy; try again in a moment")
	// ErrUnavailable says the database can't be reached (stopped,
	// restarting, the network to it down), or didn't answer within the
	// bound on the lookups that decide who a session is. It is the store's
	// own error, so every failure of that kind matches it, however the
	// method that met it wrapped it; the transports answer it as such
	// (HTTP 503 service_unavailable, a status line in the console).
	ErrUnavailable = store.ErrUnavailable
	// ErrKnowledgeBase says an org's knowledge-base server failed (for an
	// admin's kb command; the gateway answers knowledge_base_unavailable).
	ErrKnowledgeBase = errors.New("knowledge base unavailable")
)

// InvalidError names the field of an input that is wrong and the rule it
// broke. errors.Is(err, ErrInvalid) holds for it.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// InvalidErrors are several invalid fields of one input, in order.
// errors.Is(err, ErrInvalid) holds for them.
type InvalidErrors []*InvalidError

func (e InvalidErrors) Error() string {
	parts := make([]string, len(e))
	for i, ie := range e {
		parts[i] = ie.Error()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e InvalidErrors) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// fromConfig turns a config validation error into an InvalidError.
func fromConfig(err error) error {
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return &InvalidError{Field: fe.Path, Message: fe.Message}
	}
	return err
}

// ForbiddenError refuses an action and says why, when the role alone
// doesn't (a member may create assistants, but not for someone else).
// errors.Is(err, ErrForbidden) holds.
type ForbiddenError struct{ Reason string }

func (e *ForbiddenError) Error() string { return "permission denied: " + e.Reason }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// conflictError says what already exists; errors.Is(err, ErrConflict) holds.
type conflictError struct{ msg string }

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Is(target error) bool { return target == ErrConflict }

func conflict(format string, args ...any) error {
	return &conflictError{fmt.Sprintf(format, args...)}
}

// notFoundError names what was not found; errors.Is(err, ErrNotFound) holds.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string        { return e.what + " not found" }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(format string, args ...any) error {
	return &notFoundError{fmt.Sprintf(format, args...)}
}

// storeErr maps a store error to the domain error of the same meaning,
// naming what was looked for.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s", what)
	case errors.Is(err, store.ErrConflict):
		return conflict("%s already exists", what)
	}
	return err
}

// ErrRateLimited matches every RetryLaterError.
var ErrRateLimited = errors.New("too many attempts")

// RetryLaterError refuses an attempt that came too often; it says what was
// limited and when to try again. errors.Is(err, ErrRateLimited) holds.
type RetryLaterError struct {
	What       string // e.g. "signup key changes"
	RetryAfter time.Duration
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("too many %s; try again in %s", e.What, waitText(e.RetryAfter))
}

// waitText says a wait as people read it: "40 seconds", "1 minute",
// "15 minutes" (rounded up).
func waitText(d time.Duration) string {
	secs := max(1, ceilSeconds(d))
	if secs < 60 {
		return plural.N(secs, "second", "seconds")
	}
	return plural.N((secs+59)/60, "minute", "minutes")
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RetryLaterError) Is(target error) bool { return target == ErrRateLimited }
