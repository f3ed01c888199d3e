// Package service holds every rule of lamb: who may do what, to which
// organization's data, and how. It is transport-free: the TUI, the SSH
// commands and the HTTP API all call the same methods with an Actor.
package service

import (
	"context"
	"time"

	"github.com/charmbracelet/log"

	"lamb/secret"
	"lamb/store"
)

// Service is the application. It is safe for concurrent use.
type Service struct {
	st  *store.Store
	box *secret.Box
	log *log.Logger
	now func() time.Time
}

// New returns a Service over an open, migrated store. box seals secrets at
// rest; now is the clock (time.Now in production).
func New(st *store.Store, box *secret.Box, logger *log.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, box: box, log: logger, now: now}
}

// Healthy reports whether the database answers.
func (s *Service) Healthy(ctx context.Context) error {
	return s.st.Ping(ctx)
}
