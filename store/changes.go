package store

import (
	"context"
	"fmt"
)

// ChangeCount reads the counter that every change to what the gateway
// caches moves (see migration 0006).
func (q *Queries) ChangeCount(ctx context.Context) (int64, error) {
	var n int64
	if err := q.r.QueryRowContext(ctx, `SELECT n FROM change_counter WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read change counter: %w", mapErr(err))
	}
	return n, nil
}

// OnCommit adds a function called after every committed write
// transaction, so that a change is seen by this process's caches at once.
func (s *Store) OnCommit(fn func(ctx context.Context)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.onCommit = append(s.onCommit[:len(s.onCommit):len(s.onCommit)], fn)
}

// committed runs the OnCommit functions.
func (s *Store) committed(ctx context.Context) {
	s.hooksMu.Lock()
	hooks := s.onCommit
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(ctx)
	}
}
