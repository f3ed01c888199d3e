package api

import (
	"net/http"
	"sync/atomic"
)

// Starting is the HTTP handler while lamb starts: it listens first, so
// that a load balancer's health check gets an answer, then migrates the
// database (which may wait for another instance's migrations) and
// prepares the rest. Until the full handler takes over, /healthz says
// that this instance is not ready and why, and every other request is
// refused with 503 service_unavailable.
type Starting struct {
	database string
	reason   atomic.Pointer[string]
}

// Reasons a starting instance is not ready.
const (
	ReasonMigrating = "database migrations are running"
	ReasonStarting  = "starting"
)

// NewStarting returns the handler of an instance starting on database
// (the engine's name, as /healthz names it), not ready for reason.
func NewStarting(database, reason string) *Starting {
	s := &Starting{database: database}
	s.SetReason(reason)
	return s
}

// SetReason says what the instance is doing now.
func (s *Starting) SetReason(reason string) { s.reason.Store(&reason) }

func (s *Starting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reason := *s.reason.Load()
	w.Header().Set("Retry-After", unavailableRetryAfter)
	if r.URL.Path == "/healthz" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "database": s.database, "reason": reason})
		return
	}
	writeError(w, http.StatusServiceUnavailable, "api_error", "service_unavailable",
		"lamb is starting ("+reason+"); retry in a moment")
}
