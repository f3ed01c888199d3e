package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// Lock names a database-wide lock that lamb processes take around work
// only one of them may do at a time. On PostgreSQL each is an advisory
// lock ("lamb" in ASCII, then a number: apart from the migration lock).
type Lock int64

const (
	// LockBootstrap orders the start of instances: creating the system
	// organization, its bootstrap admins and the claim code.
	LockBootstrap Lock = 0x6c616d62<<32 | 1
	// LockRetention is held by the instance purging old usage events.
	LockRetention Lock = 0x6c616d62<<32 | 2
	// LockBudgetAlerts is held by the instance checking every org's
	// budgets for alerts.
	LockBudgetAlerts Lock = 0x6c616d62<<32 | 3
)

// lockWait bounds the wait for a lock another instance holds.
const lockWait = time.Minute

// Exclusive runs fn while holding l: processes that call it at the same
// moment run fn one after the other. On PostgreSQL l is a session
// advisory lock on a connection of its own, which the server releases if
// the process dies; fn does its work on other connections. On SQLite the
// database serves one process, whose single writer already runs one
// transaction at a time, so fn just runs.
func (s *Store) Exclusive(ctx context.Context, l Lock, fn func(ctx context.Context) error) error {
	if s.engine != EnginePostgres {
		return fn(ctx)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("take the database lock: %w", mapErr(err))
	}
	defer conn.Close()
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	_, err = conn.ExecContext(lctx, `SELECT pg_advisory_lock($1)`, int64(l))
	cancel()
	if err != nil {
		return fmt.Errorf("wait for the database lock (another lamb instance holds it; is one stuck starting?): %w", mapErr(err))
	}
	defer unlock(ctx, conn, l)
	return fn(ctx)
}

// TryExclusive runs fn only if no other process holds l, holding it
// meanwhile, and reports whether fn ran. On SQLite fn always runs (see
// Exclusive).
func (s *Store) TryExclusive(ctx context.Context, l Lock, fn func(ctx context.Context) error) (bool, error) {
	if s.engine != EnginePostgres {
		return true, fn(ctx)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("take the database lock: %w", mapErr(err))
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, int64(l)).Scan(&got); err != nil {
		return false, fmt.Errorf("take the database lock: %w", mapErr(err))
	}
	if !got {
		return false, nil
	}
	defer unlock(ctx, conn, l)
	return true, fn(ctx)
}

// unlock releases l held by conn's session. When that fails the
// connection is dropped rather than returned to the pool still holding
// it: the session's end releases the lock.
func unlock(ctx context.Context, conn *sql.Conn, l Lock) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, int64(l)); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
	}
}
