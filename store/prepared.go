package store

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite compiles a statement's SQL on every call unless it is prepared;
// the gateway's lookups and the usage writer's batches run the same few
// statements all day. Each pool keeps its statements prepared, once each.

// maxPrepared bounds the statements a pool keeps (queries are built from
// a fixed set of shapes; the bound only guards against a mistake).
const maxPrepared = 512

// stmtCache holds a pool's prepared statements by SQL text.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// lookup returns query's statement if it is prepared already.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// prepare returns query's statement, preparing it the first time; nil
// when it can't be kept (the caller then runs the SQL unprepared, which
// reports any error in it).
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	if st := c.lookup(query); st != nil {
		return st
	}
	c.mu.Lock()
	full := len(c.stmts) >= maxPrepared
	c.mu.Unlock()
	if full {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if have := c.stmts[query]; have != nil {
		st.Close()
		return have
	}
	c.stmts[query] = st
	return st
}

// pool runs queries on a pool through its prepared statements.
type pool struct{ c *stmtCache }

func (p pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, query, args...)
}

func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, query, args...)
}

func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, query, args...)
}

// txStmts runs a transaction's queries through the writer's prepared
// statements. A statement not prepared yet can't be prepared while the
// transaction holds the writer's only connection: it runs unprepared and
// is noted, and InTx prepares it once the connection is free again.
type txStmts struct {
	tx     *sql.Tx
	c      *stmtCache
	missed *[]string
}

func (t txStmts) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := t.c.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	*t.missed = append(*t.missed, query)
	return nil
}

func (t txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
